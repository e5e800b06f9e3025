"""The handoff store on SQLite (the demo) and on a fresh PostgreSQL database (production): one
open request per conversation even under concurrent asks, masked text, the audit log that
cannot be edited, unattended chats claimed once, the supervisor's figures."""
from __future__ import annotations

import datetime as dt
import threading

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from ground.conversation_ids import channel_of
from handoff.store import HandoffStore, chat_ref
from tests.console.support import postgres_database


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request, tmp_path):
    if request.param == "sqlite":
        yield HandoffStore(f"sqlite:///{tmp_path / 'var' / 'handoff.db'}")
        return
    with postgres_database("tuibao_handoff_test") as url:
        created = HandoffStore(url)
        yield created
        created.engine.dispose()


def ask(store, conversation, reason="user_request", text_="转人工"):
    return store.enqueue(conversation, reason=reason, policy_number_masked=None,
                         case_number=None, last_message=text_)


def test_asking_eight_times_at_once_files_one_request(store):
    results = []
    start = threading.Barrier(8)

    def go():
        start.wait()
        results.append(ask(store, "oSameUser"))

    threads = [threading.Thread(target=go) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert len(results) == 8 and sum(r.created for r in results) == 1
    assert len(store.list_chats("waiting")) == 1
    assert {r.chat.id for r in results} == {results[0].chat.id}


def test_places_masking_and_a_new_request_after_closing(store):
    first = ask(store, "oA", text_="身份证11010519491231002X 手机13800138000")
    second = ask(store, "rest:b", reason="complaint")
    assert (first.place, second.place) == (1, 2)
    assert "11010519491231002X" not in first.chat.last_user_message
    assert "13800138000" not in first.chat.last_user_message
    assert channel_of("rest:b") == "rest" and second.chat.channel == "rest"
    assert store.take("oA", "agent1") is not None
    assert store.take("oA", "agent2") is None
    assert store.place_of(store.open_chat("rest:b")) == 1  # the taken chat left the queue
    store.close("oA", "handback")
    again = ask(store, "oA")
    assert again.created and again.chat.id != first.chat.id


def test_the_audit_log_cannot_be_changed_or_deleted(store):
    store.audit("lead1", "supervisor", "view", "oA")
    for statement in ("UPDATE audit_log SET actor = 'someone'", "DELETE FROM audit_log"):
        with pytest.raises(DBAPIError):
            with store.engine.begin() as conn:
                conn.execute(text(statement))
    [entry] = store.audit_entries("oA")
    assert (entry["actor"], entry["action"]) == ("lead1", "view")
    # The chat is named by a keyed hash: the openid itself is not in the row.
    with store.engine.connect() as conn:
        [row] = [dict(r._mapping) for r in conn.execute(text("SELECT * FROM audit_log"))]
    assert "oA" not in row.values() and row["chat_ref"] == chat_ref("oA")
    assert chat_ref("oA") != chat_ref("oA", key="another-deployment") != chat_ref("oB")


def test_unattended_chats_are_claimed_once(store):
    ask(store, "oLonely")
    assert store.claim_unattended(3600) == []
    assert [c.conversation_id for c in store.claim_unattended(0)] == ["oLonely"]
    assert store.claim_unattended(0) == []


def test_figures_for_supervisors(store):
    ask(store, "oWaiting")
    ask(store, "oHandled")
    store.take("oHandled", "agent1")
    store.close("oHandled", "handback")
    day_start = dt.datetime.now(dt.timezone.utc) - dt.timedelta(hours=1)
    figures = store.figures(day_start)
    assert figures["waiting"] == 1 and figures["handled_today"] == 1
    assert figures["median_handle_s"] is not None and figures["longest_wait_s"] >= 0


def test_the_audit_purge_removes_only_old_rows_and_a_failed_one_leaves_the_guard(store):
    from handoff.store import audit_log, purge_audit_before

    long_ago = dt.datetime.now(dt.timezone.utc) - dt.timedelta(days=400)
    with store.engine.begin() as conn:  # the past, as it was written then (inserts are allowed)
        conn.execute(audit_log.insert().values(at=long_ago, actor="agent1", role="agent",
                                               action="view", chat_ref=chat_ref("oOld")))
    store.audit("agent1", "agent", "view", "oNew")
    cutoff = dt.datetime.now(dt.timezone.utc) - dt.timedelta(days=180)
    assert purge_audit_before(store.engine, cutoff, dry_run=True) == 1
    # A purge that fails half-way (here: a cutoff the database cannot compare) changes nothing
    # and the append-only trigger is still there.
    with pytest.raises(Exception):
        purge_audit_before(store.engine, "not a time", dry_run=False)
    with pytest.raises(DBAPIError):
        with store.engine.begin() as conn:
            conn.execute(text("DELETE FROM audit_log"))
    assert purge_audit_before(store.engine, cutoff) == 1
    assert [e["action"] for e in store.audit_entries()] == ["purge_audit", "view"]
    assert store.audit_entries("oOld") == [] and len(store.audit_entries("oNew")) == 1
    with pytest.raises(DBAPIError):
        with store.engine.begin() as conn:
            conn.execute(text("DELETE FROM audit_log"))
