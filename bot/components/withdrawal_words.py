"""A withdrawal needs words that say so (issue 19.1).

Right after filing a case, 王芳 typed "恒信那张也退了吧"; the classifier read it as withdrawing
the case just filed (93 % sure) and one tap withdrew it. Undoing the user's own last act needs
words that undo: 撤 (撤销/撤回), 取消, 不退, 不要退, 留着, 保留, 反悔, 后悔, 作废, cancel, withdraw …
A message the classifier calls withdraw_surrender without any of them, that asks for a 退
("也退了吧", "那张也退掉"), is a surrender request (of the policy or insurer it names); without
a 退 either, it is left as it is. A request to surrender that names a policy by its insurer or
kind of cover ("恒信那张也退了吧", "医疗险也退掉") read as affirm, inform or not understood is a
surrender request too.

Config name ``bot.components.withdrawal_words.WithdrawalNeedsItsWords``, after the
FallbackClassifier (a message the fallback took stays nlu_fallback). Nothing to train: the same
on every machine.
"""
from __future__ import annotations

import re
from typing import Any, Dict, List, Text

from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.shared.nlu.constants import INTENT, INTENT_NAME_KEY, INTENT_RANKING_KEY, TEXT
from rasa.shared.nlu.training_data.message import Message

WITHDRAW, SURRENDER = "withdraw_surrender", "request_surrender"
WITHDRAWAL_WORDS = re.compile(
    r"撤|取消|作废|反悔|后悔|收回|不(想|要|再|用|打算)?退|别退|不.{0,4}退|留着|保留|不弄了|不办了|停下|"
    r"停掉|停止|终止申请|不要了|算了|cancel|withdraw|revoke|undo", re.IGNORECASE)
ASKS_TO_SURRENDER = re.compile(r"退(?![款钱费])")
# A policy named by its insurer or its kind of cover ("恒信那张", "医疗险", "重疾那份").
NAMES_A_POLICY = re.compile(r"恒信|沙箱|(医疗|意外|重疾|旅行|旅游|寿|年金|养老)险?(那|这|的)?(张|份|个)|"
                            r"(医疗|意外|重疾|旅行|旅游|年金|养老)险")
# What the classifier may make of "恒信那张也退了吧" besides a surrender request.
MISREAD_AS = {WITHDRAW, "affirm", "inform", "nlu_fallback", "goodbye", "thank"}


def says_withdrawal(text: str) -> bool:
    return bool(WITHDRAWAL_WORDS.search(text or ""))


def corrected_intent(text: str, intent: str) -> str:
    """The intent to act on: ``intent`` unless it is a withdrawal the words do not say, or a
    request to surrender a policy named by insurer or product read as something else."""
    text = text or ""
    if says_withdrawal(text) or not ASKS_TO_SURRENDER.search(text):
        return intent
    if intent == WITHDRAW or (intent in MISREAD_AS and NAMES_A_POLICY.search(text)):
        return SURRENDER
    return intent


@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.INTENT_CLASSIFIER, is_trainable=False)
class WithdrawalNeedsItsWords(GraphComponent):
    @classmethod
    def create(cls, config: Dict[Text, Any], model_storage: ModelStorage, resource: Resource,
               execution_context: ExecutionContext) -> "WithdrawalNeedsItsWords":
        return cls()

    def process(self, messages: List[Message]) -> List[Message]:
        for message in messages:
            intent = message.get(INTENT) or {}
            name = intent.get(INTENT_NAME_KEY)
            corrected = corrected_intent(message.get(TEXT) or "", name)
            if corrected == name:
                continue
            message.set(INTENT, {**intent, INTENT_NAME_KEY: corrected}, add_to_output=True)
            ranking = [dict(item) for item in message.get(INTENT_RANKING_KEY) or []]
            for item in ranking:  # the two swap places, confidences stay
                if item.get(INTENT_NAME_KEY) == name:
                    item[INTENT_NAME_KEY] = corrected
                elif item.get(INTENT_NAME_KEY) == corrected:
                    item[INTENT_NAME_KEY] = name
            if ranking:
                message.set(INTENT_RANKING_KEY, ranking, add_to_output=True)
        return messages
