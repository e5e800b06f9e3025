"""Which policy a request is about (issue 19.1, 19.2), and an angry 转人工 filed as a complaint
(19.4).

- A request that names another policy or insurer right after a case was filed is a surrender of
  that policy: the classifier's withdraw_surrender without any word that withdraws becomes
  request_surrender (bot/components/withdrawal_words.py), and the words choose the policy.
- After the holder lookup, "我要退保" or "那医疗险SBX那张还是要退" asks which, or takes the one
  the words name; it never re-quotes the policy quoted last.
"""
from __future__ import annotations

import asyncio

import pytest

from actions.choosing import choice_buttons, match_listed_policy, surrenderable
from actions.forms import ValidateSurrenderForm
from actions.handoff import ActionHandoff
from actions.surrender import ActionAskSurrenderFormPolicyNumber, ActionStartSurrender
from bot.components.withdrawal_words import corrected_intent

from .conversation import Conversation, responses, slot_values

# A holder's policies as the lookup lists them (shaped like the sandbox's; a 医疗险 as in issue 19.2).
FOUND = [
    {"insurer": "sandbox", "insurer_name": "沙箱保险", "policy_number": "SBX1000000000012",
     "product_name": "一年期意外险", "status": "in_force", "cover_start": "2026-08-18", "cover_end": "2027-08-17"},
    {"insurer": "sandbox", "insurer_name": "沙箱保险", "policy_number": "SBX2000000000035",
     "product_name": "百万医疗险", "status": "in_force", "cover_start": "2026-01-01", "cover_end": "2026-12-31"},
    {"insurer": "sandbox", "insurer_name": "沙箱保险", "policy_number": "SBX1000000000056",
     "product_name": "旅行意外险", "status": "terminated", "cover_start": "2026-05-01", "cover_end": "2026-05-08"},
    {"insurer": "hengxin", "insurer_name": "恒信人寿", "policy_number": "HX202600000121",
     "product_name": "一年期意外险", "status": "in_force", "cover_start": "2026-10-01", "cover_end": "2027-09-30"},
]
LISTED = surrenderable(FOUND)


@pytest.mark.parametrize("text, chosen", [
    ("恒信那张也退了吧", "HX202600000121"),
    ("那医疗险SBX那张还是要退", "SBX2000000000035"),
    ("医疗险", "SBX2000000000035"),
    ("尾号0012", "SBX1000000000012"),
    ("退0121那张", "HX202600000121"),
    ("恒信人寿的意外险", "HX202600000121"),
    ("沙箱的意外险", "SBX1000000000012"),
    ("第二张", "SBX2000000000035"),
    ("意外险", None),            # two accident policies: which one is asked
    ("我要退保", None),          # nothing named
    ("旅行意外险", None),        # terminated: not a choice
    ("重疾险", None),            # not listed
])
def test_the_words_choose_a_listed_policy(text, chosen):
    assert match_listed_policy(text, LISTED, FOUND) == chosen


@pytest.mark.parametrize("text, intent, acted_on", [
    ("恒信那张也退了吧", "withdraw_surrender", "request_surrender"),
    ("那张也退掉", "withdraw_surrender", "request_surrender"),
    ("撤销刚才的申请", "withdraw_surrender", "withdraw_surrender"),
    ("我不退了", "withdraw_surrender", "withdraw_surrender"),
    ("不想退了 留着吧", "withdraw_surrender", "withdraw_surrender"),
    ("取消退保申请", "withdraw_surrender", "withdraw_surrender"),
    ("cancel the surrender", "withdraw_surrender", "withdraw_surrender"),
    ("想了想还是留着这份保险", "withdraw_surrender", "withdraw_surrender"),
    ("恒信那张也退了吧", "request_surrender", "request_surrender"),
    ("恒信那张也退了吧", "affirm", "request_surrender"),
    ("医疗险也退掉", "inform", "request_surrender"),
    ("好的，退吧", "affirm", "affirm"),          # no policy named: the answer it is
    ("这张退了吧", "affirm", "affirm"),
    ("恒信的退款什么时候到", "inform", "inform"),  # the money, not a surrender
    ("恒信那张不退了", "affirm", "affirm"),
    ("查一下进度", "check_surrender_status", "check_surrender_status"),
])
def test_a_withdrawal_needs_words_that_say_so(text, intent, acted_on):
    assert corrected_intent(text, intent) == acted_on


def _conversation(domain, **slots) -> Conversation:
    conversation = Conversation("which-user", domain)
    conversation.slots.update({"lookup_found": FOUND, **slots})
    return conversation


def test_after_filing_a_case_the_insurer_named_is_the_policy_surrendered(domain):
    """王芳: case filed for the sandbox policy, then "恒信那张也退了吧"."""
    conversation = _conversation(domain, stage="submitted", policy_number="SBX2000000000035",
                                 case_number="TB20261125000001")
    events, said = asyncio.run(conversation.run(ActionStartSurrender(), intent="request_surrender",
                                                text="恒信那张也退了吧"))
    assert slot_values(events)["policy_number"] == "HX202600000121"
    assert slot_values(events)["stage"] is None
    assert "utter_ask_confirm_withdraw" not in responses(said)


def test_a_fee_question_naming_a_listed_policy_starts_its_read_back_not_a_surrender(domain):
    """王芳, right after the list: "恒信那张呢 能退多少钱" (the journeys' finding 2). The policy the
    words name is taken, and the opener says this is a reckoning, not "我来帮您办理退保"."""
    conversation = _conversation(domain, stage="policies_found")
    events, said = asyncio.run(conversation.run(ActionStartSurrender(), intent="ask_surrender_fee",
                                                text="恒信那张呢 能退多少钱"))
    assert slot_values(events)["policy_number"] == "HX202600000121"
    assert responses(said) == ["utter_start_quote_only"]
    opener = conversation.render(said[0])
    assert "不会直接提交" in opener and "办理退保" not in opener


@pytest.mark.parametrize("text", ["我要退保", "意外险还是要退"])
def test_several_policies_in_play_and_none_named_the_last_quoted_is_forgotten(domain, text):
    conversation = _conversation(domain, stage=None, policy_number="HX202600000121")
    events, _ = asyncio.run(conversation.run(ActionStartSurrender(), intent="request_surrender", text=text))
    assert slot_values(events)["policy_number"] is None  # the form asks which


def test_the_form_asks_which_with_the_names_people_use(domain):
    conversation = _conversation(domain)
    conversation.slots["requested_slot"] = "policy_number"
    _, said = asyncio.run(conversation.run(ActionAskSurrenderFormPolicyNumber(), text="我要退保"))
    [asked] = said
    assert asked["response"] == "utter_ask_which_policy" and asked["count"] == 3
    text = conversation.render(asked)
    for words in ("百万医疗险", "恒信人寿", "尾号0012", "尾号0121", "哪一张"):
        assert words in text, text
    assert "旅行意外险" not in text  # terminated
    assert [b["title"] for b in asked["buttons"]] == [b["title"] for b in choice_buttons(LISTED)]
    assert all("/" not in b["payload"] and "{" not in b["payload"] for b in asked["buttons"])


def test_the_answer_to_which_fills_the_policy_number(domain):
    form = ValidateSurrenderForm()
    conversation = _conversation(domain)
    conversation.slots["requested_slot"] = "policy_number"
    conversation.active_loop = "surrender_form"
    from rasa_sdk.executor import CollectingDispatcher

    tracker = conversation.tracker("inform", {}, "医疗险那张")
    extracted = asyncio.run(form.extract_policy_number(CollectingDispatcher(), tracker, domain))
    assert extracted == {"policy_number": "SBX2000000000035"}
    tracker = conversation.tracker("inform", {}, "意外险")
    assert asyncio.run(form.extract_policy_number(CollectingDispatcher(), tracker, domain)) == {}


def test_without_a_lookup_the_question_is_the_policy_number_and_never_twice_the_same(domain):
    conversation = Conversation("no-lookup", domain)
    conversation.slots["requested_slot"] = "policy_number"
    _, said = asyncio.run(conversation.run(ActionAskSurrenderFormPolicyNumber(), text="我要退保"))
    assert responses(said) == ["utter_ask_surrender_form_policy_number"]
    tracker = conversation.tracker("inform", {}, "嗯")
    tracker.events[:0] = [{"event": "action", "name": "action_listen"},
                          {"event": "user", "text": "我要退保"},
                          {"event": "bot", "text": "请发一下保单号…",
                           "metadata": {"utter_action": "utter_ask_surrender_form_policy_number"}}]
    from rasa_sdk.executor import CollectingDispatcher

    dispatcher = CollectingDispatcher()
    asyncio.run(ActionAskSurrenderFormPolicyNumber().run(dispatcher, tracker, domain))
    assert responses(dispatcher.messages) == ["utter_ask_policy_number_again"]
    again = domain["responses"]["utter_ask_policy_number_again"][0]["text"]
    assert again != domain["responses"]["utter_ask_surrender_form_policy_number"][0]["text"]
    assert "不知道" in again


def test_an_angry_request_for_a_person_is_filed_as_a_complaint_without_a_hotline(insurer, domain):
    from handoff.store import HandoffStore
    from actions.config import load_settings

    conversation = Conversation("wx-angry", domain)
    _, said = asyncio.run(conversation.run(ActionHandoff(), intent="request_human",
                                           text="你们热线根本打不通，气死了，马上给我转人工！"))
    assert responses(said)[0] == "utter_handoff_complaint"
    text = conversation.render(said[0])
    assert "抱歉" in text and "投诉" in text and "热线" not in text
    [chat] = HandoffStore(load_settings().handoff_db_url).list_chats("waiting")
    assert chat.reason == "complaint"  # the console shows 投诉 (console/static/console.js REASONS)
    calm = Conversation("wx-calm", domain)
    asyncio.run(calm.run(ActionHandoff(), intent="request_human", text="转人工"))
    reasons = {c.conversation_id: c.reason for c in HandoffStore(load_settings().handoff_db_url).list_chats("waiting")}
    assert reasons == {"wx-angry": "complaint", "wx-calm": "user_request"}


# ---------------------------------------------------------------- short natural answers (19.6)
@pytest.mark.parametrize("text, stops", [
    ("不知道", True), ("我也不知道", True), ("忘了", True), ("找不到了", True), ("没有", True),
    ("不知道保单号", True), ("不记得了呀", True), ("SBX1000000000012", False), ("好的", False),
    ("不知道要不要退", False),
])
def test_dont_know_when_the_policy_number_is_asked_ends_the_form_for_the_lookup(domain, text, stops):
    from actions.forms import DONT_KNOW

    conversation = Conversation("dont-know", domain)
    conversation.slots["requested_slot"] = "policy_number"
    conversation.active_loop = "surrender_form"
    from rasa_sdk.executor import CollectingDispatcher

    entities = ([{"entity": "policy_number", "value": text}] if text.startswith("SBX") else [])
    tracker = conversation.tracker("inform", {}, text, entities)
    extracted = asyncio.run(ValidateSurrenderForm().extract_policy_number(CollectingDispatcher(), tracker, domain))
    assert (extracted == {"stage": "lookup_wanted"}) == stops, (text, extracted)
    assert bool(DONT_KNOW.match(text)) == stops or text.startswith("SBX")


@pytest.mark.parametrize("text, problem", [
    ("1370013700", "少了一位"), ("1370013700 31002X", "少了一位"), ("137001370000", "多了一位"),
    ("137 0013 700", "少了一位"), ("13700137000", None), ("SBX1000000000012", None), ("31002X", None),
])
def test_a_phone_one_digit_short_is_told_exactly(text, problem):
    from actions.lookup import phone_length_problem

    found = phone_length_problem(text)
    assert (found or {}).get("phone_problem") == problem
    if found:
        assert found["phone_masked"].startswith("137****") and "0013" not in found["phone_masked"]


def test_the_lookup_form_says_what_is_wrong_once_and_does_not_repeat_its_paragraph(domain):
    from rasa_sdk.executor import CollectingDispatcher

    from actions.lookup import ActionAskLookupPhone, ValidateLookupForm

    conversation = Conversation("short-phone", domain)
    conversation.slots["requested_slot"] = "lookup_phone"
    conversation.active_loop = "lookup_form"
    tracker = conversation.tracker("inform", {}, "1370013700")
    dispatcher = CollectingDispatcher()
    extracted = asyncio.run(ValidateLookupForm().extract_lookup_phone(dispatcher, tracker, domain))
    assert extracted == {"lookup_sms_code": None}  # the form does not reject the message
    [told] = dispatcher.messages
    assert told["response"] == "utter_lookup_phone_length"
    text = conversation.render(told)
    assert "少了一位" in text and "10位" in text and "1370013700" not in text

    # The form's question after that: nothing more in the same turn.
    tracker.events.append({"event": "bot", "text": text, "metadata": {"utter_action": "utter_lookup_phone_length"}})
    dispatcher = CollectingDispatcher()
    asyncio.run(ActionAskLookupPhone().run(dispatcher, tracker, domain))
    assert dispatcher.messages == []
    # Asked again on the next turn after the long paragraph: the short line.
    tracker = conversation.tracker("inform", {}, "嗯")
    tracker.events[:0] = [{"event": "user", "text": "我没有保单号"},
                          {"event": "bot", "text": "…", "metadata": {"utter_action": "utter_ask_lookup_phone"}}]
    dispatcher = CollectingDispatcher()
    asyncio.run(ActionAskLookupPhone().run(dispatcher, tracker, domain))
    assert responses(dispatcher.messages) == ["utter_ask_lookup_phone_again"]
    long = domain["responses"]["utter_ask_lookup_phone"][0]["text"]
    short = domain["responses"]["utter_ask_lookup_phone_again"][0]["text"]
    assert short != long and short not in long


@pytest.mark.parametrize("stage", ["locked", "insurer_down"])
def test_handback_after_a_lockout_or_a_fault_goes_on_with_the_surrender(insurer, domain, stage):
    """Issue 19.8: after the person hands back, the unfinished surrender goes on (its form is
    open again at the identity question), not "您想办理退保、查询进度…？"."""
    from actions.handoff import ActionHandback

    conversation = Conversation("wx-handback-resume", domain)
    conversation.slots.update({"stage": stage, "policy_number": "SBX1000000000012", "id_suffix": "******"})
    events, said = asyncio.run(conversation.run(ActionHandback(), intent="inform", text=""))
    assert responses(said) == ["utter_handback_bot_back", "utter_handback_resume_surrender",
                               "utter_ask_id_suffix", "utter_ask_agent_rating"]
    assert "SBX1********0012" in conversation.render(said[1])
    assert "utter_how_can_i_help" not in responses(said)
    values = slot_values(events)
    assert values["stage"] is None and values["requested_slot"] == "id_suffix" and values["id_suffix"] is None
    assert {"event": "active_loop", "name": "surrender_form"} in [
        {k: e.get(k) for k in ("event", "name")} for e in events]


def test_how_long_while_waiting_for_a_person_tells_the_place_not_the_refund_time(insurer, domain):
    """Issue 19.7: "还要等多久" (read as a refund-time question) while queued."""
    from actions.quote import ActionAnswerRefundTime

    conversation = Conversation("wx-how-long", domain)
    events, said = asyncio.run(conversation.run(ActionHandoff(), intent="request_human", text="转人工"))
    conversation.slots["handoff_reference"] = slot_values(events)["handoff_reference"]
    _, said = asyncio.run(conversation.run(ActionAnswerRefundTime(), intent="ask_refund_time", text="还要等多久"))
    assert responses(said) == ["utter_handoff_already_queued", "utter_handoff_queue_place"]
    assert "第1位" in conversation.render(said[1])
    # The money question is still the money question.
    _, said = asyncio.run(conversation.run(ActionAnswerRefundTime(), intent="ask_refund_time", text="钱多久到账"))
    assert responses(said) == ["utter_refund_time_general"]
