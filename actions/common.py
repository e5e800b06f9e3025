"""Small pieces several actions share: slot resets and the answers to insurer outcomes that
end a step the same way everywhere (session expired, insurer down, not eligible)."""
from __future__ import annotations

from typing import Any, Dict, List

from rasa_sdk import Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher

from ground.stages import Stage
from insurers.base import NotEligible

NOT_ELIGIBLE_RESPONSES = {
    "terminated": "utter_not_eligible_terminated",
    "case_open": "utter_not_eligible_case_open",
    "not_policyholder": "utter_not_eligible_not_policyholder",
}


# A question answered while a confirmation is pending ends by asking for it again, so the user
# never has to guess where the conversation stands.
PENDING_CONFIRMATION = {
    Stage.QUOTE_READY: "utter_ask_confirm_surrender",
    Stage.WITHDRAW_READY: "utter_ask_confirm_withdraw",
}


def ask_pending_confirmation(dispatcher: CollectingDispatcher, tracker: Tracker) -> None:
    """Repeat the open yes/no question (surrender or withdrawal), if one is waiting."""
    response = PENDING_CONFIRMATION.get(tracker.get_slot("stage"))
    if response:
        dispatcher.utter_message(response=response)


def slot_events(values: Dict[str, Any]) -> List[EventType]:
    return [SlotSet(name, value) for name, value in values.items()]


def forget_identity_events() -> List[EventType]:
    """Clear everything the identity check left behind, so the next form asks again."""
    from actions.forms import _forget_identity

    return slot_events(_forget_identity())


def session_expired(dispatcher: CollectingDispatcher) -> List[EventType]:
    """The insurer no longer accepts the holder's session: check identity again."""
    dispatcher.utter_message(response="utter_session_expired")
    return forget_identity_events() + [SlotSet("stage", Stage.REVERIFY)]


def insurer_down() -> List[EventType]:
    """The handoff action apologises and says what to do next (rules run it right after)."""
    return [SlotSet("stage", Stage.INSURER_DOWN)]


def not_eligible(dispatcher: CollectingDispatcher, outcome: NotEligible) -> List[EventType]:
    """Say why the policy cannot be surrendered now; name the open case if there is one."""
    response = NOT_ELIGIBLE_RESPONSES.get(outcome.reason)
    if response is None:
        dispatcher.utter_message(response="utter_not_eligible_other", insurer_message=outcome.message)
    elif outcome.reason == "case_open":
        dispatcher.utter_message(response=response, case_number=outcome.open_case_number or "")
    else:
        dispatcher.utter_message(response=response)
    events: List[EventType] = [SlotSet("stage", Stage.NOT_ELIGIBLE), SlotSet("quote", None)]
    if outcome.open_case_number:
        # Lets "查进度" / "撤销" right after go straight to that case.
        events.append(SlotSet("case_number", outcome.open_case_number))
    return events
