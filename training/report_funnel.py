"""``tuibao report funnel``: the insurer's surrender funnel from the configured stores.

    tuibao report funnel [--since DATE] [--until DATE] [--insurer NAME] [--json | --html FILE]

Reads Rasa's SQL tracker store (``endpoints.yml``'s ``tracker_store``, SQLite in the demo,
PostgreSQL in production; ``--tracker-store URL`` overrides) and the handoff desk's store
(``TUIBAO_HANDOFF_DB_URL``). The steps are ``observability.funnel``'s (the same definition the
action server's ``tuibao_surrender_funnel_total`` counts by); dates are Asia/Shanghai days,
``--until`` included. The console's figures page calls ``funnel_figures`` too.
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
from collections import defaultdict
from pathlib import Path
from typing import Any, Dict, List, Optional

SHANGHAI = dt.timezone(dt.timedelta(hours=8))
EXIT_OK, EXIT_UNUSABLE = 0, 2


def day_start(text: Optional[str], *, next_day: bool = False) -> Optional[dt.datetime]:
    """``2026-11-25`` as the start of that day in Asia/Shanghai (or of the next one)."""
    if not text:
        return None
    try:
        day = dt.date.fromisoformat(text)
    except ValueError:
        raise ValueError(f"{text!r} is not a date like 2026-11-25") from None
    start = dt.datetime.combine(day, dt.time(), SHANGHAI)
    return start + dt.timedelta(days=1) if next_day else start


def read_conversations(store_url: str, since: Optional[float], until: Optional[float]
                       ) -> Dict[str, List[Dict[str, Any]]]:
    """Every event of each conversation whose first event falls in ``[since, until)``."""
    from sqlalchemy import MetaData, Table, create_engine, func, select

    engine = create_engine(store_url)
    try:
        events = Table("events", MetaData(), autoload_with=engine)
        first = select(events.c.sender_id).group_by(events.c.sender_id)
        if since is not None:
            first = first.having(func.min(events.c.timestamp) >= since)
        if until is not None:
            first = first.having(func.min(events.c.timestamp) < until)
        query = select(events.c.sender_id, events.c.data).where(
            events.c.sender_id.in_(first.scalar_subquery())).order_by(events.c.sender_id,
                                                                      events.c.id)
        conversations: Dict[str, List[Dict[str, Any]]] = defaultdict(list)
        with engine.connect() as connection:
            for sender_id, data in connection.execute(query):
                conversations[sender_id].append(json.loads(data))
        return conversations
    finally:
        engine.dispose()


def read_handoffs(handoff_url: str, since: Optional[dt.datetime], until: Optional[dt.datetime]
                  ) -> List[Dict[str, Any]]:
    from sqlalchemy import inspect, select

    from handoff.store import aware, engine_for, handoff_chats

    # The store writes UTC; SQLite keeps no zone, so the bounds go in as UTC too.
    since, until = (moment.astimezone(dt.timezone.utc) if moment else None
                    for moment in (since, until))
    engine = engine_for(handoff_url)
    try:
        if not inspect(engine).has_table(handoff_chats.name):
            return []
        query = select(handoff_chats.c.reason, handoff_chats.c.state,
                       handoff_chats.c.requested_at, handoff_chats.c.taken_at)
        if since is not None:
            query = query.where(handoff_chats.c.requested_at >= since)
        if until is not None:
            query = query.where(handoff_chats.c.requested_at < until)
        with engine.connect() as connection:
            return [{"reason": r.reason, "state": r.state, "requested_at": aware(r.requested_at),
                     "taken_at": aware(r.taken_at)} for r in connection.execute(query)]
    finally:
        engine.dispose()


def funnel_figures(store_url: str, handoff_url: Optional[str], *,
                   since: Optional[dt.datetime] = None, until: Optional[dt.datetime] = None,
                   insurer: Optional[str] = None, top: int = 10) -> Dict[str, Any]:
    """The report's figures (what ``--json`` prints)."""
    from insurers.registry import insurer_id_of
    from observability.funnel import conversation_report, handoff_report
    from redaction import redact

    conversations = read_conversations(store_url, since.timestamp() if since else None,
                                       until.timestamp() if until else None)
    figures = conversation_report(
        conversations, insurer_id_of, insurer=insurer, timezone=SHANGHAI, top=top,
        redact=lambda text: redact(text) or "")
    handoffs = read_handoffs(handoff_url, since, until) if handoff_url else []
    return {
        "since": since.date().isoformat() if since else None,
        "until": (until - dt.timedelta(days=1)).date().isoformat() if until else None,
        "insurer": insurer, "conversations": sum(d["conversations"] for d in figures["daily"]),
        **figures, "handoffs": handoff_report(handoffs),
    }


def add_parser(sub: Any) -> None:
    """``report funnel`` under the ``tuibao`` command (``training.cli``)."""
    report = sub.add_parser("report", help="figures for the insurer")
    report_sub = report.add_subparsers(dest="report_command", required=True, metavar="REPORT")
    funnel = report_sub.add_parser(
        "funnel", help="surrender funnel per insurer, where people stopped, handoffs, "
                       "messages not understood")
    funnel.add_argument("--since", help="first day (YYYY-MM-DD, Asia/Shanghai)")
    funnel.add_argument("--until", help="last day, included")
    funnel.add_argument("--insurer", help="one insurer's id (insurers.yml)")
    shape = funnel.add_mutually_exclusive_group()
    shape.add_argument("--json", action="store_true", help="print JSON")
    shape.add_argument("--html", type=Path, metavar="FILE", help="write an HTML page with charts")
    funnel.add_argument("--tracker-store", metavar="URL",
                        help="SQLAlchemy URL (default: endpoints.yml's tracker_store)")
    funnel.add_argument("--endpoints", type=Path, default=Path("endpoints.yml"))
    funnel.add_argument("--handoff-db", metavar="URL",
                        help="the handoff desk's database (default: $TUIBAO_HANDOFF_DB_URL)")
    funnel.set_defaults(func=cmd_report_funnel)


def cmd_report_funnel(args: argparse.Namespace) -> int:
    from handoff.settings import HandoffSettings
    from observability import report
    from training.review import tracker_store_url

    try:
        since, until = day_start(args.since), day_start(args.until, next_day=True)
        store_url = args.tracker_store or tracker_store_url(args.endpoints, args.project)
        handoff_url = args.handoff_db or HandoffSettings.from_env().db_url
        figures = funnel_figures(store_url, handoff_url, since=since, until=until,
                                 insurer=args.insurer)
    except Exception as error:  # a wrong date, no store, no table: say which, briefly
        print(f"tuibao report funnel: {type(error).__name__}: {error}", file=sys.stderr)
        return EXIT_UNUSABLE
    if args.json:
        print(json.dumps(figures, ensure_ascii=False, indent=2))
    elif args.html:
        path = args.html if args.html.is_absolute() else Path.cwd() / args.html
        path.write_text(report.render_html(figures), encoding="utf-8")
        print(f"wrote {path}")
    else:
        print(report.render_text(figures))
    return EXIT_OK
