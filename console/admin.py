"""Console accounts, from the command line (production has no default account):

    python -m console.admin create-user NAME --role agent|supervisor|trainer [--password-env VAR]
    python -m console.admin unlock NAME            # after too many failed sign-ins
    python -m console.admin unlock --source ADDR   # a client address locked the same way

The password is read from the environment variable named by ``--password-env`` or asked for
interactively, never taken as an argument (it would land in the shell history and ``ps``).
"""
from __future__ import annotations

import argparse
import getpass
import os
import sys

from console.auth import Authenticator, create_user
from handoff.settings import HandoffSettings
from handoff.store import HandoffStore, Role


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m console.admin")
    commands = parser.add_subparsers(dest="command", required=True)
    create = commands.add_parser("create-user", help="create or update an account")
    create.add_argument("username")
    create.add_argument("--role", required=True, choices=[r.value for r in Role])
    create.add_argument("--display-name")
    create.add_argument("--password-env", help="environment variable holding the password")
    unlock = commands.add_parser("unlock", help="let a locked name (or source address) sign in")
    unlock.add_argument("username", nargs="?")
    unlock.add_argument("--source", help="a client address locked by failed sign-ins")
    args = parser.parse_args(argv)

    if args.command == "unlock":
        if not (args.username or args.source):
            print("name a user or a --source address", file=sys.stderr)
            return 2
        store = HandoffStore(HandoffSettings.from_env().db_url)
        auth = Authenticator(store, session_ttl_s=1, max_failures=1, failure_window_s=1,
                             lockout_s=1)
        found = auth.unlock(args.username, args.source)
        store.audit("admin", "system", "unlock", None,
                    f"user:{args.username or '-'} source:{'yes' if args.source else '-'}")
        print(f"unlocked {args.username or args.source}" if found
              else f"{args.username or args.source} was not locked")
        return 0

    if args.password_env:
        password = os.environ.get(args.password_env)
        if not password:
            print(f"{args.password_env} is empty", file=sys.stderr)
            return 2
    else:
        password = getpass.getpass("password: ")
    store = HandoffStore(HandoffSettings.from_env().db_url)
    try:
        create_user(store, args.username, password, args.role, args.display_name)
    except ValueError as error:
        print(str(error), file=sys.stderr)
        return 2
    print(f"account {args.username} ({args.role}) ready")
    return 0


if __name__ == "__main__":
    sys.exit(main())
