"""Answers at a confirmation prompt read by the dialogue (actions.confirmation), and the
complaint around a request heard in the same answer that starts it."""
from __future__ import annotations

import asyncio

import pytest

from actions.cases import ActionStartCaseRequest
from actions.confirmation import NO, UNCLEAR, YES, ActionReadConfirmation, read_answer
from actions.surrender import ActionStartSurrender
from tests.actions.conversation import Conversation


@pytest.mark.parametrize("text", ["好滴", "好滴 谢谢", "妥了，交吧", "行 交吧", "ok 👌", "嗯嗯 可以",
                                  "阔以", "没问题，提交", "好的谢谢", "确认 拜拜"])
def test_agreement_at_the_quote_is_yes(text):
    assert read_answer(text, "quote_ready") == YES


@pytest.mark.parametrize("text", ["先缓缓别交", "好的 先别交", "谢谢 先不交了", "我再想想 拜拜", "等等",
                                  "不用了谢谢", "好的谢谢，我再看看", "算了 再见"])
def test_refusal_at_the_quote_is_no_even_with_a_yes_word(text):
    assert read_answer(text, "quote_ready") == NO


@pytest.mark.parametrize("text, intent, reading", [
    ("确认，不退了", "affirm", NO), ("好的，我不想退了", "affirm", NO), ("对 先别提交", "affirm", NO),
    ("确认", "affirm", YES), ("对", "affirm", YES), ("/affirm", "affirm", YES), ("是", "affirm", YES),
])
def test_an_nlu_affirm_at_the_quote_still_refuses_when_the_words_do(text, intent, reading):
    assert read_answer(text, "quote_ready", intent) == reading


@pytest.mark.parametrize("text", ["拜拜", "谢谢", "再见👋", "thanks"])
def test_a_bare_goodbye_or_thanks_is_unclear(text):
    assert read_answer(text, "quote_ready") == UNCLEAR


@pytest.mark.parametrize("text, reading", [
    ("不想退了，撤了吧", YES), ("好滴 撤吧", YES), ("撤销撤销", YES), ("不退了", YES), ("谢谢", UNCLEAR), ("先别撤", NO),
    ("别撤销 我再看看", NO), ("不撤了 留着", NO), ("妥了", YES),
])
def test_at_the_withdrawal_prompt_the_no_of_the_surrender_is_not_a_no(text, reading):
    assert read_answer(text, "withdraw_ready") == reading



# At the erasure prompt: (words, what the NLU may make of them, reading). Every answer but deny
# comes here, so the NLU's affirm and delete_my_data are overruled by words that refuse.
@pytest.mark.parametrize("text, intent, reading", [
    ("取消", "nlu_fallback", NO), ("取消", "withdraw_surrender", NO), ("算了", "nlu_fallback", NO),
    ("不删了", "nlu_fallback", NO), ("先不要", "nlu_fallback", NO), ("别删 拜拜", "goodbye", NO),
    ("确认，不删了", "affirm", NO), ("好吧还是不删了", "affirm", NO), ("还是保留吧", "affirm", NO),
    ("不要删除我的信息", "delete_my_data", NO), ("撤销", "withdraw_surrender", NO),
    ("确认删除", "affirm", YES), ("删吧", "nlu_fallback", YES), ("好的", "affirm", YES),
    ("还是删了吧", "nlu_fallback", YES), ("删除我的信息", "delete_my_data", YES),
    ("对", "affirm", YES), ("/affirm", "affirm", YES),  # the 确认删除 button
    ("拜拜", "goodbye", UNCLEAR), ("谢谢", "thank", UNCLEAR), ("嗯？", "nlu_fallback", UNCLEAR),
    ("删了以后还能恢复吗", "nlu_fallback", UNCLEAR), ("删什么？", "delete_my_data", UNCLEAR),
    ("你们是谁", "nlu_fallback", UNCLEAR),
])
def test_at_the_erasure_prompt_only_a_plain_yes_erases(text, intent, reading):
    assert read_answer(text, "confirm_erasure", intent) == reading


# The question each prompt puts, as the bot's turn right before the answer.
PROMPT_SHOWN = {"quote_ready": "utter_ask_confirm_surrender", "withdraw_ready": "utter_ask_confirm_withdraw",
                "confirm_erasure": "utter_confirm_erasure"}


def _run(action, domain, text, intent, stage, ranking=None, prompted=True):
    conversation = Conversation("confirm-user", domain)
    conversation.slots["stage"] = stage
    tracker = conversation.tracker(intent, {}, text)
    if prompted and stage in PROMPT_SHOWN:
        tracker.events.insert(0, {"event": "bot", "text": "…", "metadata": {"utter_action": PROMPT_SHOWN[stage]}})
    if ranking is not None:
        tracker.latest_message["intent_ranking"] = ranking
    from rasa_sdk.executor import CollectingDispatcher

    dispatcher = CollectingDispatcher()
    events = asyncio.run(action.run(dispatcher, tracker, domain))
    return events, [m.get("response") for m in dispatcher.messages]


def test_action_sets_the_reading_and_only_asks_again_when_unclear(domain):
    events, said = _run(ActionReadConfirmation(), domain, "好滴", "thank", "quote_ready")
    assert events == [{"event": "slot", "timestamp": None, "name": "confirmation", "value": "yes"}]
    assert said == []
    events, said = _run(ActionReadConfirmation(), domain, "拜拜", "goodbye", "quote_ready")
    assert events[0]["value"] == "unclear" and said == ["utter_confirm_surrender_again"]
    events, said = _run(ActionReadConfirmation(), domain, "谢谢", "thank", "withdraw_ready")
    assert events[0]["value"] == "unclear" and said == ["utter_confirm_withdraw_again"]
    # Nothing pending: never a yes.
    events, _ = _run(ActionReadConfirmation(), domain, "好滴", "thank", None)
    assert events[0]["value"] == "unclear"
    events, _ = _run(ActionReadConfirmation(), domain, "/affirm", "affirm", None)
    assert events[0]["value"] == "unclear"


def test_at_the_erasure_prompt_the_action_reads_the_nlu_affirm_and_asks_again_when_unclear(domain):
    events, said = _run(ActionReadConfirmation(), domain, "确认，不删了", "affirm", "confirm_erasure")
    assert events == [{"event": "slot", "timestamp": None, "name": "confirmation", "value": "no"}]
    assert said == []
    events, said = _run(ActionReadConfirmation(), domain, "/affirm", "affirm", "confirm_erasure")
    assert events[0]["value"] == "yes" and said == []
    events, said = _run(ActionReadConfirmation(), domain, "删了以后还能恢复吗", "nlu_fallback",
                        "confirm_erasure")
    assert events[0]["value"] == "unclear" and said == ["utter_confirm_erasure_again"]


def test_asking_again_says_nothing_was_submitted_and_how_to_answer(domain):
    for name in ("utter_confirm_surrender_again", "utter_confirm_withdraw_again",
                 "utter_confirm_erasure_again"):
        text = domain["responses"][name][0]["text"]
        assert "还没有" in text and "确认" in text and "你" not in text
    again = domain["responses"]["utter_confirm_erasure_again"][0]
    assert "没有删除" in again["text"] and "取消" in again["text"]
    # Words, not intent payloads: the yes/no reader reads them like typed words.
    assert [b["payload"] for b in again["buttons"]] == ["确认删除", "取消"]


def test_a_complaint_around_a_surrender_request_is_heard_before_the_surrender_starts(domain):
    _, said = _run(ActionStartSurrender(), domain, "热线打了三天都没人接，烦死了，帮我把这份保险退掉",
                   "request_surrender", None)
    assert said == ["utter_complaint_heard", "utter_start_surrender"]
    text = domain["responses"]["utter_complaint_heard"][0]["text"]
    assert "抱歉" in text and "投诉" in text


def test_the_nlu_second_opinion_counts_as_a_complaint_too(domain):
    ranking = [{"name": "request_surrender", "confidence": 0.7}, {"name": "complain", "confidence": 0.25}]
    _, said = _run(ActionStartSurrender(), domain, "这份保险给我退了", "request_surrender", None, ranking)
    assert said[0] == "utter_complaint_heard"


def test_a_plain_request_gets_no_apology(domain):
    ranking = [{"name": "request_surrender", "confidence": 0.97}, {"name": "complain", "confidence": 0.01}]
    _, said = _run(ActionStartSurrender(), domain, "我想退保", "request_surrender", None, ranking)
    assert said == ["utter_start_surrender"]


def test_money_not_arrived_with_a_complaint_looks_the_case_up_and_hears_it(domain):
    _, said = _run(ActionStartCaseRequest(), domain, "钱到现在还没到，你们怎么回事",
                   "check_surrender_status", None)
    assert said == ["utter_complaint_heard"]
