"""The handoff desk's state in SQL (SQLAlchemy: SQLite in the demo, PostgreSQL in production).

Tables:
- ``handoff_chats``: one row per handoff of a conversation (waiting → taken → closed); at most
  one open row per conversation (a partial unique index), so asking again never files a second.
- ``handoff_turns``: what agents wrote (replies delivered to the user, internal notes), masked.
- ``handoff_feed``: an append-only change feed every console polls for live updates, so any
  number of consoles behind a load balancer see the same queue (they keep no state).
- ``audit_log``: every agent's and supervisor's access to a chat; triggers refuse UPDATE and
  DELETE on both SQLite and PostgreSQL. A chat is named there by a keyed hash of its
  conversation id (:func:`chat_ref`), never by the openid itself, so the rows can outlive the
  user's erasure (docs/privacy.md); only the retention purge removes old rows
  (:func:`purge_audit_before`).
- ``console_users``, ``console_sessions``, ``sign_in_failures``: the console's accounts
  (argon2 hashes), server-side sessions (only hashes of the tokens), and brute-force lockout.
- ``desk_presence``: when each agent's console last had its live page open (its event stream
  refreshes the row), so the bot can tell a user after hours that a person is there after all.

Only masked data is written: policy numbers masked, free text through ``redaction``.
SQLAlchemy here is synchronous; async callers use :func:`run_sync`.
"""
from __future__ import annotations

import asyncio
import datetime as dt
import enum
import hashlib
import hmac
import os
import re
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, TypeVar

from sqlalchemy import (
    Boolean, Column, DateTime, Index, Integer, MetaData, String, Table, Text, and_, create_engine,
    event, func, select, text,
)
from sqlalchemy.engine import Engine

from ground.conversation_ids import channel_of
from observability import metrics
from redaction import redact

T = TypeVar("T")
metadata = MetaData()


class ChatState(str, enum.Enum):
    """Where a handoff stands."""

    WAITING = "waiting"  # in the queue, the bot still answers
    TAKEN = "taken"  # an agent has it, the bot is paused
    CLOSED = "closed"  # handed back or closed


class Role(str, enum.Enum):
    AGENT = "agent"
    SUPERVISOR = "supervisor"
    TRAINER = "trainer"


# The roles that answer users (a trainer does not).
DESK_ROLES = (Role.AGENT.value, Role.SUPERVISOR.value)


# Why a person is needed (``utter_handoff_<reason>`` tells the user).
HANDOFF_REASONS = (
    "user_request", "complaint", "misunderstood", "identity_locked", "insurer_unavailable",
)
OPEN_STATES = (ChatState.WAITING.value, ChatState.TAKEN.value)
# The conversation ids the console can name in its URLs and in Rasa's API (WeChat openids,
# ``telegram:<id>``, ``rest:<sender>`` of plain senders). Another id (a REST sender with
# spaces, slashes, ``#``, ``?``, ``%`` or Chinese) is refused at the queue, so the user is
# told to call instead of waiting for a chat nobody could open.
CHAT_ID = re.compile(r"^[A-Za-z0-9_:.@-]{1,160}$")


class UnaddressableConversation(ValueError):
    """A conversation id the console could not open: never queued."""

handoff_chats = Table(
    "handoff_chats", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("conversation_id", String(160), nullable=False, index=True),
    Column("channel", String(16), nullable=False),
    Column("reason", String(32), nullable=False),
    Column("state", String(16), nullable=False),
    Column("policy_number_masked", String(32)),
    Column("case_number", String(32)),
    Column("last_user_message", String(500)),
    Column("requested_at", DateTime(timezone=True), nullable=False),
    Column("assignee", String(64)),
    Column("taken_at", DateTime(timezone=True)),
    Column("closed_at", DateTime(timezone=True)),
    Column("outcome", String(16)),  # handback | closed
    Column("unattended_notified_at", DateTime(timezone=True)),
    Column("rating", String(16)),
)
# One open handoff per conversation, enforced by the database itself.
Index("one_open_handoff_per_conversation", handoff_chats.c.conversation_id, unique=True,
      sqlite_where=handoff_chats.c.state.in_(OPEN_STATES),
      postgresql_where=handoff_chats.c.state.in_(OPEN_STATES))

handoff_turns = Table(
    "handoff_turns", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("handoff_id", Integer, nullable=False, index=True),
    Column("conversation_id", String(160), nullable=False, index=True),
    Column("author", String(64), nullable=False),
    Column("kind", String(8), nullable=False),  # reply | note
    Column("text", Text, nullable=False),
    Column("delivered", Boolean, nullable=False, default=False),
    Column("delivery_error", String(200)),
    Column("at", DateTime(timezone=True), nullable=False),
)

handoff_feed = Table(
    "handoff_feed", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("conversation_id", String(160), nullable=False),
    Column("kind", String(24), nullable=False),
    Column("at", DateTime(timezone=True), nullable=False),
)

audit_log = Table(
    "audit_log", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("at", DateTime(timezone=True), nullable=False),
    Column("actor", String(64), nullable=False),
    Column("role", String(16), nullable=False),
    Column("chat_ref", String(64), index=True),  # chat_ref(conversation id), not the id
    Column("action", String(32), nullable=False),
    Column("detail", String(200)),
)

console_users = Table(
    "console_users", metadata,
    Column("username", String(64), primary_key=True),
    Column("role", String(16), nullable=False),
    Column("password_hash", String(200), nullable=False),
    Column("display_name", String(64)),
    Column("created_at", DateTime(timezone=True), nullable=False),
)

console_sessions = Table(
    "console_sessions", metadata,
    Column("token_hash", String(64), primary_key=True),
    Column("username", String(64), nullable=False, index=True),
    Column("csrf_token", String(64), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("expires_at", DateTime(timezone=True), nullable=False),
)

desk_presence = Table(
    "desk_presence", metadata,
    Column("username", String(64), primary_key=True),
    Column("role", String(16), nullable=False),
    Column("last_seen", DateTime(timezone=True), nullable=False, index=True),
)

sign_in_failures = Table(
    "sign_in_failures", metadata,
    Column("username", String(64), primary_key=True),
    Column("failures", Integer, nullable=False),
    Column("first_failure_at", DateTime(timezone=True), nullable=False),
    Column("locked_until", DateTime(timezone=True)),
)

_APPEND_ONLY_SQLITE = [
    "CREATE TRIGGER IF NOT EXISTS audit_log_no_update BEFORE UPDATE ON audit_log "
    "BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END",
    "CREATE TRIGGER IF NOT EXISTS audit_log_no_delete BEFORE DELETE ON audit_log "
    "BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END",
]
_APPEND_ONLY_POSTGRES = [
    "CREATE OR REPLACE FUNCTION audit_log_append_only() RETURNS trigger AS $$ "
    "BEGIN RAISE EXCEPTION 'audit_log is append-only'; END; $$ LANGUAGE plpgsql",
    "DROP TRIGGER IF EXISTS audit_log_append_only ON audit_log",
    "CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE ON audit_log "
    "FOR EACH ROW EXECUTE FUNCTION audit_log_append_only()",
]

_engines: Dict[str, Engine] = {}
_engines_lock = threading.Lock()


def now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


def aware(value: Optional[dt.datetime]) -> Optional[dt.datetime]:
    """SQLite hands datetimes back naive; they were written in UTC."""
    if value is not None and value.tzinfo is None:
        return value.replace(tzinfo=dt.timezone.utc)
    return value


def engine_for(url: str) -> Engine:
    """One engine per URL, created (with its tables and triggers) on first use, never at import."""
    with _engines_lock:
        engine = _engines.get(url)
        if engine is None:
            if url.startswith("sqlite:///"):
                Path(url[len("sqlite:///"):]).parent.mkdir(parents=True, exist_ok=True)
                engine = create_engine(url, future=True, connect_args={"timeout": 15})

                @event.listens_for(engine, "connect")
                def _sqlite_pragmas(connection, _record):  # concurrent readers with one writer
                    cursor = connection.cursor()
                    cursor.execute("PRAGMA journal_mode=WAL")
                    cursor.close()
            else:
                engine = create_engine(url, pool_pre_ping=True, future=True, pool_size=10)
            metadata.create_all(engine)
            statements = (_APPEND_ONLY_POSTGRES if engine.dialect.name == "postgresql"
                          else _APPEND_ONLY_SQLITE)
            with engine.begin() as conn:
                if engine.dialect.name == "postgresql":
                    # Several processes may create the tables at once: one at a time.
                    conn.execute(text("SELECT pg_advisory_xact_lock(80808)"))
                for statement in statements:
                    conn.execute(text(statement))
            _engines[url] = engine
        return engine


async def run_sync(call: Callable[[], T]) -> T:
    """A blocking store call off the event loop."""
    return await asyncio.get_running_loop().run_in_executor(None, call)


DEMO_AUDIT_KEY = "tuibao-demo-audit-key"


def chat_ref(conversation_id: str, key: Optional[str] = None) -> str:
    """How the audit log names a chat: HMAC-SHA256 of the conversation id under
    ``TUIBAO_AUDIT_KEY`` (demo default). Without the key an openid cannot be recovered from it
    or checked against it; with the key, the one chat's entries can still be found."""
    secret = key if key is not None else (os.environ.get("TUIBAO_AUDIT_KEY") or DEMO_AUDIT_KEY)
    return hmac.new(secret.encode(), conversation_id.encode(), hashlib.sha256).hexdigest()


def purge_audit_before(engine: Engine, cutoff: dt.datetime, *, dry_run: bool = False) -> int:
    """Remove audit rows older than ``cutoff``: the one controlled way past the append-only
    triggers. In a single transaction the trigger is set aside, only rows older than the cutoff
    are deleted, the trigger is restored (PostgreSQL: ``ALTER TABLE`` holds an exclusive lock, so
    no other writer sees the table unguarded; SQLite: drop and re-create inside one explicit
    ``BEGIN IMMEDIATE`` transaction, so a failure rolls the drop back)
    and the purge itself is logged. Called only by ``python -m privacy.retention purge``."""
    old = audit_log.c.at < cutoff
    with engine.begin() as conn:
        if dry_run:
            return int(conn.execute(select(func.count()).select_from(audit_log).where(old))
                       .scalar_one())
        if engine.dialect.name == "postgresql":
            conn.execute(text("ALTER TABLE audit_log DISABLE TRIGGER audit_log_append_only"))
            removed = conn.execute(audit_log.delete().where(old)).rowcount
            conn.execute(text("ALTER TABLE audit_log ENABLE TRIGGER audit_log_append_only"))
        else:
            # pysqlite opens no transaction before DDL by itself: without this BEGIN the drop
            # would commit alone and survive a failed delete.
            conn.exec_driver_sql("BEGIN IMMEDIATE")
            conn.execute(text("DROP TRIGGER IF EXISTS audit_log_no_delete"))
            removed = conn.execute(audit_log.delete().where(old)).rowcount
            conn.execute(text(_APPEND_ONLY_SQLITE[1]))
        conn.execute(audit_log.insert().values(
            at=now(), actor="retention", role="system", chat_ref=None, action="purge_audit",
            detail=f"removed:{removed} before:{cutoff.date().isoformat()}"))
    return removed


def mask_text(value: Optional[str], limit: int = 500) -> str:
    return (redact(value) or "")[:limit]


@dataclass(frozen=True)
class HandoffChat:
    """One handoff as the console lists it (masked)."""

    id: int
    conversation_id: str
    channel: str
    reason: str
    state: str
    policy_number_masked: Optional[str]
    case_number: Optional[str]
    last_user_message: Optional[str]
    requested_at: dt.datetime
    assignee: Optional[str]
    taken_at: Optional[dt.datetime]
    closed_at: Optional[dt.datetime]
    outcome: Optional[str]
    unattended_notified_at: Optional[dt.datetime]
    rating: Optional[str]

    @classmethod
    def from_row(cls, row: Any) -> "HandoffChat":
        values = dict(row._mapping)
        for key in ("requested_at", "taken_at", "closed_at", "unattended_notified_at"):
            values[key] = aware(values[key])
        return cls(**values)

    def as_json(self) -> Dict[str, Any]:
        """The contract's inbox row."""
        return {"chat_id": self.conversation_id, "channel": self.channel, "state": self.state,
                "reason": self.reason, "waiting_since": self.requested_at.isoformat(),
                "assignee": self.assignee, "last_user_message": self.last_user_message,
                "policy_number": self.policy_number_masked, "case_number": self.case_number,
                "taken_at": self.taken_at.isoformat() if self.taken_at else None}


@dataclass(frozen=True)
class QueuePosition:
    """Where a waiting chat stands: ``place`` 1 is next."""

    chat: HandoffChat
    place: int
    created: bool


class HandoffStore:
    """Every read and write of the desk's state, on one SQLAlchemy URL."""

    def __init__(self, url: str) -> None:
        self.url = url

    @property
    def engine(self) -> Engine:
        return engine_for(self.url)

    # ------------------------------------------------------------------ the queue
    def open_chat(self, conversation_id: str) -> Optional[HandoffChat]:
        query = select(handoff_chats).where(and_(
            handoff_chats.c.conversation_id == conversation_id,
            handoff_chats.c.state.in_(OPEN_STATES)))
        with self.engine.connect() as conn:
            row = conn.execute(query).first()
        return HandoffChat.from_row(row) if row else None

    def latest_chat(self, conversation_id: str) -> Optional[HandoffChat]:
        """The open handoff of a conversation, else its most recent one."""
        query = (select(handoff_chats).where(handoff_chats.c.conversation_id == conversation_id)
                 .order_by(handoff_chats.c.id.desc()).limit(1))
        with self.engine.connect() as conn:
            row = conn.execute(query).first()
        return HandoffChat.from_row(row) if row else None

    def place_of(self, chat: HandoffChat) -> int:
        """1 + the number of chats waiting longer than this one (0 when it is not waiting)."""
        if chat.state != ChatState.WAITING.value:
            return 0
        query = select(func.count()).select_from(handoff_chats).where(and_(
            handoff_chats.c.state == ChatState.WAITING.value, handoff_chats.c.id < chat.id))
        with self.engine.connect() as conn:
            return int(conn.execute(query).scalar_one()) + 1

    def enqueue(self, conversation_id: str, *, reason: str, policy_number_masked: Optional[str],
                case_number: Optional[str], last_message: Optional[str]) -> QueuePosition:
        """Queue the conversation once: an open handoff is returned as it stands (its last
        message refreshed), never filed twice, even when two requests race."""
        if reason not in HANDOFF_REASONS:
            raise ValueError(f"unknown handoff reason {reason!r}")
        if not CHAT_ID.match(conversation_id):
            raise UnaddressableConversation("this conversation id cannot be opened at the console")
        masked = mask_text(last_message)
        existing = self.open_chat(conversation_id)
        created = False
        if existing is None:
            try:
                with self.engine.begin() as conn:
                    conn.execute(handoff_chats.insert().values(
                        conversation_id=conversation_id, channel=channel_of(conversation_id),
                        reason=reason, state=ChatState.WAITING.value,
                        policy_number_masked=policy_number_masked, case_number=case_number,
                        last_user_message=masked, requested_at=now()))
                    self._feed(conn, conversation_id, "queued")
                created = True
                metrics.handoff_requested(reason)
            except Exception:
                if self.open_chat(conversation_id) is None:  # not the unique index: a real error
                    raise
        else:
            self.note_user_message(conversation_id, last_message)
        chat = self.open_chat(conversation_id)
        assert chat is not None
        return QueuePosition(chat, self.place_of(chat), created)

    def note_user_message(self, conversation_id: str, message: Optional[str]) -> None:
        """Keep the inbox's "last message" current (masked)."""
        if not message:
            return
        with self.engine.begin() as conn:
            changed = conn.execute(handoff_chats.update().where(and_(
                handoff_chats.c.conversation_id == conversation_id,
                handoff_chats.c.state.in_(OPEN_STATES),
                handoff_chats.c.last_user_message.is_distinct_from(mask_text(message)),
            )).values(last_user_message=mask_text(message))).rowcount
            if changed:
                self._feed(conn, conversation_id, "user_message")

    def list_chats(self, state: str, username: Optional[str] = None) -> List[HandoffChat]:
        """``waiting`` (oldest first), ``mine`` (taken by ``username``) or ``all`` open ones
        plus those closed in the last day."""
        query = select(handoff_chats).order_by(handoff_chats.c.requested_at, handoff_chats.c.id)
        if state == "waiting":
            query = query.where(handoff_chats.c.state == ChatState.WAITING.value)
        elif state == "mine":
            query = query.where(and_(handoff_chats.c.state == ChatState.TAKEN.value,
                                     handoff_chats.c.assignee == username))
        elif state == "all":
            query = query.where(
                (handoff_chats.c.state.in_(OPEN_STATES))
                | (handoff_chats.c.closed_at >= now() - dt.timedelta(days=1)))
        else:
            raise ValueError(state)
        with self.engine.connect() as conn:
            return [HandoffChat.from_row(row) for row in conn.execute(query)]

    def take(self, conversation_id: str, username: str) -> Optional[HandoffChat]:
        """Give the waiting chat to ``username``; None when someone else has it (or it is not
        waiting). One conditional UPDATE: of any number of concurrent takes exactly one wins."""
        with self.engine.begin() as conn:
            won = conn.execute(handoff_chats.update().where(and_(
                handoff_chats.c.conversation_id == conversation_id,
                handoff_chats.c.state == ChatState.WAITING.value,
            )).values(state=ChatState.TAKEN.value, assignee=username, taken_at=now())).rowcount
            if won:
                self._feed(conn, conversation_id, "taken")
        if not won:
            return None
        chat = self.open_chat(conversation_id)
        if chat is not None and chat.taken_at and chat.requested_at:
            metrics.handoff_taken((chat.taken_at - chat.requested_at).total_seconds())
        return chat

    def release(self, conversation_id: str, username: str) -> None:
        """Undo a take that could not pause the bot: the chat waits again."""
        with self.engine.begin() as conn:
            conn.execute(handoff_chats.update().where(and_(
                handoff_chats.c.conversation_id == conversation_id,
                handoff_chats.c.state == ChatState.TAKEN.value,
                handoff_chats.c.assignee == username,
            )).values(state=ChatState.WAITING.value, assignee=None, taken_at=None))
            self._feed(conn, conversation_id, "released")

    def reassign(self, conversation_id: str, username: Optional[str]) -> Optional[HandoffChat]:
        """A supervisor gives an open chat to ``username`` (None: back to the queue)."""
        values: Dict[str, Any] = {"assignee": username}
        if username is None:
            values.update(state=ChatState.WAITING.value, taken_at=None)
        with self.engine.begin() as conn:
            changed = conn.execute(handoff_chats.update().where(and_(
                handoff_chats.c.conversation_id == conversation_id,
                handoff_chats.c.state == ChatState.TAKEN.value,
            )).values(**values)).rowcount
            if changed:
                self._feed(conn, conversation_id, "reassigned")
        return self.open_chat(conversation_id) if changed else None

    def close(self, conversation_id: str, outcome: str) -> Optional[HandoffChat]:
        """End the open handoff (``handback`` or ``closed``)."""
        chat = self.open_chat(conversation_id)
        if chat is None:
            return None
        with self.engine.begin() as conn:
            conn.execute(handoff_chats.update().where(handoff_chats.c.id == chat.id).values(
                state=ChatState.CLOSED.value, closed_at=now(), outcome=outcome))
            self._feed(conn, conversation_id, outcome)
        return self.latest_chat(conversation_id)

    def claim_unattended(self, older_than_s: int) -> List[HandoffChat]:
        """Waiting chats nobody took in time and nobody told yet; each is claimed once (several
        consoles may run this sweep)."""
        cutoff = now() - dt.timedelta(seconds=older_than_s)
        query = select(handoff_chats).where(and_(
            handoff_chats.c.state == ChatState.WAITING.value,
            handoff_chats.c.requested_at < cutoff,
            handoff_chats.c.unattended_notified_at.is_(None)))
        claimed = []
        with self.engine.connect() as conn:
            candidates = [HandoffChat.from_row(row) for row in conn.execute(query)]
        for chat in candidates:
            with self.engine.begin() as conn:
                won = conn.execute(handoff_chats.update().where(and_(
                    handoff_chats.c.id == chat.id,
                    handoff_chats.c.unattended_notified_at.is_(None),
                )).values(unattended_notified_at=now())).rowcount
            if won:
                claimed.append(chat)
        return claimed

    def rate(self, conversation_id: str, rating: str) -> bool:
        """The user's one-tap satisfaction answer, on their most recent handoff: only one an
        agent took, and only once (a rating given stands; nobody's chat cannot be rated)."""
        chat = self.latest_chat(conversation_id)
        if chat is None or chat.taken_at is None:
            return False
        with self.engine.begin() as conn:
            won = conn.execute(handoff_chats.update().where(and_(
                handoff_chats.c.id == chat.id, handoff_chats.c.taken_at.is_not(None),
                handoff_chats.c.rating.is_(None))).values(rating=rating)).rowcount
            if won:
                self._feed(conn, conversation_id, "rated")
        return bool(won)

    # ------------------------------------------------------------------ who is at the desk
    def mark_present(self, username: str, role: str) -> None:
        """The console of ``username`` has its live page open now."""
        moment = now()
        refresh = (desk_presence.update().where(desk_presence.c.username == username)
                   .values(role=role, last_seen=moment))
        with self.engine.begin() as conn:
            if not conn.execute(refresh).rowcount:
                try:
                    with conn.begin_nested():
                        conn.execute(desk_presence.insert().values(
                            username=username, role=role, last_seen=moment))
                except Exception:  # a second tab inserted it first: refresh that row
                    conn.execute(refresh)

    def mark_absent(self, username: str) -> None:
        """``username`` signed out: not counted as at the desk any more."""
        with self.engine.begin() as conn:
            conn.execute(desk_presence.delete().where(desk_presence.c.username == username))

    def people_at_desk(self, within_s: int) -> int:
        """How many agents and supervisors had a live console page in the last ``within_s``
        seconds."""
        since = now() - dt.timedelta(seconds=within_s)
        query = select(func.count()).select_from(desk_presence).where(and_(
            desk_presence.c.last_seen >= since,
            desk_presence.c.role.in_(DESK_ROLES)))
        with self.engine.connect() as conn:
            return int(conn.execute(query).scalar_one())

    # ------------------------------------------------------------------ estimates and figures
    def recent_wait_seconds(self, limit: int = 20) -> List[float]:
        """How long the last ``limit`` taken chats waited."""
        query = (select(handoff_chats.c.requested_at, handoff_chats.c.taken_at)
                 .where(handoff_chats.c.taken_at.is_not(None))
                 .order_by(handoff_chats.c.taken_at.desc()).limit(limit))
        with self.engine.connect() as conn:
            return [(aware(taken) - aware(asked)).total_seconds()
                    for asked, taken in conn.execute(query)]

    def figures(self, day_start: dt.datetime) -> Dict[str, Any]:
        """Queue figures for supervisors: waiting, longest wait, handled and median handle time
        since ``day_start``."""
        with self.engine.connect() as conn:
            waiting = [aware(r[0]) for r in conn.execute(
                select(handoff_chats.c.requested_at)
                .where(handoff_chats.c.state == ChatState.WAITING.value))]
            handled = [(aware(t), aware(c)) for t, c in conn.execute(
                select(handoff_chats.c.taken_at, handoff_chats.c.closed_at).where(and_(
                    handoff_chats.c.state == ChatState.CLOSED.value,
                    handoff_chats.c.taken_at.is_not(None),
                    handoff_chats.c.closed_at >= day_start)))]
            taken = int(conn.execute(select(func.count()).select_from(handoff_chats).where(
                handoff_chats.c.state == ChatState.TAKEN.value)).scalar_one())
        moment = now()
        durations = sorted((closed - took).total_seconds() for took, closed in handled)
        median = None
        if durations:
            middle = len(durations) // 2
            median = (durations[middle] if len(durations) % 2
                      else (durations[middle - 1] + durations[middle]) / 2)
        return {"waiting": len(waiting), "with_agents": taken,
                "longest_wait_s": int(max(((moment - w).total_seconds() for w in waiting),
                                          default=0)),
                "handled_today": len(handled),
                "median_handle_s": int(median) if median is not None else None}

    # ------------------------------------------------------------------ agent turns
    def add_turn(self, chat: HandoffChat, author: str, kind: str, text_: str,
                 delivered: bool, delivery_error: Optional[str] = None) -> Dict[str, Any]:
        row = dict(handoff_id=chat.id, conversation_id=chat.conversation_id, author=author,
                   kind=kind, text=mask_text(text_, 2000), delivered=delivered,
                   delivery_error=delivery_error, at=now())
        with self.engine.begin() as conn:
            row["id"] = int(conn.execute(handoff_turns.insert().values(**row))
                            .inserted_primary_key[0])
            self._feed(conn, chat.conversation_id, kind)
        return row

    def turns(self, conversation_id: str) -> List[Dict[str, Any]]:
        query = (select(handoff_turns).where(handoff_turns.c.conversation_id == conversation_id)
                 .order_by(handoff_turns.c.id))
        with self.engine.connect() as conn:
            rows = [dict(r._mapping) for r in conn.execute(query)]
        for row in rows:
            row["at"] = aware(row["at"])
        return rows

    # ------------------------------------------------------------------ live feed
    @staticmethod
    def _feed(conn, conversation_id: str, kind: str) -> None:
        conn.execute(handoff_feed.insert().values(conversation_id=conversation_id, kind=kind,
                                                  at=now()))

    def feed_since(self, after_id: int) -> List[Dict[str, Any]]:
        query = (select(handoff_feed).where(handoff_feed.c.id > after_id)
                 .order_by(handoff_feed.c.id).limit(200))
        with self.engine.connect() as conn:
            return [{"id": r.id, "chat_id": r.conversation_id, "kind": r.kind}
                    for r in conn.execute(query)]

    def feed_head(self) -> int:
        with self.engine.connect() as conn:
            return int(conn.execute(select(func.coalesce(func.max(handoff_feed.c.id), 0)))
                       .scalar_one())

    # ------------------------------------------------------------------ audit
    def audit(self, actor: str, role: str, action: str, conversation_id: Optional[str] = None,
              detail: Optional[str] = None) -> None:
        with self.engine.begin() as conn:
            conn.execute(audit_log.insert().values(
                at=now(), actor=actor, role=role,
                chat_ref=chat_ref(conversation_id) if conversation_id else None,
                action=action, detail=mask_text(detail, 200) if detail else None))

    def audit_entries(self, conversation_id: Optional[str] = None,
                      limit: int = 500) -> List[Dict[str, Any]]:
        query = select(audit_log).order_by(audit_log.c.id.desc()).limit(limit)
        if conversation_id:
            query = query.where(audit_log.c.chat_ref == chat_ref(conversation_id))
        with self.engine.connect() as conn:
            rows = [dict(r._mapping) for r in conn.execute(query)]
        for row in rows:
            row["at"] = aware(row["at"]).isoformat()
        return rows
