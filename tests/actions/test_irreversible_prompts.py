"""Every prompt that submits, withdraws, erases or keeps something, with every listed yes and no
word (issue 17): read from the words, before any intent, the same on every machine.

Three layers, none of them uses the trained model:
- ``actions.yes_no.read_answer`` / ``is_plain_answer``: the words;
- ``bot.confirmation_policy.ConfirmationPolicy`` on a real ``DialogueStateTracker``: a plain
  answer goes to ``action_read_confirmation`` whatever intent the classifier gave it (the
  failing case: "取消" at the erasure prompt, classified as request_surrender on another machine);
- ``action_read_confirmation`` through ``Tracker.from_dict`` + ``CollectingDispatcher``: the slot
  the rules act on, and what the user is told.
"""
from __future__ import annotations

import asyncio
from typing import Any, Dict, List, Optional

import pytest
from rasa_sdk import Tracker
from rasa_sdk.executor import CollectingDispatcher

from actions.confirmation import ActionReadConfirmation
from actions.yes_no import NO, UNCLEAR, YES, is_plain_answer, read_answer

YES_WORDS = ["确认", "好的", "好", "对", "是的", "可以", "嗯", "行", "没问题", "OK", "ok", "好的，确认", "嗯嗯"]
NO_WORDS = ["取消", "算了", "不要", "不用", "不了", "不退了", "不删了", "先不要", "再想想", "不确认",
            "先不退了 我再想想", "我考虑考虑",
            "确认不退了", "不要删除", "算了吧", "不用了谢谢"]
PROMPTS = {"quote_ready": "utter_ask_confirm_surrender", "withdraw_ready": "utter_ask_confirm_withdraw",
           "confirm_erasure": "utter_confirm_erasure"}
# Where a word means something else at one prompt (actions/yes_no.py's table): at the withdrawal
# prompt "不退了" asks to withdraw the surrender, and a bare "取消" (cancel the application, or
# the withdrawal?) is asked again.
EXCEPTIONS = {("withdraw_ready", "不退了"): YES, ("withdraw_ready", "确认不退了"): YES,
              ("withdraw_ready", "取消"): UNCLEAR}
# Each prompt's own buttons send words, read like typed words.
BUTTONS = [("quote_ready", "确认退保", YES), ("quote_ready", "不退了", NO),
           ("withdraw_ready", "确认撤销申请", YES), ("withdraw_ready", "不撤销", NO),
           ("confirm_erasure", "确认删除", YES), ("confirm_erasure", "取消", NO)]
CASES = ([(stage, word, EXCEPTIONS.get((stage, word), YES)) for stage in PROMPTS for word in YES_WORDS]
         + [(stage, word, EXCEPTIONS.get((stage, word), NO)) for stage in PROMPTS for word in NO_WORDS]
         + BUTTONS)
# Whatever the classifier makes of the words, and on whichever machine.
INTENTS = ["affirm", "deny", "request_surrender", "withdraw_surrender", "nlu_fallback", "delete_my_data", "goodbye"]


@pytest.mark.parametrize("stage, word, expected", CASES)
def test_the_words_decide(stage, word, expected):
    assert is_plain_answer(word, stage), word
    for intent in INTENTS + [None]:
        assert read_answer(word, stage, intent) == expected, (word, intent)


@pytest.mark.parametrize("text", ["我想确认一下我的保单还有效吗", "好的 SBX2000000000043", "恒信那张也退了吧",
                                  "那医疗险那张还是要退", "好的，多久到账？", "删了还能恢复吗", "转人工"])
@pytest.mark.parametrize("stage", list(PROMPTS))
def test_what_is_more_than_a_yes_or_no_is_left_to_the_nlu(stage, text):
    assert not is_plain_answer(text, stage)


def test_nothing_is_read_where_no_prompt_is_pending():
    assert not is_plain_answer("取消", None) and not is_plain_answer("确认", "submitted")


# ---------------------------------------------------------------- the policy, before any intent
@pytest.fixture(scope="module")
def rasa_domain():
    from rasa.shared.core.domain import Domain

    from tests.actions.conftest import ROOT

    return Domain.load(str(ROOT / "domain.yml"))


@pytest.fixture(scope="module")
def policy():
    from rasa.engine.graph import ExecutionContext, GraphSchema
    from rasa.engine.storage.local_model_storage import LocalModelStorage
    from rasa.engine.storage.resource import Resource

    from bot.confirmation_policy import ConfirmationPolicy

    import tempfile
    storage = LocalModelStorage(tempfile.mkdtemp())
    return ConfirmationPolicy.create(ConfirmationPolicy.get_default_config(), storage,
                                     Resource("confirmation_policy"), ExecutionContext(GraphSchema({})))


def _rasa_tracker(rasa_domain, stage: Optional[str], text: str, intent: str, active_loop: Optional[str] = None):
    from rasa.shared.core.events import ActionExecuted, ActiveLoop, BotUttered, SlotSet, UserUttered
    from rasa.shared.core.trackers import DialogueStateTracker

    events = [ActionExecuted("action_listen")]
    if active_loop:
        events.append(ActiveLoop(active_loop))
    events += [SlotSet("stage", stage), BotUttered("…", metadata={"utter_action": PROMPTS.get(stage, "utter_greet")}),
               ActionExecuted("action_listen"),
               UserUttered(text, {"name": intent, "confidence": 0.93})]
    return DialogueStateTracker.from_events("policy-user", events, rasa_domain.slots)


def _predicted(policy, rasa_domain, tracker) -> Optional[str]:
    prediction = policy.predict_action_probabilities(tracker, rasa_domain)
    if prediction.max_confidence <= 0:
        return None
    return rasa_domain.action_names_or_texts[prediction.max_confidence_index]


@pytest.mark.parametrize("stage, word, expected", CASES)
def test_a_plain_answer_goes_to_the_reader_whatever_the_intent(policy, rasa_domain, stage, word, expected):
    for intent in INTENTS:
        tracker = _rasa_tracker(rasa_domain, stage, word, intent)
        assert _predicted(policy, rasa_domain, tracker) == "action_read_confirmation", (word, intent)
    assert policy.priority > 6  # above RulePolicy: at the same confidence (1.0) the reader wins


def test_the_policy_stays_out_of_everything_else(policy, rasa_domain):
    assert _predicted(policy, rasa_domain, _rasa_tracker(rasa_domain, None, "取消", "request_surrender")) is None
    assert _predicted(policy, rasa_domain, _rasa_tracker(rasa_domain, "submitted", "确认", "affirm")) is None
    assert _predicted(policy, rasa_domain,
                      _rasa_tracker(rasa_domain, "quote_ready", "恒信那张也退了吧", "request_surrender")) is None
    assert _predicted(policy, rasa_domain, _rasa_tracker(rasa_domain, "quote_ready", "确认", "affirm",
                                                         active_loop="surrender_form")) is None


# ---------------------------------------------------------------- the action: slot and words
def _tracker(stage: str, text: str, intent: str, prompt_shown: bool = True,
             slots: Optional[Dict[str, Any]] = None) -> Tracker:
    events: List[Dict[str, Any]] = [{"event": "action", "name": "action_listen"}]
    if prompt_shown:
        events.append({"event": "bot", "text": "…", "metadata": {"utter_action": PROMPTS[stage]}})
    else:  # the prompt, then the user went elsewhere and the bot answered that
        events += [{"event": "bot", "text": "…", "metadata": {"utter_action": PROMPTS[stage]}},
                   {"event": "action", "name": "action_listen"},
                   {"event": "user", "text": "SBX2000000000043", "parse_data": {"intent": {"name": "inform"}}},
                   {"event": "bot", "text": "您想办理退保、查询进度…？", "metadata": {"utter_action": "utter_how_can_i_help"}}]
    message = {"intent": {"name": intent, "confidence": 0.93}, "entities": [], "text": text}
    events += [{"event": "action", "name": "action_listen"}, {"event": "user", "text": text, "parse_data": message}]
    quote = {"policy_number": "SBX2000000000035", "product_name": "百万医疗险", "refund": "0.00", "quote_id": "q1"}
    return Tracker.from_dict({
        "sender_id": "prompt-user", "slots": {"stage": stage, "quote": quote, "case_number": "TB20261125000001",
                                              **(slots or {})},
        "latest_message": message, "events": events, "paused": False, "followup_action": None,
        "active_loop": {}, "latest_action_name": "action_listen"})


def _read(tracker: Tracker, domain):
    dispatcher = CollectingDispatcher()
    events = asyncio.run(ActionReadConfirmation().run(dispatcher, tracker, domain))
    return {e["name"]: e["value"] for e in events}, dispatcher.messages


ASKED_AGAIN = {"quote_ready": "utter_confirm_surrender_again", "withdraw_ready": "utter_confirm_withdraw_again",
               "confirm_erasure": "utter_confirm_erasure_again"}


@pytest.mark.parametrize("stage, word, expected", CASES)
def test_the_action_sets_what_the_rules_act_on(domain, stage, word, expected):
    for intent in INTENTS:
        slots, said = _read(_tracker(stage, word, intent), domain)
        assert slots == {"confirmation": expected}, (word, intent)
        assert [m["response"] for m in said] == ([ASKED_AGAIN[stage]] if expected == UNCLEAR else [])


@pytest.mark.parametrize("stage", ["quote_ready", "withdraw_ready", "confirm_erasure"])
@pytest.mark.parametrize("word", ["好的", "确认", "OK"])
def test_a_yes_after_the_conversation_moved_on_does_not_count(domain, stage, word):
    """Issue 18.1: quote, another policy number, "您想办理…", then "好的": not a submission."""
    slots, said = _read(_tracker(stage, word, "affirm", prompt_shown=False), domain)
    assert slots == {"confirmation": UNCLEAR}
    [again] = said
    if stage == "quote_ready":  # the read-back it would submit is named again, masked
        assert again["response"] == "utter_confirm_surrender_stale"
        assert again["policy"] == "百万医疗险，保单号 SBX2********0035" and again["refund"] == "¥0.00"
    elif stage == "withdraw_ready":
        assert again["response"] == "utter_confirm_withdraw_stale" and again["case_number"] == "TB20261125000001"
    else:
        assert again["response"] == "utter_confirm_erasure_again"


@pytest.mark.parametrize("stage", ["quote_ready", "withdraw_ready", "confirm_erasure"])
def test_a_no_always_counts(domain, stage):
    slots, _ = _read(_tracker(stage, "算了", "deny", prompt_shown=False), domain)
    assert slots == {"confirmation": NO}


def test_buttons_do_not_read_alike(domain):
    """Issue 19.1: the withdrawal's button does not read like the surrender's 确认."""
    titles = {name: [b["title"] for b in domain["responses"][name][0]["buttons"]]
              for name in ("utter_ask_confirm_surrender", "utter_ask_confirm_withdraw", "utter_confirm_erasure")}
    assert titles["utter_ask_confirm_surrender"][0] == "确认退保"
    assert titles["utter_ask_confirm_withdraw"][0] == "确认撤销申请"
    assert titles["utter_confirm_erasure"][0] == "确认删除"
    assert len({t[0] for t in titles.values()}) == 3


PROMPT_RESPONSES = {
    "quote_ready": ("utter_ask_confirm_surrender", "utter_confirm_surrender_again",
                    "utter_confirm_surrender_stale"),
    "withdraw_ready": ("utter_ask_confirm_withdraw", "utter_confirm_withdraw_again",
                       "utter_confirm_withdraw_stale"),
    "confirm_erasure": ("utter_confirm_erasure", "utter_confirm_erasure_again"),
}


@pytest.mark.parametrize("stage", list(PROMPT_RESPONSES))
def test_every_button_of_a_prompt_is_a_plain_answer_in_its_words_and_its_payload(domain, stage):
    """A tap reaches the bot as the button's words (what the user sees in their own bubble),
    with its payload beside them: both must be read, the same way, before any intent (the
    journeys of issue 19 found 「不撤销，继续办理」 tapped and answered with 没太明白)."""
    buttons = [b for name in PROMPT_RESPONSES[stage]
               for b in domain["responses"][name][0].get("buttons", [])]
    assert len(buttons) >= 2 * len(PROMPT_RESPONSES[stage]) - 1
    for button in buttons:
        title, payload = button["title"], button["payload"]
        assert is_plain_answer(title, stage) and is_plain_answer(payload, stage), button
        assert read_answer(title, stage) == read_answer(payload, stage) != UNCLEAR, button
