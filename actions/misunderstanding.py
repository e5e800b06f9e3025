"""Misunderstandings: the first one asks to rephrase, the second in a row reaches a person.

``misunderstood`` is set here on a first misunderstanding and reset by its slot mapping on
any message the NLU understood, so rules can tell "twice in a row" from "once".
"""
from __future__ import annotations

from typing import List, Text

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict


class ActionAskToRephrase(Action):
    """Say we did not understand and remember it for the next message."""

    def name(self) -> Text:
        return "action_ask_to_rephrase"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                  domain: DomainDict) -> List[EventType]:
        dispatcher.utter_message(response="utter_please_rephrase")
        return [SlotSet("misunderstood", True)]
