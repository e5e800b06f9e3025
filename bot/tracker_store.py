"""A SQL tracker store that never writes personal data in clear (PIPL).

Use from endpoints.yml::

    tracker_store:
      type: bot.tracker_store.RedactingSQLTrackerStore
      dialect: postgresql          # or sqlite
      url: 127.0.0.1
      db: tuibao
      username: postgres
      # optional: sensitive_slots: [id_suffix, sms_code, phone_number]

Before events are persisted (and before they are streamed to an event broker) the text of
user and bot messages goes through ``redaction.redact``, identifier entity values of user
messages are masked, and the values of the sensitive slots are masked.

Erasure (the user's "删除我的信息", ``actions.privacy``): the action cannot delete the rows of a
conversation Rasa is still running, so it sets the slot ``privacy_erasure``; when this store
saves the turn that carries that event, it deletes every row of the conversation instead of
writing, and the next message starts a new, empty conversation.

A database that is briefly unreachable (a failover, a network cut) costs no conversation: pooled
connections are checked before use (``pool_pre_ping``), a read or write that fails on the
connection is tried again for up to ``OUTAGE_RIDE_S`` seconds, and one that still fails raises.
``bot.serve`` makes Rasa's ``FailSafeTrackerStore`` pass that error on instead of answering
from an empty in-memory tracker (which forks the conversation: the user's next message would
start over, and what that turn did would be lost at the next one); the channel then tells the
user the turn failed, which is true, and WeChat's resend or the user's next message finds the
conversation where it was (tests/cluster/test_store_faults.py).

Consequence for the dialogue: a sensitive slot holds its clear value only during the turn that
set it. Trackers are read back from this store at the next message, so the slot then reads
masked (``******``). Call the insurer with the ID suffix or code in the turn they arrive.
"""
from __future__ import annotations

import asyncio
import copy
import itertools
import json
import logging
from typing import Any, Awaitable, Callable, Dict, Iterable, Iterator, List, Optional, Text

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlalchemy.orm import sessionmaker
from sqlalchemy.pool import QueuePool

from rasa.core.brokers.broker import EventBroker
from rasa.core.tracker_store import SQLTrackerStore, create_engine_kwargs
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import Event, SessionStarted, SlotSet
from rasa.shared.core.trackers import DialogueStateTracker
from rasa.shared.nlu.constants import INTENT_NAME_KEY

from redaction import SENSITIVE_ENTITIES, mask_value, redact
from redaction.logs import install as install_log_redaction

logger = logging.getLogger(__name__)

DEFAULT_SENSITIVE_SLOTS = ("id_suffix", "sms_code", "phone_number",
                           "lookup_phone", "lookup_id_suffix", "lookup_sms_code")
# Set by actions.privacy when the user asked to delete what is kept about them.
ERASURE_SLOT = "privacy_erasure"


# How long a read or write keeps trying while the database is unreachable: within WeChat's
# 5-second answer, with time left for the turn itself.
OUTAGE_RIDE_S = 2.5
RETRY_PAUSES_S = (0.1, 0.3, 0.6, 1.0, 1.0)


def _connection_lost(error: BaseException) -> bool:
    """A failure of the line to the database (not of the statement)."""
    return isinstance(error, sa.exc.OperationalError) or bool(
        getattr(error, "connection_invalidated", False))


async def _riding_outage(what: str, attempt: Callable[[], Awaitable[Any]]) -> Any:
    """``await attempt()``, again after a pause while the connection is lost, for up to
    ``OUTAGE_RIDE_S``; then the error is raised."""
    loop = asyncio.get_running_loop()
    started = loop.time()
    for pause in RETRY_PAUSES_S:
        try:
            return await attempt()
        except sa.exc.DBAPIError as error:
            if not _connection_lost(error) or loop.time() - started + pause > OUTAGE_RIDE_S:
                raise
            logger.warning("tracker store unreachable (%s): %s again in %.1f s",
                           type(error.orig).__name__, what, pause)
            await asyncio.sleep(pause)
    return await attempt()


# On a tracker this store read: how many of its events are stored (None: ask the database).
STORED_ATTR = "_tuibao_stored_events"


def sqlite_engine(url: Any) -> Engine:
    """An SQLite engine for a busy server: pooled connections instead of one connect per query
    (SQLAlchemy 1.4's NullPool for a file), WAL so readers never wait for the writer, and
    ``synchronous=NORMAL`` (in WAL a commit survives a crash of the process; only a power cut
    may lose the last commits, never the database). Several processes (Sanic workers) may share
    the file: a writer waits up to 10 s for another's lock."""
    engine = sa.create_engine(url, poolclass=QueuePool, pool_size=8, max_overflow=8,
                              connect_args={"check_same_thread": False, "timeout": 10})

    @sa.event.listens_for(engine, "connect")
    def _pragmas(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    return engine


def _noting_stored(tracker: Optional[DialogueStateTracker],
                   all_sessions: bool) -> Optional[DialogueStateTracker]:
    if tracker is not None and not all_sessions:
        setattr(tracker, STORED_ATTR, len(tracker.events))
    return tracker


def erasure_requested(events: Iterable[Event]) -> bool:
    """Whether these (new) events carry the user's erasure request."""
    return any(isinstance(event, SlotSet) and event.key == ERASURE_SLOT and event.value
               for event in events)


def redact_event_data(data: Dict[str, Any], sensitive_slots: Iterable[str]) -> Dict[str, Any]:
    """A redacted copy of one serialised event (``Event.as_dict()``)."""
    data = copy.deepcopy(data)
    kind = data.get("event")
    if kind in ("user", "bot"):
        data["text"] = redact(data.get("text"))
    if kind == "user":
        parse_data = data.get("parse_data") or {}
        if "text" in parse_data:
            parse_data["text"] = redact(parse_data["text"])
        for entity in parse_data.get("entities") or []:
            if entity.get("entity") in SENSITIVE_ENTITIES:
                entity["value"] = mask_value(entity["entity"], entity.get("value"))
    if kind == "slot" and data.get("name") in set(sensitive_slots):
        data["value"] = mask_value(data["name"], data.get("value"))
    return data


class RedactingSQLTrackerStore(SQLTrackerStore):
    """``SQLTrackerStore`` that masks ID numbers, phones, codes and bank cards before writing."""

    def __init__(
        self,
        domain: Optional[Domain] = None,
        dialect: Text = "sqlite",
        host: Optional[Text] = None,
        port: Optional[int] = None,
        db: Text = "rasa.db",
        username: Text = None,
        password: Text = None,
        event_broker: Optional[EventBroker] = None,
        login_db: Optional[Text] = None,
        query: Optional[Dict] = None,
        sensitive_slots: Optional[List[Text]] = None,
        **kwargs: Any,
    ) -> None:
        self.sensitive_slots = tuple(sensitive_slots or DEFAULT_SENSITIVE_SLOTS)
        self._statements: Dict[bool, Any] = {}
        install_log_redaction()  # Rasa's own logs carry the same messages: mask them too
        super().__init__(domain, dialect, host, port, db, username, password, event_broker,
                         login_db, query, **kwargs)
        if self.engine.dialect.name == "sqlite" and db not in ("", ":memory:"):
            self.engine.dispose()
            self.engine = sqlite_engine(self.engine.url)
            self.sessionmaker = sessionmaker(bind=self.engine)
        elif self.engine.dialect.name != "sqlite":
            # A pooled connection that died with the server (restart, failover, a cut line) is
            # found by a ping before use, not by the user's turn.
            url = self.engine.url
            self.engine.dispose()
            self.engine = sa.create_engine(url, pool_pre_ping=True, **create_engine_kwargs(url))
            self.sessionmaker = sessionmaker(bind=self.engine)

    # ------------------------------------------------------------------ reading
    async def _retrieve(self, sender_id: Text,
                        fetch_events_from_all_sessions: bool) -> Optional[DialogueStateTracker]:
        """As Rasa's, noting on the tracker how many of its events the store holds; a lost
        connection is tried again for up to ``OUTAGE_RIDE_S``."""
        tracker = await _riding_outage("reading", lambda: self._read(
            sender_id, fetch_events_from_all_sessions))
        return _noting_stored(tracker, fetch_events_from_all_sessions)

    async def _read(self, sender_id: Text,
                    fetch_events_from_all_sessions: bool) -> Optional[DialogueStateTracker]:
        """Rasa's ``SQLTrackerStore._retrieve``, the same rows in the same order, read as the
        ``data`` column alone by a statement built once: Rasa builds its ORM query anew and
        makes an ORM object of every row, 60 % of a read (bench/tracker_store_read.py)."""
        statement = self._events_statement(fetch_events_from_all_sessions)
        with self.engine.connect() as connection:
            rows = connection.execute(statement, {"sender_id": sender_id,
                                               "session_started": SessionStarted.type_name})
            events = [json.loads(data) for data in rows.scalars()]
        if self.domain and events:
            return DialogueStateTracker.from_dict(sender_id, events, self.domain.slots)
        return None

    def _events_statement(self, fetch_events_from_all_sessions: bool) -> Any:
        """The events of one conversation (``:sender_id``) by id, all of them or those of its
        latest session (from the newest ``session_started``, or all if it has none), as
        ``SQLTrackerStore._event_query`` selects them."""
        cached = self._statements.get(fetch_events_from_all_sessions)
        if cached is not None:
            return cached
        table = self.SQLEvent.__table__
        statement = sa.select(table.c.data).where(
            table.c.sender_id == sa.bindparam("sender_id"))
        if not fetch_events_from_all_sessions:
            session_start = sa.select(sa.func.max(table.c.timestamp)).where(
                table.c.sender_id == sa.bindparam("sender_id"),
                table.c.type_name == sa.bindparam("session_started")).scalar_subquery()
            statement = statement.where(sa.or_(table.c.timestamp >= session_start,
                                               session_start.is_(None)))
        statement = statement.order_by(table.c.id)
        self._statements[fetch_events_from_all_sessions] = statement
        return statement

    def _additional_events(self, session, tracker: DialogueStateTracker) -> Iterator[Event]:
        """The tracker's events the store does not hold yet.

        Rasa counts the stored events of the session with a query on every save; a tracker this
        store read itself carries that count already (``STORED_ATTR``, kept up to date by each
        save), so the query runs only for a tracker from elsewhere."""
        stored = getattr(tracker, STORED_ATTR, None)
        if stored is None:
            return super()._additional_events(session, tracker)
        return itertools.islice(tracker.events, stored, len(tracker.events))

    def _redacted(self, event: Event) -> Dict[str, Any]:
        return redact_event_data(event.as_dict(), self.sensitive_slots)

    async def _stream_new_events(
        self, event_broker: EventBroker, new_events: List[Event], sender_id: Text
    ) -> None:
        """Brokers get the same redacted events as the database (none of an erased turn)."""
        if erasure_requested(new_events):
            return
        for event in new_events:
            event_broker.publish({"sender_id": sender_id, **self._redacted(event)})

    async def save(self, tracker: DialogueStateTracker) -> None:
        """Persist the tracker's new events, redacted (as ``SQLTrackerStore.save``).

        The synchronous SQLAlchemy write runs in an executor, not on the server's event loop."""
        await self.stream_events(tracker)  # (Rasa's diff reads what is stored: before writing)
        loop = asyncio.get_running_loop()
        # (a failed write was rolled back: writing again stores the turn once)
        await _riding_outage("writing", lambda: loop.run_in_executor(
            None, self._write_new_events, tracker))
        logger.debug("Tracker %s stored (redacted)", tracker.sender_id)

    def _write_new_events(self, tracker: DialogueStateTracker) -> None:
        with self.session_scope() as session:
            new_events = list(self._additional_events(session, tracker))
            if erasure_requested(new_events):
                erased = session.query(self.SQLEvent).filter(
                    self.SQLEvent.sender_id == tracker.sender_id).delete(synchronize_session=False)
                session.commit()
                if hasattr(tracker, STORED_ATTR):
                    delattr(tracker, STORED_ATTR)  # nothing of it is stored any more
                logger.info("conversation erased at the user's request (%d events)", erased)
                return
            written = len(tracker.events)
            rows = []
            for event in new_events:
                data = self._redacted(event)
                intent = (data.get("parse_data") or {}).get("intent", {}).get(INTENT_NAME_KEY)
                rows.append({"sender_id": tracker.sender_id, "type_name": event.type_name,
                             "timestamp": data.get("timestamp"), "intent_name": intent,
                             "action_name": data.get("name"), "data": json.dumps(data)})
            if rows:  # one INSERT for the turn's events (executemany), in their order
                session.execute(self.SQLEvent.__table__.insert(), rows)
            session.commit()
        setattr(tracker, STORED_ATTR, written)


def _pass_on(error: Exception) -> None:
    logger.error("tracker store failed (%s: %s): the turn fails rather than go on from an "
                 "empty in-memory tracker", type(error).__name__, error)
    raise error


def never_fork_conversations() -> None:
    """Make Rasa's ``FailSafeTrackerStore`` (which wraps every agent's store) pass a store's
    error on instead of falling back to an in-memory tracker: answering one turn from an empty
    conversation, and keeping what it did in one process's memory, is worse than telling the
    user that turn failed (idempotent)."""
    from rasa.core.agent import Agent

    if getattr(Agent._create_tracker_store, "_tuibao_strict", False):
        return
    original = Agent._create_tracker_store

    def create_tracker_store(store: Any, domain: Domain) -> Any:
        fail_safe = original(store, domain)
        fail_safe._on_tracker_store_error = _pass_on
        return fail_safe

    create_tracker_store._tuibao_strict = True  # type: ignore[attr-defined]
    Agent._create_tracker_store = staticmethod(create_tracker_store)  # type: ignore[assignment]
