"""The tracker store when PostgreSQL is briefly out of reach (the line cut by a proxy: open
connections reset, new ones refused): a turn read or written during a short cut waits for it
and succeeds; a long cut fails the turn loudly instead of Rasa answering it from an empty
in-memory conversation (a fork: the user's surrender would start over)."""
from __future__ import annotations

import asyncio
import threading
import uuid

import pytest
import sqlalchemy as sa
from rasa.core.agent import Agent
from rasa.core.tracker_store import FailSafeTrackerStore
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import ActionExecuted, SlotSet, UserUttered
from rasa.shared.core.trackers import DialogueStateTracker

from bot.tracker_store import OUTAGE_RIDE_S, RedactingSQLTrackerStore, never_fork_conversations
from tests.support.faults import TcpProxy
from tests.support.postgres import postgres_database


def _domain() -> Domain:
    slot = {"type": "text", "influence_conversation": False, "mappings": [{"type": "custom"}]}
    return Domain.from_dict({"slots": {"policy_number": dict(slot)}})


@pytest.fixture
def line():
    """A database of its own, reached through a proxy that can cut the line."""
    with postgres_database("outage") as url, TcpProxy(5432) as proxy:
        store = RedactingSQLTrackerStore(domain=_domain(), dialect="postgresql",
                                         host="127.0.0.1", port=proxy.port,
                                         db=url.rsplit("/", 1)[1], username="postgres")
        yield store, proxy
        store.engine.dispose()


def _started(store, sender_id: str) -> None:
    tracker = DialogueStateTracker.from_events(sender_id, [
        ActionExecuted("action_listen"), UserUttered("我要退保", {"name": "request_surrender"}),
        SlotSet("policy_number", "SBX1000000000012"), ActionExecuted("action_listen")],
        slots=_domain().slots)
    asyncio.run(store.save(tracker))


def _cut_for(proxy: TcpProxy, seconds: float) -> threading.Timer:
    proxy.cut()
    back = threading.Timer(seconds, proxy.restore)
    back.start()
    return back


def test_a_short_cut_is_waited_for_reading_and_writing(line):
    store, proxy = line
    sender_id = "outage-" + uuid.uuid4().hex
    _started(store, sender_id)
    _cut_for(proxy, 1.0).join(0)
    tracker = asyncio.run(store.retrieve(sender_id))  # the pooled connection died with the line
    assert tracker.get_slot("policy_number") == "SBX1000000000012"
    tracker.update(UserUttered("31002X", {"name": "inform"}))
    _cut_for(proxy, 1.0)
    asyncio.run(store.save(tracker))
    users = [e for e in asyncio.run(store.retrieve(sender_id)).events if isinstance(e, UserUttered)]
    assert len(users) == 2  # the turn written once, not lost and not twice


def test_a_long_cut_fails_the_turn_and_never_forks_the_conversation(line):
    store, proxy = line
    sender_id = "outage-" + uuid.uuid4().hex
    _started(store, sender_id)
    never_fork_conversations()
    fail_safe = Agent._create_tracker_store(store, _domain())
    assert isinstance(fail_safe, FailSafeTrackerStore)
    back = _cut_for(proxy, OUTAGE_RIDE_S + 3)
    try:
        with pytest.raises(sa.exc.OperationalError):
            asyncio.run(fail_safe.retrieve(sender_id))
    finally:
        back.join()
    # Back: the conversation is where it was (Rasa's default would have answered this turn
    # from a new, empty tracker and kept it in memory).
    assert asyncio.run(fail_safe.retrieve(sender_id)).get_slot("policy_number") == "SBX1000000000012"
