"""The redacting SQL tracker store under the server's pattern of use (issue 23): read a tracker,
add a turn, save, many times over; every event stored exactly once and in order, redacted, on
SQLite (pooled connections, WAL) and PostgreSQL; a tracker the store did not read itself is
still saved correctly (the store asks the database how much it holds)."""
from __future__ import annotations

import asyncio
import json
import uuid

import sqlalchemy as sa
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import ActionExecuted, BotUttered, SessionStarted, SlotSet, UserUttered
from rasa.shared.core.trackers import DialogueStateTracker

from bot.tracker_store import RedactingSQLTrackerStore

CODE = "482913"


def _domain() -> Domain:
    slot = {"type": "text", "influence_conversation": False, "mappings": [{"type": "custom"}]}
    return Domain.from_dict({"slots": {"sms_code": dict(slot)}})


def _turn(number: int) -> list:
    return [UserUttered(f"第{number}句 验证码{CODE}", {"name": "inform", "confidence": 1.0}),
            SlotSet("sms_code", CODE), BotUttered(f"回答{number}"), ActionExecuted("action_listen")]


def _rows(store, sender_id) -> list:
    with store.engine.connect() as connection:
        return [json.loads(row[0]) for row in connection.execute(
            sa.text("SELECT data FROM events WHERE sender_id = :s ORDER BY id"), {"s": sender_id})]


def _conversation(store, sender_id) -> None:
    async def run() -> None:
        first = DialogueStateTracker.from_events(
            sender_id, [ActionExecuted("action_session_start"), SessionStarted(),
                        ActionExecuted("action_listen")], slots=_domain().slots)
        await store.save(first)  # a tracker the store never read: it asks the database
        for number in range(1, 6):
            tracker = await store.retrieve(sender_id)
            for event in _turn(number):
                tracker.update(event)
            await store.save(tracker)
            await store.save(tracker)  # saving again without new events writes nothing
        # A tracker that did not come from this store (another worker's copy, say), holding
        # one new turn: only that turn is written.
        copied = DialogueStateTracker.from_dict(
            sender_id, [e.as_dict() for e in (await store.retrieve(sender_id)).events],
            _domain().slots)
        for event in _turn(6):
            copied.update(event)
        await store.save(copied)

    asyncio.run(run())
    rows = _rows(store, sender_id)
    texts = [row["text"] for row in rows if row["event"] == "user"]
    assert [t.split(" ")[0] for t in texts] == [f"第{n}句" for n in range(1, 7)]
    assert len(rows) == 3 + 6 * 4
    assert CODE not in json.dumps(rows, ensure_ascii=False)
    assert asyncio.run(store.retrieve(sender_id)).get_slot("sms_code") == "******"


def test_sqlite_store_writes_each_event_once_with_pooled_wal_connections(tmp_path):
    store = RedactingSQLTrackerStore(domain=_domain(), dialect="sqlite",
                                     db=str(tmp_path / "tracker.db"))
    _conversation(store, "sqlite-" + uuid.uuid4().hex)
    with store.engine.connect() as connection:
        assert connection.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
    assert store.engine.pool.__class__.__name__ == "QueuePool"


def test_postgresql_store_writes_each_event_once():
    store = RedactingSQLTrackerStore(domain=_domain(), dialect="postgresql", host="127.0.0.1",
                                     port=5432, db="test", username="postgres")
    sender_id = "perf-writes-" + uuid.uuid4().hex
    try:
        _conversation(store, sender_id)
    finally:
        with store.engine.begin() as connection:
            connection.execute(sa.text("DELETE FROM events WHERE sender_id = :s"), {"s": sender_id})


def test_an_erased_conversation_starts_again_empty(tmp_path):
    """After erasure the tracker object no longer claims stored events: the next save of the
    same object writes nothing stale of the erased turn but asks the database (0 rows)."""
    store = RedactingSQLTrackerStore(domain=_domain(), dialect="sqlite",
                                     db=str(tmp_path / "tracker.db"))
    sender_id = "erase-" + uuid.uuid4().hex
    domain = Domain.from_dict({"slots": {
        "privacy_erasure": {"type": "bool", "influence_conversation": False,
                            "mappings": [{"type": "custom"}]}}})

    async def run() -> DialogueStateTracker:
        tracker = DialogueStateTracker.from_events(sender_id, [ActionExecuted("action_listen")],
                                                   slots=domain.slots)
        await store.save(tracker)
        tracker = await store.retrieve(sender_id)
        tracker.update(SlotSet("privacy_erasure", True))
        await store.save(tracker)
        return tracker

    asyncio.run(run())
    assert _rows(store, sender_id) == []


def _reads_as_rasa_does(store) -> None:
    """Three sessions (the last a new one with no turn yet), another conversation's events in
    between, and a conversation with no ``session_started`` at all: what this store reads is
    what Rasa's own ORM query reads, for the latest session and for all sessions."""
    from rasa.core.tracker_store import SQLTrackerStore

    tag = uuid.uuid4().hex
    sessions, other, sessionless = f"sessions-{tag}", f"other-{tag}", f"sessionless-{tag}"

    async def run() -> None:
        for sender_id in (sessions, other):
            await store.save(DialogueStateTracker.from_events(
                sender_id, [ActionExecuted("action_session_start"), SessionStarted(),
                            ActionExecuted("action_listen"), *_turn(1)], slots=_domain().slots))
        for started_at in (2, 3):
            tracker = await store.retrieve(sender_id=sessions)
            tracker.update(ActionExecuted("action_session_start"))
            tracker.update(SessionStarted(timestamp=tracker.events[-1].timestamp + started_at))
            if started_at == 2:
                for event in _turn(started_at):
                    tracker.update(event)
            await store.save(tracker)
        await store.save(DialogueStateTracker.from_events(
            sessionless, [ActionExecuted("action_listen"), *_turn(4)], slots=_domain().slots))
        for sender_id in (sessions, other, sessionless, f"nobody-{tag}"):
            for everything in (False, True):
                ours = await store._retrieve(sender_id, everything)
                rasas = await SQLTrackerStore._retrieve(store, sender_id, everything)
                assert (ours is None) == (rasas is None), sender_id
                if ours is not None:
                    assert [e.as_dict() for e in ours.events] == \
                        [e.as_dict() for e in rasas.events], (sender_id, everything)
        latest = await store.retrieve(sessions)
        assert [e.type_name for e in latest.events] == ["session_started"]  # the third's
        assert len((await store.retrieve_full_tracker(sessions)).events) > len(latest.events)

    try:
        asyncio.run(run())
    finally:
        with store.engine.begin() as connection:
            connection.execute(sa.text("DELETE FROM events WHERE sender_id LIKE :s"),
                               {"s": f"%-{tag}"})


def test_sqlite_store_reads_what_rasas_query_reads(tmp_path):
    _reads_as_rasa_does(RedactingSQLTrackerStore(domain=_domain(), dialect="sqlite",
                                                 db=str(tmp_path / "tracker.db")))


def test_postgresql_store_reads_what_rasas_query_reads():
    _reads_as_rasa_does(RedactingSQLTrackerStore(
        domain=_domain(), dialect="postgresql", host="127.0.0.1", port=5432, db="test",
        username="postgres"))
