"""Retention: ``python -m privacy.retention purge`` removes whole conversations, whole handoffs
(with their agent turns), expired tokens and never-expiring connector keys older than the
period, and audit entries older than the audit's own (longer) period; ``--dry-run``
only counts. Run as the scheduler runs it (a subprocess with its environment), on SQLite and
PostgreSQL, with the real Redis."""
from __future__ import annotations

import asyncio
import datetime as dt
import os
import subprocess
import sys
import uuid
from typing import Dict

import pytest
import redis
import sqlalchemy as sa
from cryptography.fernet import Fernet
from sqlalchemy.engine import make_url

from privacy.credentials import CredentialStore
from handoff.store import HandoffStore, audit_log, chat_ref, handoff_chats, handoff_feed, \
    handoff_turns
from bot.tracker_store import RedactingSQLTrackerStore
from insurers.base import HolderSession
from harness.services import ROOT
from harness.stack import REDIS_URL, forget_redis_prefix

DAY = 86400.0


def tracker_store_for(url: str) -> RedactingSQLTrackerStore:
    parsed = make_url(url)
    if parsed.drivername.startswith("sqlite"):
        return RedactingSQLTrackerStore(dialect="sqlite", db=parsed.database)
    return RedactingSQLTrackerStore(dialect="postgresql", host=parsed.host, port=parsed.port,
                                    db=parsed.database, username=parsed.username)


def save_conversation(store, sender_id: str, age_days: float, text: str = "你好") -> None:
    from rasa.shared.core.events import ActionExecuted, BotUttered, UserUttered
    from rasa.shared.core.trackers import DialogueStateTracker

    at = dt.datetime.now().timestamp() - age_days * DAY
    events = [ActionExecuted("action_listen", timestamp=at),
              UserUttered(text, {"name": "greet", "confidence": 1.0}, timestamp=at + 1),
              BotUttered("您好", timestamp=at + 2)]
    tracker = asyncio.run(store.retrieve(sender_id)) or DialogueStateTracker(sender_id, [])
    for event in events:  # appended to what the conversation already holds
        tracker.update(event)
    asyncio.run(store.save(tracker))


def count(url: str, table: str, where: str = "1=1", **params) -> int:
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            return conn.execute(sa.text(f"SELECT count(*) FROM {table} WHERE {where}"), params).scalar_one()
    finally:
        engine.dispose()


@pytest.fixture
def stores(database_url, tmp_path):
    """Tracker, handoff and credentials stores in one database; a Redis namespace of our own."""
    prefix = f"tuibao-test:{uuid.uuid4().hex[:12]}"
    key = Fernet.generate_key().decode()
    env = {**os.environ, "TUIBAO_TRACKER_DB_URL": database_url, "TUIBAO_HANDOFF_DB_URL": database_url,
           "TUIBAO_CREDENTIALS_DB_URL": database_url, "TUIBAO_CREDENTIALS_KEY": key,
           "WECHAT_DEDUPE_REDIS_URL": REDIS_URL, "WECHAT_REDIS_PREFIX": prefix}
    env.pop("TUIBAO_RETENTION_DAYS", None)
    yield {"url": database_url, "env": env, "prefix": prefix, "key": key}
    forget_redis_prefix(prefix)


def seed(stores: Dict) -> None:
    url = stores["url"]
    tracker = tracker_store_for(url)
    save_conversation(tracker, "oOldUser000000000000000001", age_days=45)
    save_conversation(tracker, "oRecentUser00000000000000002", age_days=2)
    # A conversation that began long ago but spoke yesterday is kept whole.
    save_conversation(tracker, "oLongUser0000000000000003", age_days=60)
    save_conversation(tracker, "oLongUser0000000000000003", age_days=1, text="还在吗")
    desk = HandoffStore(url)
    # (conversation, days since the request, days since the agent's last turn or None)
    for conversation, age, turn_age in (("oOldUser000000000000000001", 45, 44),
                                        ("oRecentUser00000000000000002", 2, None),
                                        # asked long ago, an agent answered yesterday: kept
                                        ("oLongUser0000000000000003", 60, 1)):
        chat = desk.enqueue(conversation, reason="user_request", policy_number_masked=None,
                            case_number=None, last_message="转人工").chat
        if turn_age is not None:
            desk.add_turn(desk.take(conversation, "agent1"), "agent1", "reply", "您好", True)
        ago = lambda days: dt.datetime.now(dt.timezone.utc) - dt.timedelta(days=days)
        with desk.engine.begin() as conn:
            conn.execute(handoff_chats.update().where(handoff_chats.c.id == chat.id).values(
                requested_at=ago(age), taken_at=ago(age) if turn_age is not None else None))
            conn.execute(handoff_feed.update().where(
                handoff_feed.c.conversation_id == conversation).values(
                    at=ago(age if turn_age is None else turn_age)))
            if turn_age is not None:
                conn.execute(handoff_turns.update().where(
                    handoff_turns.c.handoff_id == chat.id).values(at=ago(turn_age)))
            # The audit is append-only: rows of the past are written as they were then.
            for days in (400, 100):
                conn.execute(audit_log.insert().values(
                    at=ago(days), actor="agent1", role="agent", action="view",
                    chat_ref=chat_ref(conversation)))
    credentials = CredentialStore(url, stores["key"], lifetime=dt.timedelta(minutes=-1))
    credentials.put("oOldUser000000000000000001", HolderSession(
        "expired-token-0123456789", "SBX1000000000012", dt.datetime.now(dt.timezone.utc)))
    CredentialStore(url, stores["key"]).put("oRecentUser00000000000000002", HolderSession(
        "live-token-0123456789", "SBX1000000000012", dt.datetime.now(dt.timezone.utc)))
    client = redis.Redis.from_url(REDIS_URL, socket_timeout=5)
    client.set(f"{stores['prefix']}:late:oOldUser000000000000000001", "x")  # no expiry: a leak
    client.set(f"{stores['prefix']}:claim:oRecentUser00000000000000002:abc", "1", ex=3600)
    client.close()


def purge(stores: Dict, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "privacy.retention", "purge", *args],
                          cwd=ROOT, env=stores["env"], capture_output=True, text=True, timeout=120)


def test_dry_run_counts_and_changes_nothing_then_purge_removes_only_what_is_old(stores):
    seed(stores)
    url = stores["url"]
    events_before = count(url, "events")
    dry = purge(stores, "--older-than", "30d", "--dry-run")
    assert dry.returncode == 0, dry.stderr
    assert "would purge data older than 30 days" in dry.stdout
    assert "tracker store: 1 conversations, 3 events" in dry.stdout, dry.stdout
    assert "handoff store: 1 handoffs, 1 agent turns, 3 feed events" in dry.stdout, dry.stdout
    assert "credentials store: 1 tokens" in dry.stdout and "connector state: 1 keys" in dry.stdout
    assert "audit log: 3 entries" in dry.stdout  # 400 days old; the audit keeps 180 days
    assert count(url, "events") == events_before and count(url, "handoff_chats") == 3
    assert count(url, "audit_log") == 6

    done = purge(stores, "--older-than", "30d")
    assert done.returncode == 0, done.stderr
    assert "purged data older than 30 days" in done.stdout
    assert count(url, "events", "sender_id = :s", s="oOldUser000000000000000001") == 0
    assert count(url, "events", "sender_id = :s", s="oRecentUser00000000000000002") == 3
    assert count(url, "events", "sender_id = :s", s="oLongUser0000000000000003") == 6
    assert count(url, "handoff_chats", "conversation_id = :s", s="oOldUser000000000000000001") == 0
    assert count(url, "handoff_chats") == 2 and count(url, "handoff_turns") == 1
    assert count(url, "handoff_feed", "conversation_id = :s", s="oOldUser000000000000000001") == 0
    assert count(url, "holder_credentials") == 1
    # Audit rows past the audit period went (the purge itself is on record); the rest stay,
    # and the table refuses deletes again afterwards.
    assert count(url, "audit_log", "action = 'view'") == 3
    assert count(url, "audit_log", "action = 'purge_audit'") == 1
    engine = sa.create_engine(url)
    try:
        with pytest.raises(sa.exc.DBAPIError):
            with engine.begin() as conn:
                conn.execute(sa.text("DELETE FROM audit_log"))
    finally:
        engine.dispose()
    client = redis.Redis.from_url(REDIS_URL, socket_timeout=5)
    assert client.exists(f"{stores['prefix']}:late:oOldUser000000000000000001") == 0
    assert client.exists(f"{stores['prefix']}:claim:oRecentUser00000000000000002:abc") == 1
    client.close()
    again = purge(stores, "--older-than", "30d")
    assert "tracker store: 0 conversations, 0 events" in again.stdout
    assert "handoff store: 0 handoffs" in again.stdout and "audit log: 0 entries" in again.stdout


def test_the_period_comes_from_the_environment_and_bad_periods_are_refused(stores):
    seed(stores)
    stores["env"]["TUIBAO_RETENTION_DAYS"] = "50"
    dry = purge(stores, "--dry-run")
    assert "older than 50 days" in dry.stdout and "tracker store: 0 conversations" in dry.stdout
    for bad in ("0d", "-3", "soon"):
        refused = purge(stores, "--older-than", bad)
        assert refused.returncode == 2 and "retention period" in refused.stderr, bad
    assert count(stores["url"], "events") == 12
