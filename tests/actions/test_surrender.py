"""The surrender through the real actions against the real sandbox insurer (today 2026-11-25).

What the user would notice: the typo pointed out before anything is sent, the identity check,
the quote read back with every figure, one case however often "确认" arrives, and a plain
handoff when the insurer fails.
"""
from __future__ import annotations

import asyncio
import json

import pytest

from rasa_sdk.events import SlotSet

from actions.forms import MASKED, ValidateSurrenderForm
from actions.handoff import ActionHandoff
from actions.misunderstanding import ActionAskToRephrase
from handoff.store import HandoffStore
from actions.quote import ActionAnswerFee, ActionAnswerRefundTime, ActionQuoteSurrender
from actions.surrender import ActionSubmitSurrender
from actions.config import load_settings
from redaction import mask_phone

from .conversation import Conversation, responses, slot_values

POLICY_1 = ("SBX1000000000012", "31002X", "13800138000")  # 张伟, ACC_1Y, refund ¥47.19
POLICY_7 = ("SBX2000000000079", "01001X", "13700137000")  # 王芳, case open since 2026-11-23
POLICY_8 = ("SBX1000000000089", "01001X", "13700137000")  # 王芳, terminated
FORM = ValidateSurrenderForm()


async def verified(conv: Conversation, insurer, policy) -> None:
    """Policy number and ID suffix in one message, then the SMS code: the form is done."""
    number, suffix, phone = policy
    conv.active_loop = "surrender_form"
    conv.slots["requested_slot"] = "policy_number"
    events, messages = await conv.run(FORM, extracted={"policy_number": number, "id_suffix": suffix})
    assert messages == []
    assert slot_values(events)["id_suffix"] == MASKED
    # What Rasa asks next is the first empty required slot: the code, sent to the phone on file.
    required = conv.domain["forms"]["surrender_form"]["required_slots"]
    assert [slot for slot in required if conv.slots[slot] is None] == ["sms_code"]
    assert slot_values(events)["challenge_id"] and slot_values(events)["phone_masked"] == mask_phone(phone)
    conv.slots["requested_slot"] = "sms_code"
    events, messages = await conv.run(FORM, extracted={"sms_code": insurer.latest_code(phone)})
    assert messages == []
    values = slot_values(events)
    assert values["sms_code"] == MASKED and values["stage"] == "verified"
    assert values["holder_policy"] == number and "holder_token" not in values
    conv.active_loop = None


def test_policy_1_quote_is_read_back_in_full_and_a_double_confirmation_makes_one_case(insurer, domain):
    conv = Conversation("wx-user-policy-1", domain)

    async def flow():
        await verified(conv, insurer, POLICY_1)
        quote_events, quote_messages = await conv.run(ActionQuoteSurrender())
        first = await conv.run(ActionSubmitSurrender(), intent="affirm")
        second = await conv.run(ActionSubmitSurrender(), intent="affirm")
        return quote_events, quote_messages, first, second

    quote_events, quote_messages, (first_events, first_messages), (second_events, second_messages) = \
        asyncio.run(flow())

    assert responses(quote_messages) == ["utter_quote_readback", "utter_surrender_loss",
                                         "utter_ask_confirm_surrender"]
    assert slot_values(quote_events)["stage"] == "quote_ready"
    readback = conv.render(quote_messages[0])
    for figure in ("一年期意外险，保单号 SBX1********0012", "¥72.60", "¥25.41", "¥47.19", "2026年12月1日",
                   "2026年12月25日", "退到招商银行 尾号6789", "保障立即终止", "为什么扣这笔钱"):
        assert figure in readback, (figure, readback)
    assert "−¥25.41" in readback  # the deduction is shown as taken off, by its own label

    assert responses(first_messages) == ["utter_surrender_submitted"]
    case_number = slot_values(first_events)["case_number"]
    assert case_number.startswith("TB20261125")
    assert first_events == [SlotSet("case_number", case_number), SlotSet("stage", "submitted")]
    told = conv.render(first_messages[0])
    assert case_number in told and "2026年12月1日" in told and "2026年12月25日" in told

    # The second "确认" (double tap) reaches the insurer with the same key: the same case.
    assert responses(second_messages) == ["utter_surrender_already_submitted"]
    assert second_events == [SlotSet("case_number", case_number), SlotSet("stage", "submitted")]

    async def cases():
        from actions import insurer_calls
        adapter = insurer_calls.adapter_for_policy(POLICY_1[0])
        return await adapter.list_cases(await insurer_calls.session_from(conv.tracker("inform", {}), POLICY_1[0]))

    listed = asyncio.run(cases())
    assert [case.case_number for case in listed] == [case_number]


def test_fee_question_after_the_quote_names_each_deduction(insurer, domain):
    conv = Conversation("wx-user-fee", domain)

    async def flow():
        await verified(conv, insurer, POLICY_1)
        await conv.run(ActionQuoteSurrender())
        return await conv.run(ActionAnswerFee(), intent="ask_surrender_fee")

    events, messages = asyncio.run(flow())
    # The answer, then the pending question again: the user's place is not lost.
    assert events == [] and responses(messages) == ["utter_fee_quote", "utter_ask_confirm_surrender"]
    said = conv.render(messages[0])
    assert "¥25.41" in said and "¥47.19" in said


def test_fee_question_with_nothing_pending_asks_nothing(insurer, domain):
    conv = Conversation("wx-user-fee-general", domain)
    events, messages = asyncio.run(conv.run(ActionAnswerFee(), intent="ask_surrender_fee"))
    assert events == [] and responses(messages) == ["utter_fee_general"]


def test_a_fee_question_naming_a_policy_offers_its_own_quote_in_one_tap(insurer, domain):
    # "SBX1000000000012 退了能拿回多少": the general rule, then the way to this policy's figure.
    conv = Conversation("wx-user-fee-named", domain)
    named = [{"entity": "policy_number", "value": POLICY_1[0]}]
    events, messages = asyncio.run(conv.run(ActionAnswerFee(), intent="ask_surrender_fee",
                                            text=f"{POLICY_1[0]} 退了能拿回多少", entities=named))
    assert events == [] and responses(messages) == ["utter_fee_general", "utter_offer_quote_for_policy"]
    offer = conv.render(messages[1])
    assert POLICY_1[0] in offer and "不会直接提交" in offer
    [variant] = domain["responses"]["utter_offer_quote_for_policy"]
    assert [b["payload"] for b in variant["buttons"]] == ["/request_surrender"]  # starts the form
    assert insurer.sms(POLICY_1[2]) == []  # nothing asked of the insurer before the identity check


def test_a_timing_question_naming_a_policy_inside_the_form_only_answers(insurer, domain):
    conv = Conversation("wx-user-time-named", domain)
    conv.active_loop, conv.slots["requested_slot"] = "surrender_form", "id_suffix"
    named = [{"entity": "policy_number", "value": POLICY_1[0]}]
    events, messages = asyncio.run(conv.run(ActionAnswerRefundTime(), intent="ask_refund_time",
                                            text=f"{POLICY_1[0]} 钱多久到", entities=named))
    assert responses(messages) == ["utter_refund_time_general"]  # the form asks its question next


def test_typo_in_policy_number_is_pointed_out_before_the_insurer_is_asked(insurer, domain):
    conv = Conversation("wx-user-typo", domain)
    conv.active_loop, conv.slots["requested_slot"] = "surrender_form", "policy_number"
    events, messages = asyncio.run(conv.run(FORM, extracted={"policy_number": "SBX1000000000013",
                                                             "id_suffix": "31002X"}))
    assert responses(messages) == ["utter_policy_number_typo"]
    assert "SBX1000000000013" in conv.render(messages[0])
    assert slot_values(events)["policy_number"] is None and slot_values(events)["id_suffix"] is None
    assert insurer.sms(POLICY_1[2]) == []  # nothing was sent to the insurer, so no SMS


def test_wrong_id_suffix_then_the_right_one(insurer, domain):
    conv = Conversation("wx-user-suffix", domain)
    conv.active_loop, conv.slots["requested_slot"] = "surrender_form", "id_suffix"
    conv.slots["policy_number"] = POLICY_1[0]

    async def flow():
        wrong = await conv.run(FORM, extracted={"id_suffix": "123456"})
        right = await conv.run(FORM, extracted={"id_suffix": "31002X"})
        return wrong, right

    (wrong_events, wrong_messages), (right_events, right_messages) = asyncio.run(flow())
    assert responses(wrong_messages) == ["utter_identity_mismatch"]
    assert wrong_events == [SlotSet("id_suffix", None)]
    assert right_messages == []
    values = slot_values(right_events)
    assert values["id_suffix"] == MASKED and values["phone_masked"] == "138****8000"
    assert "31002X" not in repr(right_events)  # the raw suffix does not stay in any slot
    assert len(insurer.sms(POLICY_1[2])) == 1


def test_five_wrong_suffixes_lock_the_check_and_a_person_takes_over(insurer, domain):
    conv = Conversation("wx-user-locked", domain)
    conv.active_loop, conv.slots["requested_slot"] = "surrender_form", "id_suffix"
    conv.slots["policy_number"] = POLICY_1[0]

    async def flow():
        said = []
        for _ in range(6):
            events, messages = await conv.run(FORM, extracted={"id_suffix": "999999"})
            said.append(responses(messages))
            if conv.slots["stage"] == "locked":
                break
        handoff = await conv.run(ActionHandoff())
        return said, events, handoff

    said, last_events, (handoff_events, handoff_messages) = asyncio.run(flow())
    assert said[0] == ["utter_identity_mismatch"] and said[-1] == ["utter_identity_locked"]
    assert SlotSet("requested_slot", None) in last_events  # the form stops asking
    assert responses(handoff_messages) == ["utter_handoff_identity_locked",
                                           "utter_handoff_queue_place"]
    assert "400-123-4567" in conv.render(handoff_messages[0])
    [queued] = HandoffStore(load_settings().handoff_db_url).list_chats("waiting")
    assert (queued.reason, queued.conversation_id) == ("identity_locked", "wx-user-locked")
    assert queued.policy_number_masked == "SBX1********0012"
    assert "999999" not in (queued.last_user_message or "")


def _wrong(code: str) -> str:
    return "000000" if code != "000000" else "111111"


async def _code_asked(conv: Conversation, insurer) -> str:
    """Policy 1's number known, its ID suffix answered: the SMS code is asked. The code sent."""
    conv.active_loop, conv.slots["requested_slot"] = "surrender_form", "id_suffix"
    conv.slots["policy_number"] = POLICY_1[0]
    await conv.run(FORM, extracted={"id_suffix": POLICY_1[1]})
    conv.slots["requested_slot"] = "sms_code"
    return insurer.latest_code(POLICY_1[2])


def test_wrong_sms_code_says_how_many_tries_are_left(insurer, domain):
    conv = Conversation("wx-user-code", domain)

    async def flow():
        return await conv.run(FORM, extracted={"sms_code": _wrong(await _code_asked(conv, insurer))})

    events, messages = asyncio.run(flow())
    # The sandbox allows five failures; this is the first, so four tries are left, and said.
    assert responses(messages) == ["utter_sms_code_wrong_attempts"]
    assert messages[0]["attempts_left"] == 4
    assert "还可以再试4次" in conv.render(messages[0])
    assert slot_values(events)["sms_code"] is None and conv.slots["stage"] is None


def test_open_case_and_terminated_policy_are_explained(insurer, domain):
    async def flow(policy):
        conv = Conversation(f"wx-user-{policy[0]}", domain)
        await verified(conv, insurer, policy)
        return conv, await conv.run(ActionQuoteSurrender())

    conv7, (events7, messages7) = asyncio.run(flow(POLICY_7))
    assert responses(messages7) == ["utter_not_eligible_case_open"]
    assert "TB20261123000001" in conv7.render(messages7[0])
    assert slot_values(events7)["stage"] == "not_eligible"
    assert slot_values(events7)["case_number"] == "TB20261123000001"

    conv8, (events8, messages8) = asyncio.run(flow(POLICY_8))
    assert responses(messages8) == ["utter_not_eligible_terminated"]
    assert slot_values(events8)["stage"] == "not_eligible"


def test_insurer_fault_stops_the_form_and_hands_over_with_an_apology(insurer, domain):
    conv = Conversation("wx-user-fault", domain)
    conv.active_loop, conv.slots["requested_slot"] = "surrender_form", "id_suffix"
    conv.slots["policy_number"] = POLICY_1[0]
    insurer.faults(error_rate=1.0)

    async def flow():
        form = await conv.run(FORM, extracted={"id_suffix": POLICY_1[1]})
        return form, await conv.run(ActionHandoff())

    (form_events, form_messages), (events, messages) = asyncio.run(flow())
    assert slot_values(form_events)["stage"] == "insurer_down"
    assert SlotSet("requested_slot", None) in form_events
    assert responses(messages) == ["utter_handoff_insurer_unavailable", "utter_handoff_queue_place"]
    said = conv.render(messages[0])
    assert "抱歉" in said and "400-123-4567" in said and "RG" in said
    [queued] = HandoffStore(load_settings().handoff_db_url).list_chats("waiting")
    assert queued.reason == "insurer_unavailable"


SEED_QUOTES = [  # policy, ID suffix, phone, figures the read-back must show (sandbox-insurer.md)
    (("SBX1000000000023", "150028", "13900139000"), ["¥87.86", "退到工商银行 尾号1234"]),
    (("SBX2000000000035", "31002X", "13800138000"), ["¥2,982.20", "−¥10.00", "¥2,972.20", "原路退回微信支付", "犹豫期"]),
    (("SBX2000000000046", "150028", "13900139000"), ["¥383.99", "现金价值", "退到工商银行 尾号1234"]),
    (("SBX1000000000056", "31002X", "13800138000"), ["¥0.00", "理赔", "没有钱退回"]),
    (("SBX3000000000069", "150028", "13900139000"), ["¥30.00", "原路退回微信支付", "还没有开始"]),
]


@pytest.mark.parametrize("policy, figures", SEED_QUOTES, ids=[p[0] for p, _ in SEED_QUOTES])
def test_seed_policy_quote_is_read_back_with_its_figures(insurer, domain, policy, figures):
    conv = Conversation(f"wx-user-{policy[0]}", domain)

    async def flow():
        await verified(conv, insurer, policy)
        return await conv.run(ActionQuoteSurrender())

    events, messages = asyncio.run(flow())
    nothing_back = "¥0.00" in figures
    readback_name = "utter_quote_readback_no_refund" if nothing_back else "utter_quote_readback"
    assert responses(messages)[0] == readback_name
    assert responses(messages)[-1] == "utter_ask_confirm_surrender"
    readback = conv.render(messages[0])
    assert f"保单号 {policy[0][:4]}********{policy[0][-4:]}" in readback  # which policy, recognisably
    dates = [] if nothing_back else ["2026年12月1日", "2026年12月25日"]
    for figure in figures + dates + ["保障立即终止"]:
        assert figure in readback, (figure, readback)
    assert "−¥800.00" not in readback  # a paid claim explains the zero; it is not subtracted


def test_a_new_surrender_forgets_the_finished_one_but_keeps_a_number_just_given(domain):
    from actions.surrender import ActionStartSurrender

    after_a_case = Conversation("wx-user-again", domain)
    after_a_case.slots.update(stage="submitted", policy_number=POLICY_1[0], quote={"quote_id": "q"})
    events, messages = asyncio.run(after_a_case.run(ActionStartSurrender(), intent="request_surrender"))
    assert responses(messages) == ["utter_start_surrender"]
    assert events == [SlotSet("stage", None), SlotSet("quote", None), SlotSet("policy_number", None)]

    fresh = Conversation("wx-user-fresh", domain)
    fresh.slots["policy_number"] = POLICY_1[0]  # "SBX… 我要退保" in the same message
    events, _ = asyncio.run(fresh.run(ActionStartSurrender(), intent="request_surrender"))
    assert events == [SlotSet("stage", None), SlotSet("quote", None)]


def test_the_bearer_token_never_enters_the_tracker_and_waits_in_the_credentials_store(insurer, domain):
    from privacy.credentials import credential_store

    conv = Conversation("wx-user-token-kept", domain)
    events = asyncio.run(_verified_events(conv, insurer))
    kept = credential_store().get(conv.sender_id)
    assert kept is not None and kept.policy_number == POLICY_1[0]
    assert kept.token not in json.dumps(events) and kept.token not in json.dumps(conv.slots)
    assert conv.slots["holder_policy"] == POLICY_1[0] and conv.slots["holder_expires"]
    # Without its token the marker alone opens nothing: the identity check is asked again.
    credential_store().delete(conv.sender_id)
    _, messages = asyncio.run(conv.run(ActionQuoteSurrender()))
    assert [m["response"] for m in messages] == ["utter_session_expired"]


async def _verified_events(conv, insurer):
    number, suffix, phone = POLICY_1
    conv.active_loop = "surrender_form"
    conv.slots["requested_slot"] = "policy_number"
    first, _ = await conv.run(FORM, extracted={"policy_number": number, "id_suffix": suffix})
    conv.slots["requested_slot"] = "sms_code"
    second, _ = await conv.run(FORM, extracted={"sms_code": insurer.latest_code(phone)})
    conv.active_loop = None
    return first + second


def test_a_code_turn_run_again_after_its_replica_died_goes_on_verified(insurer, domain):
    """At least once, not exactly once: a replica exchanges the SMS code for the holder's
    session and dies before the conversation is saved; WeChat's resend runs the same turn on
    another replica from the unsaved conversation. The insurer now rejects the spent code, and
    the user must not be told their code is wrong for ever (the cluster's replica-kill test
    found a user stuck so): the session the first run kept is this turn's answer."""
    conv = Conversation("wx-user-lost-turn", domain)

    async def flow():
        code = await _code_asked(conv, insurer)
        before = dict(conv.slots)
        first, _ = await conv.run(FORM, extracted={"sms_code": code})
        conv.slots.clear()
        conv.slots.update(before)  # the first run's events were never saved
        again = await conv.run(FORM, extracted={"sms_code": code})
        conv.slots.clear()
        conv.slots.update(before)
        wrong = await conv.run(FORM, extracted={"sms_code": _wrong(code)})
        return first, again, wrong

    first, (events, messages), (wrong_events, wrong_messages) = asyncio.run(flow())
    assert slot_values(first)["stage"] == "verified"
    assert messages == [] and slot_values(events)["stage"] == "verified"
    assert slot_values(events)["holder_policy"] == POLICY_1[0]
    # (a wrong code in the same place still finds the session: the holder is verified already,
    # by this conversation, for this policy; nothing is revealed that they had not unlocked)
    assert slot_values(wrong_events)["stage"] == "verified" and wrong_messages == []


def test_a_spent_code_without_a_session_of_this_conversation_is_still_wrong(insurer, domain):
    """Another conversation's spent code verifies nobody here."""
    owner, other = Conversation("wx-owner", domain), Conversation("wx-other", domain)

    async def flow():
        stale = await _code_asked(other, insurer)
        await owner.run(FORM, extracted={"sms_code": await _code_asked(owner, insurer)})
        return await other.run(FORM, extracted={"sms_code": stale})

    events, messages = asyncio.run(flow())
    assert responses(messages) == ["utter_sms_code_wrong_attempts"]
    assert slot_values(events)["sms_code"] is None


def test_a_new_challenge_is_not_passed_by_an_earlier_session(insurer, domain):
    """Verified once; later, in the same chat, a new check of the same policy (a new code sent):
    a wrong code is wrong, whatever session the chat still holds."""
    conv = Conversation("wx-user-second-check", domain)

    async def check(code_of):
        conv.slots.update({name: None for name in conv.slots})
        return await conv.run(FORM, extracted={"sms_code": code_of(await _code_asked(conv, insurer))})

    first, _ = asyncio.run(check(lambda code: code))
    assert slot_values(first)["stage"] == "verified"
    events, messages = asyncio.run(check(_wrong))
    assert responses(messages) == ["utter_sms_code_wrong_attempts"]
    assert slot_values(events)["sms_code"] is None


@pytest.mark.parametrize("asked", ["policy_number", "id_suffix", "sms_code"])
def test_asking_again_how_to_surrender_inside_the_form_is_answered_with_its_next_step(domain, asked):
    """The angry user, just handed back by a person: "那我现在怎么退" while the ID suffix is asked
    (the journeys' finding 5). The form is not rejected (that left "这一步我不知道该怎么接"): the
    user hears that it goes on, and the same question comes next."""
    conv = Conversation("wx-goes-on", domain)
    conv.active_loop = "surrender_form"
    conv.slots.update({"requested_slot": asked, "policy_number": None if asked == "policy_number"
                       else POLICY_1[0]})
    events, messages = asyncio.run(conv.run(FORM, intent="request_surrender", text="那我现在怎么退"))
    assert responses(messages) == ["utter_form_goes_on"]
    assert any(e.get("event") == "slot" and e["name"] == asked and e["value"] is None for e in events)
    assert all(e["name"] in (asked, "requested_slot") for e in events if e.get("event") == "slot")


@pytest.mark.parametrize("text, answer", [
    ("那我现在怎么退", "utter_form_goes_on"),
    ("接下来咋办", "utter_form_goes_on"),
    ("下一步呢", "utter_form_goes_on"),
    ("啊啊啊什么玩意", "utter_please_rephrase"),
])
def test_how_to_go_on_that_the_model_could_not_place_is_still_answered_with_the_next_step(
        domain, text, answer):
    """The same question as above when the model fell back (nlu_fallback) instead of reading
    request_surrender: the words say it, the answer is the same; anything else is asked again."""
    conv = Conversation("wx-goes-on-fallback", domain)
    conv.active_loop = "surrender_form"
    conv.slots.update({"requested_slot": "id_suffix", "policy_number": POLICY_1[0]})
    events, messages = asyncio.run(conv.run(ActionAskToRephrase(), intent="nlu_fallback", text=text))
    assert responses(messages) == [answer]
    assert slot_values(events)["misunderstood"] is True  # twice in a row still reaches a person


def test_how_to_go_on_outside_any_form_is_asked_again(domain):
    conv = Conversation("wx-goes-on-no-form", domain)
    events, messages = asyncio.run(conv.run(ActionAskToRephrase(), intent="nlu_fallback",
                                            text="那我现在怎么退"))
    assert responses(messages) == ["utter_please_rephrase"]


def test_a_surrender_request_with_a_number_inside_the_form_is_taken_as_the_number(insurer, domain):
    conv = Conversation("wx-goes-on-number", domain)
    conv.active_loop = "surrender_form"
    conv.slots["requested_slot"] = "policy_number"
    events, messages = asyncio.run(conv.run(
        FORM, intent="request_surrender", text=f"我要退保 {POLICY_1[0]}",
        extracted={"policy_number": POLICY_1[0]},
        entities=[{"entity": "policy_number", "value": POLICY_1[0]}]))
    assert "utter_form_goes_on" not in responses(messages)
    assert slot_values(events)["policy_number"] == POLICY_1[0]
