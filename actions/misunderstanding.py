"""Misunderstandings: the first one asks to rephrase, the second in a row reaches a person.

``misunderstood`` is set here on a first misunderstanding and reset by its slot mapping on
any message the NLU understood, so rules can tell "twice in a row" from "once".
"""
from __future__ import annotations

import re
from typing import List, Text

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict


# How to go on, in the words people use while a surrender waits for its next answer: 怎么退,
# 咋办, 下一步, 接下来, 然后呢.
GOES_ON_WORDS = re.compile(r"(怎么|咋|如何|要怎样)(退|办|弄|操作)|下一步|接下来|然后呢")


class ActionAskToRephrase(Action):
    """Say we did not understand and remember it for the next message."""

    def name(self) -> Text:
        return "action_ask_to_rephrase"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                  domain: DomainDict) -> List[EventType]:
        dispatcher.utter_message(response=self._answer(tracker))
        return [SlotSet("misunderstood", True)]

    @staticmethod
    def _answer(tracker: Tracker) -> Text:
        """While the surrender form waits for an answer, a message the model could not place but
        that asks how to go on ("那我现在怎么退" after a hand-back, the journeys' finding 5) is
        told the surrender goes on; the form then asks its question again. Read from the words,
        not the model: the same answer whether the model was sure of request_surrender (the
        form's own GOES_ON_INTENTS) or fell back."""
        text = (tracker.latest_message or {}).get("text") or ""
        if ((tracker.active_loop or {}).get("name") == "surrender_form"
                and tracker.get_slot("requested_slot") and GOES_ON_WORDS.search(text)):
            return "utter_form_goes_on"
        return "utter_please_rephrase"
