"""The handoff queue on SQLite (the demo default) and on the PostgreSQL server of this machine:
what the agent console will list, with nothing a person could be identified by."""
from __future__ import annotations

import asyncio
import uuid

import pytest
from sqlalchemy import delete

from actions.handoff_store import engine_for, handoff_requests, list_handoffs, record_handoff_async

POSTGRES = "postgresql://postgres@127.0.0.1:5432/test"


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request, tmp_path):
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'var' / 'handoff.db'}"  # the folder does not exist yet
        return
    yield POSTGRES


def test_a_request_is_queued_masked_and_listed_oldest_first(store_url):
    conversation = f"wx-{uuid.uuid4().hex[:12]}"
    try:
        first = asyncio.run(record_handoff_async(
            store_url, conversation_id=conversation, reason="user_request",
            policy_number_masked="SBX1********0012", case_number=None,
            last_message="转人工，我的身份证11010519491231002X，手机13800138000"))
        second = asyncio.run(record_handoff_async(
            store_url, conversation_id=conversation, reason="complaint",
            policy_number_masked=None, case_number="TB20261125000002", last_message="太坑了"))
        mine = [r for r in list_handoffs(store_url) if r.conversation_id == conversation]
        assert [r.id for r in mine] == [first, second]
        assert [r.reason for r in mine] == ["user_request", "complaint"]
        assert all(r.status == "waiting" for r in mine)
        text = mine[0].last_message_masked
        assert "11010519491231002X" not in text and "13800138000" not in text and "转人工" in text
        assert mine[1].case_number == "TB20261125000002"
    finally:
        with engine_for(store_url).begin() as conn:
            conn.execute(delete(handoff_requests).where(handoff_requests.c.conversation_id == conversation))


def test_an_unknown_reason_is_refused(tmp_path):
    with pytest.raises(ValueError):
        asyncio.run(record_handoff_async(f"sqlite:///{tmp_path / 'h.db'}", conversation_id="x",
                                         reason="whatever", policy_number_masked=None,
                                         case_number=None, last_message=None))
