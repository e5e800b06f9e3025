"""Retention of personal data: purge what is older than the configured period.

    python -m privacy.retention purge [--older-than 30d] [--dry-run]
    python -m privacy.retention erase --conversation <id> [--dry-run]

``purge`` (run it daily from cron or a Kubernetes CronJob) removes, in every store the project
owns: conversations whose last message is older than the period (tracker store rows; a
conversation is removed whole), handoff requests older than it, expired insurer tokens, and
connector keys that would never expire. The period is ``--older-than`` or
``TUIBAO_RETENTION_DAYS`` (default 30). ``erase`` removes everything kept for one
conversation (a request made outside the chat). ``--dry-run`` prints the counts and changes
nothing. Stores come from the environment: ``TUIBAO_TRACKER_DB_URL``, ``TUIBAO_HANDOFF_DB_URL``,
``TUIBAO_CREDENTIALS_DB_URL`` (+ ``TUIBAO_CREDENTIALS_KEY``), ``WECHAT_DEDUPE_REDIS_URL`` and
``WECHAT_REDIS_PREFIX``. Exit status 0 when done, 1 when a store was unreachable, 2 on bad input.
"""
from __future__ import annotations

import argparse
import sys
from typing import List, Optional

from privacy.settings import PrivacySettings, RetentionSettingError, parse_period_days
from privacy.stores import ProjectStores


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m privacy.retention",
                                     description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    purge = commands.add_parser("purge", help="remove what is older than the retention period")
    purge.add_argument("--older-than", metavar="PERIOD",
                       help="30d, 12h, 90m or a number of days (default: TUIBAO_RETENTION_DAYS or 30)")
    purge.add_argument("--dry-run", action="store_true", help="count only, change nothing")
    erase = commands.add_parser("erase", help="remove everything kept for one conversation")
    erase.add_argument("--conversation", required=True, metavar="ID",
                       help="the conversation (sender) id: an openid, rest:<id>, telegram:<id>")
    erase.add_argument("--dry-run", action="store_true", help="count only, change nothing")
    args = parser.parse_args(argv)

    try:
        settings = PrivacySettings.from_env()
        days = parse_period_days(args.older_than) if getattr(args, "older_than", None) \
            else settings.retention_days
    except RetentionSettingError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    stores = ProjectStores(settings)
    if args.command == "purge":
        counts = stores.purge(days, dry_run=args.dry_run)
        verb = "would purge" if args.dry_run else "purged"
        print(f"{verb} data older than {days:g} days:")
    else:
        if not args.conversation.strip():
            print("error: --conversation must name a conversation", file=sys.stderr)
            return 2
        counts = (stores.inventory(args.conversation) if args.dry_run
                  else stores.erase(args.conversation))
        print(("would erase" if args.dry_run else "erased") + " for this conversation:")
    for line in counts.lines():
        print(f"  {line}")
    return 1 if counts.problems else 0


if __name__ == "__main__":
    sys.exit(main())
