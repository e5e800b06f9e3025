"""The user's rights in the chat, action by action against the real sandbox insurer: what is
kept is shown masked; an erasure needs the identity check where a policy is involved and the
holder is not verified, then a confirmation; it empties the stores the project owns."""
from __future__ import annotations

import asyncio

from actions.credentials import credential_store
from actions.forms import MASKED
from actions.handoff import ActionHandoff
from actions.privacy import (ActionEraseMyData, ActionKeepMyData, ActionRequestErasure,
                             ActionShowMyData, ValidatePrivacyForm)
from actions.handoff_store import list_handoffs
from actions.config import load_settings

from .conversation import Conversation, responses, slot_values
from .test_surrender import POLICY_1, _verified_events

FORM = ValidatePrivacyForm()


def test_what_is_kept_is_listed_by_category_masked_with_the_insurers_records_named(insurer, domain):
    conv = Conversation("wx-privacy-show", domain)
    asyncio.run(_verified_events(conv, insurer))
    asyncio.run(conv.run(ActionHandoff(), intent="request_human", text="转人工"))
    _, messages = asyncio.run(conv.run(ActionShowMyData(), intent="ask_my_data"))
    assert responses(messages) == ["utter_my_data"]
    shown = conv.render(messages[0])
    for part in ("对话记录", "保单号 SBX1********0012", "身份验证凭证", "转人工登记：1 条",
                 "最长保存30天", "属于保险公司的记录", "删除我的信息"):
        assert part in shown, (part, shown)
    assert POLICY_1[0] not in shown and "你" not in shown.replace("您", "")


def test_a_verified_holder_is_asked_to_confirm_and_then_everything_ours_goes(insurer, domain):
    conv = Conversation("wx-privacy-erase", domain)
    asyncio.run(_verified_events(conv, insurer))
    asyncio.run(conv.run(ActionHandoff(), intent="request_human", text="转人工"))
    url = load_settings().handoff_db_url
    assert credential_store().get(conv.sender_id) and list_handoffs(url)

    events, messages = asyncio.run(conv.run(ActionRequestErasure(), intent="delete_my_data"))
    assert responses(messages) == ["utter_confirm_erasure"]
    assert slot_values(events) == {"stage": "confirm_erasure"}
    assert credential_store().get(conv.sender_id), "nothing goes before the confirmation"

    events, messages = asyncio.run(conv.run(ActionEraseMyData(), intent="affirm"))
    assert responses(messages) == ["utter_erasure_done"]
    assert messages[0]["handoff_count"] == 1 and messages[0]["credential_count"] == 1
    assert {"event": "reset_slots", "timestamp": None} in events
    assert slot_values(events) == {"privacy_erasure": "requested"}
    assert credential_store().get(conv.sender_id) is None and list_handoffs(url) == []


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
