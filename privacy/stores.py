"""Every store Tuibao owns, seen from one conversation (what is kept, erase it) and from the
calendar (purge what is older than the retention period).

Stores (docs/privacy.md says why each exists):
- the tracker store: Rasa's ``events`` table (messages redacted, slots masked);
- the handoff store (``handoff/store.py``): ``handoff_chats`` (reason, state, masked policy
  number, case number, the last user message redacted, the rating), ``handoff_turns`` (agents'
  replies and notes, redacted), ``handoff_feed`` (the consoles' change feed: conversation id,
  kind of change, time); its ``audit_log`` names a chat only by a keyed hash and is kept on
  erasure, purged after its own longer period (docs/privacy.md says why);
- the credentials store: ``holder_credentials`` (sealed insurer tokens, 30 minutes);
- the WeChat connector's delivery state in Redis: ``<prefix>:<kind>:<openid>[:<digest>]``
  (dedupe claims, rendered replies, late answers, push refusals; an hour to 48 hours by TTL).
Not ours: the insurer's own records (policy, identity checks, surrender cases) stay with the
insurer under its own retention; users are told so.

SQLAlchemy and redis-py here are synchronous; the action server calls the ``*_async`` forms.
"""
from __future__ import annotations

import asyncio
import datetime as dt
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Optional

from sqlalchemy import Column, Float, Integer, MetaData, String, Table, create_engine, delete, \
    func, inspect, select
from sqlalchemy.engine import Engine

from handoff.store import audit_log, chat_ref, engine_for as handoff_engine, handoff_chats, \
    handoff_feed, handoff_turns, purge_audit_before
from ground.redis_options import client as redis_client
from privacy.credentials import CredentialStore
from privacy.settings import PrivacySettings

_tracker_metadata = MetaData()
# The columns of Rasa's SQLTrackerStore table this module needs (Rasa owns the table).
tracker_events = Table(
    "events", _tracker_metadata,
    Column("id", Integer, primary_key=True),
    Column("sender_id", String(255)),
    Column("timestamp", Float),
)

_engines: Dict[str, Engine] = {}
_engines_lock = threading.Lock()
REDIS_TIMEOUT_S = 5.0


def _engine(url: str) -> Engine:
    with _engines_lock:
        engine = _engines.get(url)
        if engine is None:
            if url.startswith("sqlite:///"):
                Path(url[len("sqlite:///"):]).parent.mkdir(parents=True, exist_ok=True)
            engine = create_engine(url, pool_pre_ping=True, future=True)
            _engines[url] = engine
        return engine


def _has_table(engine: Engine, name: str) -> bool:
    return inspect(engine).has_table(name)


@dataclass
class StoreCounts:
    """How much one operation found (or removed) in each store; None: store not reachable."""

    tracker_events: Optional[int] = 0
    tracker_conversations: Optional[int] = 0
    handoff_chats: Optional[int] = 0
    handoff_turns: Optional[int] = 0
    handoff_feed: Optional[int] = 0
    # Audit entries naming the conversation (by keyed hash): kept on erasure; purge counts those
    # older than the audit's own period.
    audit_entries: Optional[int] = 0
    credentials: Optional[int] = 0
    connector_keys: Optional[int] = 0
    problems: List[str] = field(default_factory=list)

    def lines(self) -> List[str]:
        def show(value: Optional[int]) -> str:
            return "unreachable" if value is None else str(value)
        return [
            f"tracker store: {show(self.tracker_conversations)} conversations, "
            f"{show(self.tracker_events)} events",
            f"handoff store: {show(self.handoff_chats)} handoffs, "
            f"{show(self.handoff_turns)} agent turns, {show(self.handoff_feed)} feed events",
            f"audit log: {show(self.audit_entries)} entries",
            f"credentials store: {show(self.credentials)} tokens",
            f"connector state: {show(self.connector_keys)} keys",
        ] + [f"problem: {problem}" for problem in self.problems]


class ProjectStores:
    """The stores named by ``PrivacySettings``."""

    def __init__(self, settings: PrivacySettings) -> None:
        self.settings = settings
        self.credentials = CredentialStore(settings.credentials_db_url, settings.credentials_key,
                                           settings.credentials_previous_key)

    # ---------------------------------------------------------------- tracker store
    def _tracker(self) -> Optional[Engine]:
        engine = _engine(self.settings.tracker_db_url)
        return engine if _has_table(engine, "events") else None

    def tracker_event_count(self, conversation_id: str) -> int:
        engine = self._tracker()
        if engine is None:
            return 0
        with engine.connect() as conn:
            return int(conn.execute(select(func.count()).select_from(tracker_events).where(
                tracker_events.c.sender_id == conversation_id)).scalar_one())

    def erase_tracker(self, conversation_id: str) -> int:
        engine = self._tracker()
        if engine is None:
            return 0
        with engine.begin() as conn:
            return conn.execute(delete(tracker_events).where(
                tracker_events.c.sender_id == conversation_id)).rowcount

    def _stale_conversations(self, conn, cutoff: dt.datetime) -> List[str]:
        newest = func.max(tracker_events.c.timestamp)
        query = (select(tracker_events.c.sender_id).group_by(tracker_events.c.sender_id)
                 .having(newest < cutoff.timestamp()))
        return [row[0] for row in conn.execute(query)]

    # ---------------------------------------------------------------- handoff store
    def _handoff(self) -> Optional[Engine]:
        engine = _engine(self.settings.handoff_db_url)
        if not _has_table(engine, handoff_chats.name):
            return None  # the desk never ran here
        return handoff_engine(self.settings.handoff_db_url)  # its tables and triggers, ensured

    def _handoff_counts(self, conversation_id: str, counts: StoreCounts) -> None:
        engine = self._handoff()
        if engine is None:
            counts.handoff_chats = counts.handoff_turns = counts.handoff_feed = 0
            counts.audit_entries = 0
            return
        with engine.connect() as conn:
            def rows(table, where) -> int:
                return int(conn.execute(select(func.count()).select_from(table).where(where))
                           .scalar_one())
            counts.handoff_chats = rows(handoff_chats,
                                        handoff_chats.c.conversation_id == conversation_id)
            counts.handoff_turns = rows(handoff_turns,
                                        handoff_turns.c.conversation_id == conversation_id)
            counts.handoff_feed = rows(handoff_feed,
                                       handoff_feed.c.conversation_id == conversation_id)
            counts.audit_entries = rows(audit_log,
                                        audit_log.c.chat_ref == chat_ref(conversation_id))

    def erase_handoff(self, conversation_id: str, counts: StoreCounts) -> None:
        """Every handoff row of the conversation; the audit entries stay (keyed hash only)."""
        engine = self._handoff()
        if engine is None:
            counts.handoff_chats = counts.handoff_turns = counts.handoff_feed = 0
            counts.audit_entries = 0
            return
        with engine.begin() as conn:
            counts.handoff_turns = conn.execute(delete(handoff_turns).where(
                handoff_turns.c.conversation_id == conversation_id)).rowcount
            counts.handoff_chats = conn.execute(delete(handoff_chats).where(
                handoff_chats.c.conversation_id == conversation_id)).rowcount
            counts.handoff_feed = conn.execute(delete(handoff_feed).where(
                handoff_feed.c.conversation_id == conversation_id)).rowcount
        counts.audit_entries = 0  # none removed: see docs/privacy.md, "The audit log"

    def _purge_handoff(self, cutoff: dt.datetime, audit_cutoff: dt.datetime, dry_run: bool,
                       counts: StoreCounts) -> None:
        """Handoffs whose last activity (request, close, last agent turn) is older than the
        cutoff, whole with their turns; feed events older than it; audit rows older than the
        audit's own cutoff."""
        engine = self._handoff()
        if engine is None:
            return
        recent_turn = select(handoff_turns.c.id).where(
            (handoff_turns.c.handoff_id == handoff_chats.c.id) & (handoff_turns.c.at >= cutoff))
        stale_query = select(handoff_chats.c.id).where(
            (func.coalesce(handoff_chats.c.closed_at, handoff_chats.c.taken_at,
                           handoff_chats.c.requested_at) < cutoff)
            & (handoff_chats.c.requested_at < cutoff) & ~recent_turn.exists())
        old_feed = handoff_feed.c.at < cutoff
        with engine.begin() as conn:
            stale = [row[0] for row in conn.execute(stale_query)]
            counts.handoff_chats = len(stale)
            counts.handoff_turns = 0
            for start in range(0, len(stale), 500):  # bounded IN lists
                part = stale[start:start + 500]
                in_part = handoff_turns.c.handoff_id.in_(part)
                if dry_run:
                    counts.handoff_turns += int(conn.execute(
                        select(func.count()).select_from(handoff_turns).where(in_part))
                        .scalar_one())
                else:
                    counts.handoff_turns += conn.execute(delete(handoff_turns).where(in_part)).rowcount
                    conn.execute(delete(handoff_chats).where(handoff_chats.c.id.in_(part)))
            counts.handoff_feed = (int(conn.execute(select(func.count()).select_from(handoff_feed)
                                                    .where(old_feed)).scalar_one())
                                   if dry_run else conn.execute(delete(handoff_feed).where(old_feed)).rowcount)
        counts.audit_entries = purge_audit_before(engine, audit_cutoff, dry_run=dry_run)

    # ---------------------------------------------------------------- connector state
    def _redis(self):
        if not self.settings.redis_url:
            return None
        return redis_client(self.settings.redis_url, socket_timeout=REDIS_TIMEOUT_S,
                            socket_connect_timeout=REDIS_TIMEOUT_S)

    def connector_keys(self, conversation_id: str) -> List[str]:
        """The connector's Redis keys naming this user (``<prefix>:<kind>:<openid>…``)."""
        client = self._redis()
        if client is None:
            return []
        prefix = self.settings.redis_prefix
        escaped = "".join("\\" + c if c in "*?[]\\" else c for c in conversation_id)
        try:
            found = []
            for raw in client.scan_iter(match=f"{prefix}:*{escaped}*", count=500):
                key = raw.decode() if isinstance(raw, bytes) else raw
                if conversation_id in key[len(prefix) + 1:].split(":"):
                    found.append(key)
            return found
        finally:
            client.close()

    def erase_connector(self, conversation_id: str) -> int:
        keys = self.connector_keys(conversation_id)
        if not keys:
            return 0
        client = self._redis()
        try:
            return int(client.delete(*keys))
        finally:
            client.close()

    def _connector_keys_without_expiry(self) -> List[str]:
        client = self._redis()
        if client is None:
            return []
        try:
            return [raw.decode() if isinstance(raw, bytes) else raw
                    for raw in client.scan_iter(match=f"{self.settings.redis_prefix}:*", count=500)
                    if client.ttl(raw) == -1]
        finally:
            client.close()

    # ---------------------------------------------------------------- one conversation
    def inventory(self, conversation_id: str) -> StoreCounts:
        """What the project's stores hold for this conversation (nothing is changed)."""
        counts = StoreCounts()
        counts.tracker_events = self.tracker_event_count(conversation_id)
        counts.tracker_conversations = 1 if counts.tracker_events else 0
        self._handoff_counts(conversation_id, counts)
        counts.credentials = 1 if self.credentials.get(conversation_id) else 0
        counts.connector_keys = self._guarded(counts, "connector state",
                                              lambda: len(self.connector_keys(conversation_id)))
        return counts

    def erase(self, conversation_id: str, *, tracker: bool = True) -> StoreCounts:
        """Remove everything the project keeps for this conversation; what went.

        ``tracker=False`` leaves the tracker rows to Rasa's tracker store (the conversation is
        running: ``bot.tracker_store`` erases them when it saves the turn that asked)."""
        counts = StoreCounts()
        counts.tracker_events = self.erase_tracker(conversation_id) if tracker else 0
        counts.tracker_conversations = 1 if counts.tracker_events else 0
        self.erase_handoff(conversation_id, counts)
        counts.credentials = self.credentials.delete(conversation_id)
        counts.connector_keys = self._guarded(counts, "connector state",
                                              lambda: self.erase_connector(conversation_id))
        return counts

    async def inventory_async(self, conversation_id: str) -> StoreCounts:
        return await asyncio.get_running_loop().run_in_executor(None, self.inventory, conversation_id)

    async def erase_async(self, conversation_id: str, *, tracker: bool = True) -> StoreCounts:
        return await asyncio.get_running_loop().run_in_executor(
            None, lambda: self.erase(conversation_id, tracker=tracker))

    @staticmethod
    def _guarded(counts: StoreCounts, name: str, work) -> Optional[int]:
        try:
            return work()
        except Exception as error:  # Redis down: say so, the other stores still count
            counts.problems.append(f"{name}: {type(error).__name__}")
            return None

    # ---------------------------------------------------------------- retention
    def purge(self, older_than_days: float, *, dry_run: bool = False,
              now: Optional[dt.datetime] = None) -> StoreCounts:
        """Remove conversations whose last event is older than the period (whole
        conversations, never half of one), handoffs whose last activity is older than it (with
        their agent turns), audit entries older than the audit's own period (never shorter
        than the general one), expired tokens and connector keys that would never expire.
        ``dry_run`` only counts."""
        now = now or dt.datetime.now(dt.timezone.utc)
        cutoff = now - dt.timedelta(days=older_than_days)
        counts = StoreCounts()

        engine = self._tracker()
        if engine is not None:
            with engine.begin() as conn:
                stale = self._stale_conversations(conn, cutoff)
                where = tracker_events.c.sender_id.in_(stale)
                if dry_run or not stale:
                    counts.tracker_events = int(conn.execute(
                        select(func.count()).select_from(tracker_events).where(where)).scalar_one()) \
                        if stale else 0
                else:
                    counts.tracker_events = 0
                    for start in range(0, len(stale), 500):  # bounded IN lists
                        counts.tracker_events += conn.execute(delete(tracker_events).where(
                            tracker_events.c.sender_id.in_(stale[start:start + 500]))).rowcount
                counts.tracker_conversations = len(stale)

        audit_cutoff = now - dt.timedelta(days=max(self.settings.audit_retention_days,
                                                   older_than_days))
        self._purge_handoff(cutoff, audit_cutoff, dry_run, counts)

        counts.credentials = (self.credentials.count_expired(now) if dry_run
                              else self.credentials.purge_expired(now))

        def connector() -> int:
            keys = self._connector_keys_without_expiry()
            if dry_run or not keys:
                return len(keys)
            client = self._redis()
            try:
                return int(client.delete(*keys))
            finally:
                client.close()

        counts.connector_keys = self._guarded(counts, "connector state", connector)
        return counts


_stores: Dict[PrivacySettings, ProjectStores] = {}
_stores_lock = threading.Lock()


def project_stores(settings: Optional[PrivacySettings] = None) -> ProjectStores:
    """The stores of the current settings (built on first use, not at import)."""
    settings = settings or PrivacySettings.from_env()
    with _stores_lock:
        stores = _stores.get(settings)
        if stores is None:
            stores = _stores[settings] = ProjectStores(settings)
        return stores
