"""Erasure of one conversation from every store the project owns, on SQLite and PostgreSQL:
the tracker store erases the rows when it saves the turn that carries the request, the other
stores are emptied for that conversation only."""
from __future__ import annotations

import asyncio
import datetime as dt
import subprocess
import sys
import uuid

import pytest
import redis
from cryptography.fernet import Fernet

from handoff.store import HandoffStore
from insurers.base import HolderSession
from privacy.settings import PrivacySettings
from privacy.stores import ProjectStores
from tests.privacy.test_retention import count, save_conversation, tracker_store_for
from harness.services import ROOT
from harness.stack import REDIS_URL, forget_redis_prefix

USER, OTHER = "oEraseMe000000000000000001", "oKeepMe0000000000000000002"


@pytest.fixture
def project(database_url):
    prefix = f"tuibao-test:{uuid.uuid4().hex[:12]}"
    settings = PrivacySettings(
        tracker_db_url=database_url, handoff_db_url=database_url, credentials_db_url=database_url,
        credentials_key=Fernet.generate_key().decode(), credentials_previous_key="",
        redis_url=REDIS_URL, redis_prefix=prefix, retention_days=30)
    stores = ProjectStores(settings)
    for conversation in (USER, OTHER):
        save_conversation(tracker_store_for(database_url), conversation, age_days=0)
        desk = HandoffStore(database_url)
        desk.enqueue(conversation, reason="user_request", policy_number_masked="SBX1********0012",
                     case_number=None, last_message="转人工")
        desk.audit("agent1", "agent", "view", conversation)
        desk.add_turn(desk.take(conversation, "agent1"), "agent1", "reply", "您好", True)
        stores.credentials.put(conversation, HolderSession(
            f"token-of-{conversation}", "SBX1000000000012", dt.datetime.now(dt.timezone.utc)))
        client = redis.Redis.from_url(REDIS_URL, socket_timeout=5)
        client.set(f"{prefix}:claim:{conversation}:d1", "1", ex=600)
        client.rpush(f"{prefix}:late:{conversation}", "迟到的回答")
        client.expire(f"{prefix}:late:{conversation}", 600)
        client.close()
    yield stores
    forget_redis_prefix(prefix)


def held(counts):
    return (counts.tracker_events, counts.handoff_chats, counts.handoff_turns, counts.handoff_feed,
            counts.credentials, counts.connector_keys)


def test_inventory_then_erase_removes_this_conversation_everywhere_and_nothing_else(project):
    url = project.settings.tracker_db_url
    kept = project.inventory(USER)
    # 3 events; 1 handoff with 1 agent reply; feed: queued, taken, reply; 1 token; 2 keys.
    assert held(kept) == (3, 1, 1, 3, 1, 2) and kept.audit_entries == 1
    erased = asyncio.run(project.erase_async(USER))
    assert held(erased) == (3, 1, 1, 3, 1, 2)
    after = project.inventory(USER)
    assert held(after) == (0, 0, 0, 0, 0, 0)
    other = project.inventory(OTHER)
    assert held(other) == (3, 1, 1, 3, 1, 2)
    assert count(url, "events") == 3
    assert count(url, "handoff_chats") == count(url, "handoff_turns") == 1
    # The audit keeps who viewed which chat, for both users, naming neither in clear.
    assert after.audit_entries == 1 and count(url, "audit_log") == 2
    assert count(url, "audit_log", "chat_ref = :c OR detail LIKE :d", c=USER, d=f"%{USER}%") == 0


def test_the_tracker_store_erases_the_conversation_when_saving_the_turn_that_asks(project):
    from rasa.shared.core.events import ActionExecuted, BotUttered, SlotSet, UserUttered
    from rasa.shared.core.trackers import DialogueStateTracker

    url = project.settings.tracker_db_url
    store = tracker_store_for(url)
    tracker = asyncio.run(store.retrieve(USER))
    tracker.update(UserUttered("确认", {"name": "affirm", "confidence": 1.0}))
    tracker.update(BotUttered("已删除。"))
    tracker.update(SlotSet("privacy_erasure", "requested"))
    tracker.update(ActionExecuted("action_listen"))
    asyncio.run(store.save(tracker))
    assert count(url, "events", "sender_id = :s", s=USER) == 0
    assert asyncio.run(store.retrieve(USER)) is None
    assert count(url, "events", "sender_id = :s", s=OTHER) == 3
    # The user's next message starts a new conversation, stored as usual.
    fresh = DialogueStateTracker.from_events(USER, [UserUttered("你好", {"name": "greet"})])
    asyncio.run(store.save(fresh))
    assert count(url, "events", "sender_id = :s", s=USER) == 1


def test_an_operator_erases_a_conversation_from_the_command_line(project):
    s = project.settings
    env = {"PATH": "/usr/bin:/bin", "TUIBAO_TRACKER_DB_URL": s.tracker_db_url,
           "TUIBAO_HANDOFF_DB_URL": s.handoff_db_url, "TUIBAO_CREDENTIALS_DB_URL": s.credentials_db_url,
           "TUIBAO_CREDENTIALS_KEY": s.credentials_key, "WECHAT_DEDUPE_REDIS_URL": s.redis_url,
           "WECHAT_REDIS_PREFIX": s.redis_prefix}
    run = subprocess.run([sys.executable, "-m", "privacy.retention", "erase", "--conversation", USER],
                         cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    assert "tracker store: 1 conversations, 3 events" in run.stdout and "connector state: 2 keys" in run.stdout
    assert "handoff store: 1 handoffs, 1 agent turns, 3 feed events" in run.stdout, run.stdout
    assert project.inventory(USER).tracker_events == 0 and project.inventory(OTHER).tracker_events == 3
