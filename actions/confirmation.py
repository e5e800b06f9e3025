"""Reading an answer at a confirmation prompt, and hearing the complaint around a request.

At a confirmation prompt (``stage`` quote_ready: "确认要退保吗？"; withdraw_ready: "确认撤销吗？";
confirm_erasure: "确认要删除吗？") what the user means is almost always yes or no. The NLU reads
"好滴", "妥了交吧", "谢谢 交吧" as goodbye or thanks now and then; the rules send those intents
(and, at the withdrawal prompt, withdraw_surrender) here instead of to the goodbye, and this
action decides from the words:

- a refusal word (别, 先不, 缓缓, 再想想, 等等, 不要 …) → ``confirmation: no``;
- an agreement word (好, 行, 妥, 可以, 确认, 交吧, ok, 👌 …; at the withdrawal prompt also
  the withdrawal asked for again: 撤销, 不退了) → ``confirmation: yes``;
- neither ("拜拜", "谢谢") → ``confirmation: unclear``: the question is asked again, plainly.
  Nothing is submitted or withdrawn on a bare goodbye, and the chat does not end.

Refusal is read first: "好的，先别交" is a no. The rules then submit, drop the quote, withdraw or
keep the case (stories/rules.yml, "at a confirmation"). The NLU's affirm comes here too, at every
prompt: "确认，不退了" is read as affirm now and then, and a surrender submitted against the
user's words is the costliest mistake the assistant can make (at the withdrawal prompt, the 不退
of "好的，不退了" belongs to the surrender and is a yes).

An erasure cannot be undone, so at its prompt every answer but a plain no is read here, affirm
and delete_my_data included (the NLU takes "确认，不删了" as affirm and "不要删除我的信息" as
delete_my_data): 取消, 不删, 保留 are a no too, 删 (删吧, 删除我的信息 again) a yes, the NLU's
affirm (the 确认删除 button, "对") a yes unless the words refuse, and a question ("删了还能恢复吗")
is not an answer: it is asked again.
"""
from __future__ import annotations

import re
from typing import Any, Dict, List, Optional, Text

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from actions import wording
from actions.yes_no import CONFIRMATION_STAGES, NO, UNCLEAR, YES, is_plain_answer, read_answer
from ground.stages import Stage

__all__ = ["YES", "NO", "UNCLEAR", "CONFIRMATION_STAGES", "read_answer", "is_plain_answer",
           "prompt_just_shown", "ActionReadConfirmation"]

# Each confirmation prompt, and how it is asked again when the answer says neither yes nor no.
ASK_AGAIN = {
    Stage.QUOTE_READY: "utter_confirm_surrender_again",
    Stage.WITHDRAW_READY: "utter_confirm_withdraw_again",
    Stage.CONFIRM_ERASURE: "utter_confirm_erasure_again",
}
# The bot messages that put the question of each prompt (the first time, again, or after a
# question answered meanwhile): a yes counts only when one of them was the bot's last turn.
PROMPTS = {
    Stage.QUOTE_READY: {"utter_ask_confirm_surrender", "utter_ask_confirm_surrender_cover_ends",
                        "utter_confirm_surrender_again", "utter_confirm_surrender_stale"},
    Stage.WITHDRAW_READY: {"utter_ask_confirm_withdraw", "utter_confirm_withdraw_again",
                       "utter_confirm_withdraw_stale"},
    Stage.CONFIRM_ERASURE: {"utter_confirm_erasure", "utter_confirm_erasure_again"},
}
# A yes that comes after the conversation moved on is not a yes to the prompt: the prompt is
# shown again, naming what it is about, and the next yes counts.
STALE = {
    Stage.QUOTE_READY: "utter_confirm_surrender_stale",
    Stage.WITHDRAW_READY: "utter_confirm_withdraw_stale",
    Stage.CONFIRM_ERASURE: "utter_confirm_erasure_again",
}


def prompt_just_shown(events: List[Dict[str, Any]], stage: Optional[str]) -> bool:
    """Whether the bot's turn just before the latest user message asked the question of
    ``stage`` (issue 18.1: after a quote the user sent another policy number and was asked what
    they wanted; a later "好的" answered that, not the quote)."""
    prompts = PROMPTS.get(stage or "", set())
    seen_latest_user = False
    for event in reversed(events or []):
        kind = event.get("event")
        if kind == "user":
            if seen_latest_user:
                return False
            seen_latest_user = True
        elif seen_latest_user and kind == "bot":
            if (event.get("metadata") or {}).get("utter_action") in prompts:
                return True
    return False


class ActionReadConfirmation(Action):
    """Sets ``confirmation`` from the words of the answer; asks again when they say neither.
    A yes counts only as the answer to the prompt the bot has just shown; a no always counts
    (nothing happens on a no)."""

    def name(self) -> Text:
        return "action_read_confirmation"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                  domain: DomainDict) -> List[EventType]:
        stage = tracker.get_slot("stage")
        message = tracker.latest_message or {}
        reading = read_answer(message.get("text"), stage, (message.get("intent") or {}).get("name"))
        if stage not in CONFIRMATION_STAGES:
            reading = UNCLEAR
        if reading == YES and not prompt_just_shown(tracker.events, stage):
            dispatcher.utter_message(response=STALE[stage], **_about(tracker, stage))
            return [SlotSet("confirmation", UNCLEAR)]
        if reading == UNCLEAR:
            dispatcher.utter_message(response=ASK_AGAIN.get(stage, "utter_confirm_surrender_again"))
        return [SlotSet("confirmation", reading)]


def _about(tracker: Tracker, stage: str) -> Dict[str, Any]:
    """What the prompt is about, named the way the product names it (masked)."""
    if stage == Stage.QUOTE_READY:
        quote = tracker.get_slot("quote") or {}
        return wording.quote_summary(quote)
    if stage == Stage.WITHDRAW_READY:
        return {"case_number": tracker.get_slot("case_number") or ""}
    return {}


# A request wrapped in a complaint ("热线打了三天都没人接，烦死了，帮我退掉"): the request is
# done, and the complaint is heard in the same answer.
_COMPLAINT = re.compile(
    r"投诉|举报|曝光|12378|12315|气死|生气|烦死|烦人|受够|恶心|坑|骗|忽悠|垃圾|破公司|什么破|"
    r"太差|差评|无语|打不通|没人接|占线|没人理|没人回|拖了|刁难|怎么回事|搞什么|😡|😤|💢")
COMPLAINT_SCORE = 0.15  # the NLU's second opinion: complain ranked this high counts too


def sounds_like_complaint(text: Optional[str], intent_ranking: Optional[list] = None) -> bool:
    """Whether a message that asks for something also complains."""
    if _COMPLAINT.search(text or ""):
        return True
    return any(item.get("name") == "complain" and (item.get("confidence") or 0) >= COMPLAINT_SCORE
               for item in intent_ranking or [])


def acknowledge_complaint(dispatcher: CollectingDispatcher, tracker: Tracker) -> bool:
    """Says the complaint was heard (one sentence, before the request is handled)."""
    message = tracker.latest_message or {}
    if sounds_like_complaint(message.get("text"), message.get("intent_ranking")):
        dispatcher.utter_message(response="utter_complaint_heard")
        return True
    return False
