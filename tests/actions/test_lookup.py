"""The holder lookup through the real actions against the real sandbox insurer (which also plays
恒信人寿): exact events and responses, financial-demo style."""
from __future__ import annotations

import asyncio

import pytest

from privacy.credentials import credential_store
from actions.forms import MASKED
from actions.lookup import ActionAskLookupSmsCode, ActionListHolderPolicies, ValidateLookupForm
from actions.surrender import ActionStartSurrender

from .conversation import Conversation, responses, slot_values

FORM = ValidateLookupForm()
PHONE, SUFFIX = "13800138000", "31002X"


def code_from(insurer, signature: str, phone: str = PHONE) -> str:
    return next(m["code"] for m in insurer.sms(phone) if m["text"].startswith(f"【{signature}】"))


def lookup_turn(conv: Conversation, extracted):
    conv.active_loop = "lookup_form"
    return asyncio.run(conv.run(FORM, extracted=extracted))


def test_phone_and_suffix_ask_every_insurer_and_mask_both(insurer, domain):
    conv = Conversation("wx-lookup-1", domain)
    conv.slots["requested_slot"] = "lookup_phone"
    events, messages = lookup_turn(conv, {"lookup_phone": PHONE, "lookup_id_suffix": SUFFIX})
    values = slot_values(events)
    assert messages == []
    assert values["lookup_phone"] == "138****8000" and values["lookup_id_suffix"] == MASKED
    assert [p["insurer"] for p in values["lookup_pending"]] == ["sandbox", "hengxin"]
    assert PHONE not in repr(values)
    _, asked = asyncio.run(conv.run(ActionAskLookupSmsCode()))
    # Both insurers texted: both are named, which code to send first, and that any order works.
    assert responses(asked) == ["utter_ask_lookup_sms_codes"]
    text = conv.render(asked[0])
    assert text.startswith("沙箱保险和恒信人寿各发了一条验证码到 138****8000")
    assert "请回复沙箱保险那条" in text and "两条一起发也行" in text


def test_codes_in_turn_then_the_policies_then_a_tap_is_already_verified(insurer, domain):
    conv = Conversation("wx-lookup-2", domain)
    conv.slots["requested_slot"] = "lookup_phone"
    lookup_turn(conv, {"lookup_phone": PHONE, "lookup_id_suffix": SUFFIX})
    conv.slots["requested_slot"] = "lookup_sms_code"
    events, messages = lookup_turn(conv, {"lookup_sms_code": code_from(insurer, "沙箱保险")})
    values = slot_values(events)
    assert values["lookup_sms_code"] is None and [p["insurer"] for p in values["lookup_pending"]] == ["hengxin"]
    _, asked = asyncio.run(conv.run(ActionAskLookupSmsCode()))
    assert conv.render(asked[0]).startswith("恒信人寿已经把验证码发到")

    events, _ = lookup_turn(conv, {"lookup_sms_code": code_from(insurer, "恒信人寿")})
    values = slot_values(events)
    assert values["lookup_sms_code"] == MASKED and values["stage"] == "policies_found"
    assert sorted(values["lookup_sessions"]) == ["hengxin", "sandbox"]
    # The tracker learns which policies each session opens, never the token: that is sealed in
    # the action server's credentials store.
    assert "token" not in str(values["lookup_sessions"])
    assert credential_store().get(conv.sender_id, purpose="lookup:hengxin").covers == ("HX202600000121",)

    conv.active_loop = None
    _, listed = asyncio.run(conv.run(ActionListHolderPolicies()))
    assert responses(listed) == ["utter_lookup_policies"]
    text = conv.render(listed[0])
    assert "在您名下找到4张保单" in text
    assert "1. 一年期意外险 SBX1000000000012，沙箱保险，有效，保障期2026年8月18日至2027年8月17日" in text
    assert "一年期意外险 HX202600000121，恒信人寿" in text
    assert [b["payload"] for b in listed[0]["buttons"]][-1] == '/request_surrender{"policy_number":"HX202600000121"}'

    events, said = asyncio.run(conv.run(ActionStartSurrender(), intent="request_surrender",
                                        extracted={"policy_number": "HX202600000121"},
                                        entities=[{"entity": "policy_number", "value": "HX202600000121"}]))
    values = slot_values(events)
    assert values["id_suffix"] == MASKED and values["sms_code"] == MASKED
    # The insurer's answer comes next (a read-back, or why not): no "我来帮您办理退保" before a
    # possible "cannot" (the journeys' finding 8).
    assert "utter_start_surrender" not in responses(said)
    assert values["holder_policy"] == "HX202600000121" and values["identity_reference"] == "policy:HX202600000121"


def test_a_policy_the_lookup_did_not_list_is_not_verified(insurer, domain):
    conv = Conversation("wx-lookup-3", domain)
    conv.slots["lookup_sessions"] = {"sandbox": {"expires_at": "2026-11-25T10:30:00+08:00",
                                                 "covers": ["SBX1000000000012"]}}
    events, _ = asyncio.run(conv.run(ActionStartSurrender(), intent="request_surrender",
                                     extracted={"policy_number": "SBX1000000000023"},
                                     entities=[{"entity": "policy_number", "value": "SBX1000000000023"}]))
    assert "holder_policy" not in slot_values(events) and "id_suffix" not in slot_values(events)


def test_a_wrong_pair_everywhere_is_one_plain_answer(insurer, domain):
    conv = Conversation("wx-lookup-4", domain)
    conv.slots["requested_slot"] = "lookup_phone"
    events, messages = lookup_turn(conv, {"lookup_phone": PHONE, "lookup_id_suffix": "000000"})
    assert responses(messages) == ["utter_lookup_mismatch"]
    assert slot_values(events)["lookup_phone"] is None and slot_values(events)["lookup_id_suffix"] is None
    assert insurer.sms(PHONE) == []


@pytest.mark.parametrize("first, second", [
    ({"lookup_phone": PHONE}, {"lookup_id_suffix": SUFFIX}),
    ({"lookup_id_suffix": SUFFIX}, {"lookup_phone": PHONE}),
])
def test_a_phone_or_suffix_sent_alone_is_kept_sealed_for_the_message_with_the_other(insurer, domain, first, second):
    """Issue 19.6: 王芳 typed her phone three times. A part sent alone is kept (sealed in the
    credentials store, never in the tracker), the reply says what arrived and exactly what is
    missing, and the next message with the other part starts the lookup."""
    conv = Conversation("wx-lookup-5", domain)
    conv.slots["requested_slot"] = "lookup_phone"
    events, messages = lookup_turn(conv, first)
    assert responses(messages) == ["utter_lookup_kept"]
    said = conv.render(messages[0])
    assert ("手机号 138****8000" in said and "还差投保人身份证号后六位" in said) if "lookup_phone" in first \
        else ("身份证号后六位" in said and "还差投保时留的手机号" in said)
    assert PHONE not in said and SUFFIX not in said
    values = slot_values(events)
    assert values.get("lookup_phone") is None and values.get("lookup_id_suffix") is None
    assert PHONE not in repr(events) and SUFFIX not in repr(events)
    assert insurer.sms(PHONE) == []  # nothing asked of the insurers yet

    conv.slots.update(values)
    events, messages = lookup_turn(conv, second)
    values = slot_values(events)
    assert messages == []
    assert values["lookup_phone"] == "138****8000" and values["lookup_id_suffix"] == MASKED
    assert [p["insurer"] for p in values["lookup_pending"]] == ["sandbox", "hengxin"]
    assert len(insurer.sms(PHONE)) == 2
    # Used once, then gone: nothing of the phone or suffix is left in the store.
    store = credential_store()
    assert store.held(conv.sender_id, "lookup_phone") is None and store.held(conv.sender_id, "lookup_id_suffix") is None


def test_a_kept_part_is_forgotten_when_a_new_lookup_starts_and_never_outlives_ten_minutes(insurer, domain):
    import datetime as dt
    from actions.lookup import ActionStartLookup

    conv = Conversation("wx-lookup-6", domain)
    conv.slots["requested_slot"] = "lookup_phone"
    lookup_turn(conv, {"lookup_phone": PHONE})
    store = credential_store()
    assert store.held(conv.sender_id, "lookup_phone") == PHONE
    later = dt.datetime.now(dt.timezone.utc) + dt.timedelta(minutes=10, seconds=1)
    assert store.held(conv.sender_id, "lookup_phone", now=later) is None  # and the row is gone
    lookup_turn(conv, {"lookup_phone": PHONE})
    asyncio.run(conv.run(ActionStartLookup()))
    assert store.held(conv.sender_id, "lookup_phone") is None
    # A suffix alone after the restart is not paired with the forgotten phone.
    conv.slots["requested_slot"] = "lookup_phone"
    _, messages = lookup_turn(conv, {"lookup_id_suffix": SUFFIX})
    assert responses(messages) == ["utter_lookup_kept"] and insurer.sms(PHONE) == []


@pytest.mark.parametrize("message", [
    "恒信 {hengxin}",                                   # the other insurer's code first, named
    "{hengxin}",                                        # the other insurer's code first, bare
    "恒信人寿的是{hengxin}，沙箱的是{sandbox}",          # both at once, named, any order
    "{sandbox} {hengxin}",                              # both at once, in the order asked
    "【恒信人寿】您正在查找名下保单，验证码{hengxin}，5分钟内有效",  # the SMS pasted
])
def test_either_code_in_any_order_and_a_valid_code_is_never_a_failed_try(insurer, domain, message):
    """Issue 19.5."""
    conv = Conversation("wx-lookup-order", domain)
    conv.slots["requested_slot"] = "lookup_phone"
    lookup_turn(conv, {"lookup_phone": PHONE, "lookup_id_suffix": SUFFIX})
    conv.slots["requested_slot"] = "lookup_sms_code"
    codes = {"sandbox": code_from(insurer, "沙箱保险"), "hengxin": code_from(insurer, "恒信人寿")}
    text = message.format(**codes)
    conv.active_loop = "lookup_form"
    first_code = codes["hengxin"] if text.find(codes["hengxin"]) < max(text.find(codes["sandbox"]), 0) \
        or codes["sandbox"] not in text else codes["sandbox"]
    events, messages = asyncio.run(conv.run(FORM, extracted={"lookup_sms_code": first_code}, text=text))
    values = slot_values(events)
    assert "utter_code_wrong" not in responses(messages) and "utter_lookup_code_rejected_for" not in responses(messages)
    if codes["sandbox"] in text:
        assert values["stage"] == "policies_found" and sorted(values["lookup_sessions"]) == ["hengxin", "sandbox"]
        return
    assert [p["insurer"] for p in values["lookup_pending"]] == ["sandbox"]  # 恒信 done, sandbox waits
    assert responses(messages) == ["utter_lookup_code_accepted"]
    assert conv.render(messages[0]) == "恒信人寿的验证码对了。"
    _, asked = asyncio.run(conv.run(ActionAskLookupSmsCode()))
    assert conv.render(asked[0]).startswith("沙箱保险已经把验证码发到")
    events, _ = asyncio.run(conv.run(FORM, extracted={"lookup_sms_code": codes["sandbox"]}, text=codes["sandbox"]))
    assert slot_values(events)["stage"] == "policies_found"


def test_a_policy_chosen_by_its_words_after_the_lookup_is_verified_and_quoted(insurer, domain):
    """Issue 19.2: "我要退保" after the lookup asks which; "重疾险那张" answers it, with no second
    identity check, and the quote is read back for that policy."""
    from actions.quote import ActionQuoteSurrender
    from actions.surrender import ActionAskSurrenderFormPolicyNumber
    from actions.forms import ValidateSurrenderForm

    conv = Conversation("wx-lookup-choose", domain)
    conv.slots["requested_slot"] = "lookup_phone"
    lookup_turn(conv, {"lookup_phone": PHONE, "lookup_id_suffix": SUFFIX})
    conv.slots["requested_slot"] = "lookup_sms_code"
    lookup_turn(conv, {"lookup_sms_code": code_from(insurer, "沙箱保险")})
    lookup_turn(conv, {"lookup_sms_code": code_from(insurer, "恒信人寿")})
    conv.active_loop = None
    events, _ = asyncio.run(conv.run(ActionStartSurrender(), intent="request_surrender", text="我要退保"))
    assert slot_values(events)["policy_number"] is None
    conv.active_loop, conv.slots["requested_slot"] = "surrender_form", "policy_number"
    _, asked = asyncio.run(conv.run(ActionAskSurrenderFormPolicyNumber()))
    assert responses(asked) == ["utter_ask_which_policy"]
    events, said = asyncio.run(conv.run(ValidateSurrenderForm(), intent="inform", text="重疾险那张"))
    values = slot_values(events)
    assert values["policy_number"] == "SBX2000000000035" and values["stage"] == "verified", values
    assert said == []  # no identity question
    conv.active_loop = None
    events, said = asyncio.run(conv.run(ActionQuoteSurrender()))
    assert slot_values(events)["stage"] == "quote_ready", said
    assert "SBX2********0035" in conv.render(said[0])


def test_a_phone_sent_outside_any_form_starts_the_lookup_and_is_kept(insurer, domain):
    """王芳 typed her phone after the "where is my policy number" answer (the journeys' finding
    1): the lookup starts with it, the form keeps it sealed at activation and says what is
    missing; the suffix that follows completes the lookup."""
    from actions.lookup import ActionStartLookup

    conv = Conversation("wx-lookup-outside", domain)
    events, messages = asyncio.run(conv.run(
        ActionStartLookup(), intent="inform", text=PHONE,
        entities=[{"entity": "phone_number", "value": PHONE}]))
    assert responses(messages) == ["utter_lookup_from_message"]
    assert slot_values(events)["lookup_phone"] == PHONE
    # Rasa activates lookup_form and validates the prefilled phone.
    conv.active_loop = None
    events, messages = lookup_turn(conv, {"lookup_phone": PHONE})
    assert responses(messages) == ["utter_lookup_kept"]
    assert slot_values(events)["lookup_phone"] is None and PHONE not in repr(events)
    conv.active_loop = "lookup_form"
    conv.slots["requested_slot"] = "lookup_phone"
    events, messages = lookup_turn(conv, {"lookup_id_suffix": SUFFIX})
    assert messages == [] and len(insurer.sms(PHONE)) == 2


def test_a_six_digit_number_alone_does_not_start_a_lookup(insurer, domain):
    from actions.lookup import ActionStartLookup

    conv = Conversation("wx-lookup-outside-2", domain)
    events, messages = asyncio.run(conv.run(
        ActionStartLookup(), intent="find_policy", text="我没有保单号 482913",
        entities=[{"entity": "id_number", "value": "482913"}]))
    assert messages == [] and slot_values(events)["lookup_id_suffix"] is None


def test_a_fee_question_naming_a_listed_policy_reads_back_its_quote_whatever_came_between(insurer, domain):
    """王芳 (the journeys' finding 2, replayed): after the list she tapped a policy with an open
    case, then asked 「恒信那张呢 能退多少钱」. The fee answer is that policy's read-back, opened as
    a reckoning, with the usual confirmation question; nothing is submitted."""
    from actions.quote import ActionAnswerFee

    conv = Conversation("wx-lookup-fee", domain)
    conv.slots["requested_slot"] = "lookup_phone"
    lookup_turn(conv, {"lookup_phone": PHONE, "lookup_id_suffix": SUFFIX})
    conv.slots["requested_slot"] = "lookup_sms_code"
    lookup_turn(conv, {"lookup_sms_code": code_from(insurer, "沙箱保险")})
    lookup_turn(conv, {"lookup_sms_code": code_from(insurer, "恒信人寿")})
    conv.active_loop, conv.slots["requested_slot"] = None, None
    conv.slots["stage"] = "not_eligible"  # what the tap on the policy with an open case left
    events, said = asyncio.run(conv.run(ActionAnswerFee(), intent="ask_surrender_fee",
                                        text="恒信那张呢 能退多少钱"))
    values = slot_values(events)
    assert responses(said)[0] == "utter_start_quote_only" and "utter_fee_general" not in responses(said)
    assert responses(said)[-1] == "utter_ask_confirm_surrender"
    assert values["policy_number"] == "HX202600000121" and values["stage"] == "quote_ready"
    assert values["quote"]["policy_number"] == "HX202600000121"
    assert "¥94.38" in conv.render(said[1])
    # A question that names nothing listed still gets the general answer.
    conv.slots.update({"quote": None, "stage": None})
    _, said = asyncio.run(conv.run(ActionAnswerFee(), intent="ask_surrender_fee", text="退保扣多少钱"))
    assert responses(said)[0] == "utter_fee_general"
