"""The user's rights in the chat, action by action against the real sandbox insurer: what is
kept is shown masked; an erasure needs the identity check where a policy is involved and the
holder is not verified, then a confirmation; it empties the stores the project owns."""
from __future__ import annotations

import asyncio
import json

import pytest
import sqlalchemy as sa

from privacy.credentials import credential_store
from actions.forms import MASKED
from actions.handoff import ActionHandoff
from actions.privacy import (ActionEraseMyData, ActionKeepMyData, ActionRequestErasure,
                             ActionShowMyData, ValidatePrivacyForm)
from actions.config import load_settings
from handoff.store import HandoffStore
from tests.privacy.conftest import postgres_database

from .conversation import Conversation, responses, slot_values
from .test_surrender import POLICY_1, _verified_events

FORM = ValidatePrivacyForm()


@pytest.fixture(params=["sqlite", "postgresql"])
def stores_on(request, insurer, monkeypatch):
    """The handoff and credentials stores on SQLite (the insurer fixture's) or on a fresh
    PostgreSQL database."""
    if request.param == "sqlite":
        yield request.param
        return
    with postgres_database("actions_privacy") as url:
        monkeypatch.setenv("TUIBAO_HANDOFF_DB_URL", url)
        monkeypatch.setenv("TUIBAO_CREDENTIALS_DB_URL", url)
        yield request.param
        HandoffStore(url).engine.dispose()
        credential_store().engine.dispose()


def desk() -> HandoffStore:
    return HandoffStore(load_settings().handoff_db_url)


def agent_took_and_wrote(conversation_id: str) -> None:
    """What the console does when an agent opens, takes and answers the chat."""
    store = desk()
    store.audit("agent1", "agent", "view", conversation_id)
    store.take(conversation_id, "agent1")
    store.audit("agent1", "agent", "take", conversation_id)
    store.add_turn(store.open_chat(conversation_id), "agent1", "reply", "您好，我来帮您看看", True)
    store.add_turn(store.open_chat(conversation_id), "agent1", "note", "用户手机 13800138000", False)


def test_what_is_kept_is_listed_by_category_masked_with_the_insurers_records_named(insurer, domain):
    conv = Conversation("wx-privacy-show", domain)
    asyncio.run(_verified_events(conv, insurer))
    asyncio.run(conv.run(ActionHandoff(), intent="request_human", text="转人工"))
    agent_took_and_wrote(conv.sender_id)
    _, messages = asyncio.run(conv.run(ActionShowMyData(), intent="ask_my_data"))
    assert responses(messages) == ["utter_my_data"]
    shown = conv.render(messages[0])
    for part in ("对话记录", "保单号 SBX1********0012", "身份验证凭证", "转人工登记：1 条",
                 "客服的回复和备注 2 条", "客服查看记录：2 条", "最长保存30天", "属于保险公司的记录", "删除我的信息"):
        assert part in shown, (part, shown)
    assert POLICY_1[0] not in shown and "你" not in shown.replace("您", "")
    assert "微信" not in shown  # the same list is shown on Telegram


def test_a_verified_holder_is_asked_to_confirm_and_then_everything_ours_goes(insurer, stores_on, domain):
    conv = Conversation("wx-privacy-erase", domain)
    asyncio.run(_verified_events(conv, insurer))
    asyncio.run(conv.run(ActionHandoff(), intent="request_human", text="转人工"))
    agent_took_and_wrote(conv.sender_id)
    store = desk()
    assert credential_store().get(conv.sender_id) and store.latest_chat(conv.sender_id)
    assert len(store.turns(conv.sender_id)) == 2

    events, messages = asyncio.run(conv.run(ActionRequestErasure(), intent="delete_my_data"))
    assert responses(messages) == ["utter_confirm_erasure"]
    assert slot_values(events) == {"stage": "confirm_erasure"}
    assert credential_store().get(conv.sender_id), "nothing goes before the confirmation"

    events, messages = asyncio.run(conv.run(ActionEraseMyData(), intent="affirm"))
    assert responses(messages) == ["utter_erasure_done"]
    assert messages[0]["handoff_count"] == 1 and messages[0]["credential_count"] == 1
    assert {"event": "reset_slots", "timestamp": None} in events
    assert slot_values(events) == {"privacy_erasure": "requested"}
    assert credential_store().get(conv.sender_id) is None and store.latest_chat(conv.sender_id) is None
    assert store.turns(conv.sender_id) == []
    engine = store.engine
    with engine.connect() as conn:
        for table in ("handoff_chats", "handoff_turns", "handoff_feed"):
            left = conn.execute(sa.text(f"SELECT count(*) FROM {table} WHERE conversation_id = :c"),
                                {"c": conv.sender_id}).scalar_one()
            assert left == 0, table
        audit = [dict(r._mapping) for r in conn.execute(sa.text("SELECT * FROM audit_log"))]
    # Who opened and took the chat stays on record, without naming the user.
    assert [(e["actor"], e["action"]) for e in audit] == [("agent1", "view"), ("agent1", "take")]
    assert conv.sender_id not in json.dumps(audit, default=str)


def test_erasure_without_a_live_identity_check_asks_for_one_first(insurer, domain):
    number, suffix, phone = POLICY_1
    conv = Conversation("wx-privacy-unverified", domain)
    conv.slots["policy_number"] = number
    events, messages = asyncio.run(conv.run(ActionRequestErasure(), intent="delete_my_data"))
    assert responses(messages) == ["utter_erasure_needs_identity"]
    assert messages[0]["policy_masked"] == "SBX1********0012"
    values = slot_values(events)
    assert values["stage"] == "erasure_verify" and values["policy_number"] == number

    conv.active_loop, conv.slots["requested_slot"] = "privacy_form", "id_suffix"
    events, _ = asyncio.run(conv.run(FORM, extracted={"id_suffix": suffix}))
    assert slot_values(events)["id_suffix"] == MASKED
    conv.slots["requested_slot"] = "sms_code"
    events, _ = asyncio.run(conv.run(FORM, extracted={"sms_code": insurer.latest_code(phone)}))
    assert slot_values(events)["stage"] == "verified"
    conv.active_loop = None
    events, messages = asyncio.run(conv.run(ActionRequestErasure(), intent="delete_my_data"))
    assert responses(messages) == ["utter_confirm_erasure"]


def test_nothing_is_erased_without_the_confirmation_or_when_declined(insurer, domain):
    conv = Conversation("wx-privacy-decline", domain)
    asyncio.run(_verified_events(conv, insurer))
    events, messages = asyncio.run(conv.run(ActionEraseMyData(), intent="affirm"))
    assert responses(messages) == ["utter_confirm_erasure"] and "privacy_erasure" not in slot_values(events)
    events, messages = asyncio.run(conv.run(ActionKeepMyData(), intent="deny"))
    assert responses(messages) == ["utter_erasure_kept"] and slot_values(events) == {"stage": None}
    assert credential_store().get(conv.sender_id)
