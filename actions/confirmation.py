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
from typing import List, Optional, Text

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

YES, NO, UNCLEAR = "yes", "no", "unclear"
# Each confirmation prompt, and how it is asked again when the answer says neither yes nor no.
ASK_AGAIN = {
    "quote_ready": "utter_confirm_surrender_again",
    "withdraw_ready": "utter_confirm_withdraw_again",
    "confirm_erasure": "utter_confirm_erasure_again",
}
CONFIRMATION_STAGES = tuple(ASK_AGAIN)

_REFUSAL = re.compile(
    r"别|先不|暂时不|不要|不用|不了|不行|不对|不同意|不确认|不提交|不交|不撤|不办|不(想)?退|缓缓|缓一缓|"
    r"再想|再考虑|考虑一下|想想|再看看|看看再说|等等|等一下|稍等|hold|wait|\bno\b|nope|算了", re.IGNORECASE)
_AGREEMENT = re.compile(
    r"好|行|妥|可以|阔以|确认|确定|同意|没问题|没毛病|交吧|提交|办吧|撤吧|撤销吧|就这样|是的|对的|"
    r"嗯|中|\bok\b|okay|okk|yes|yep|👌|👍|✅", re.IGNORECASE)
# At the withdrawal prompt, asking to withdraw again is a yes ("撤销", "不想退了，撤了吧"), and
# the 不 of "不退了" belongs to the surrender, not to the answer: removed before looking for a
# refusal there.
_SURRENDER_NEGATIONS = re.compile(r"不(想)?退(了|保)?|不要退")
_WITHDRAWAL = re.compile(r"撤|取消|作废|不(想)?退|不要退")
# At the erasure prompt 取消 cancels the erasure, and 删 on its own agrees ("删吧", "删掉").
_ERASURE_REFUSAL = re.compile(r"取消|撤|不删|保留|留着")
_ERASURE_AGREEMENT = re.compile(r"删")
_QUESTION = re.compile(r"[?？吗呢]|什么|怎么|为啥|能不能|会不会|是不是|可不可以|行不行")


def read_answer(text: Optional[str], stage: Optional[str], intent: Optional[str] = None) -> str:
    """``yes``, ``no`` or ``unclear`` for an answer given at the prompt of ``stage``.

    ``intent`` is the NLU's reading of the message: affirm (a tapped 确认 button, "对") counts
    as agreement unless the words refuse — every prompt sends affirm here, since the NLU takes
    "确认，不退了" for affirm now and then."""
    words = (text or "").strip()
    withdrawing = stage == "withdraw_ready"
    erasing = stage == "confirm_erasure"
    if withdrawing:
        words = _SURRENDER_NEGATIONS.sub("", words)
    if _REFUSAL.search(words) or (erasing and _ERASURE_REFUSAL.search(words)):
        return NO
    if erasing and _QUESTION.search(words):
        return UNCLEAR
    if (_AGREEMENT.search(words) or intent == "affirm"
            or (withdrawing and _WITHDRAWAL.search(text or ""))
            or (erasing and _ERASURE_AGREEMENT.search(words))):
        return YES
    return UNCLEAR


class ActionReadConfirmation(Action):
    """Sets ``confirmation`` from the words of the answer; asks again when they say neither."""

    def name(self) -> Text:
        return "action_read_confirmation"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                  domain: DomainDict) -> List[EventType]:
        stage = tracker.get_slot("stage")
        message = tracker.latest_message or {}
        reading = read_answer(message.get("text"), stage, (message.get("intent") or {}).get("name"))
        if stage not in CONFIRMATION_STAGES:
            reading = UNCLEAR
        if reading == UNCLEAR:
            dispatcher.utter_message(response=ASK_AGAIN.get(stage, "utter_confirm_surrender_again"))
        return [SlotSet("confirmation", reading)]


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
