"""Handing the conversation to a person.

Until the agent console exists, the user is told how to reach a person (the insurer's hotline
from the registry, or the configured fallback) and the request is queued in the handoff store
(``actions.handoff_store``) for the console to pick up. Only masked data is stored.
"""
from __future__ import annotations

import logging
from typing import List, Optional, Text

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from actions import insurer_calls
from actions.config import load_settings
from actions.handoff_store import record_handoff_async
from redaction import mask_policy_number

log = logging.getLogger(__name__)

INTENT_REASONS = {"request_human": "user_request", "complain": "complaint",
                  "nlu_fallback": "misunderstood"}
STAGE_REASONS = {"locked": "identity_locked", "insurer_down": "insurer_unavailable"}


def handoff_reason(tracker: Tracker) -> str:
    """Why a person is needed: what the user just said wins over the state it happened in."""
    intent = (tracker.latest_message.get("intent") or {}).get("name")
    if intent in INTENT_REASONS:
        return INTENT_REASONS[intent]
    return STAGE_REASONS.get(tracker.get_slot("stage"), "user_request")


class ActionHandoff(Action):
    """Queue a request for a person and tell the user how to reach one right now."""

    def name(self) -> Text:
        return "action_handoff"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                  domain: DomainDict) -> List[EventType]:
        reason = handoff_reason(tracker)
        policy: Optional[str] = tracker.get_slot("policy_number")
        case_number: Optional[str] = tracker.get_slot("case_number")
        contact = insurer_calls.contact_for(policy, case_number)
        reference = ""
        try:
            request_id = await record_handoff_async(
                load_settings().handoff_db_url,
                conversation_id=tracker.sender_id,
                reason=reason,
                policy_number_masked=mask_policy_number(policy) if policy else None,
                case_number=case_number,
                last_message=tracker.latest_message.get("text"),
            )
            reference = f"RG{request_id:06d}"
        except Exception:  # the user must still learn how to reach a person
            log.exception("could not queue the handoff of a conversation")
        response = f"utter_handoff_{reason}"
        if reference:
            dispatcher.utter_message(response=response, service_name=contact.name,
                                     hotline=contact.hotline, handoff_reference=reference)
        else:
            dispatcher.utter_message(response="utter_handoff_unrecorded",
                                     service_name=contact.name, hotline=contact.hotline)
        return [SlotSet("handoff_reference", reference or None)]
