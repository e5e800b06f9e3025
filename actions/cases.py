"""Surrender cases after the fact: status and withdrawal, also in a later conversation."""
from __future__ import annotations

from typing import List, Optional, Text

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from actions import common, insurer_calls, wording
from actions.confirmation import acknowledge_complaint
from ground.stages import Stage
from insurers.base import CaseNotFound, NotRevocable, SessionExpired, SurrenderCase

CASE_REQUESTS = {"check_surrender_status": "status", "withdraw_surrender": "withdraw"}
CASE_REQUEST_HEARD = {"status": "utter_case_request_status", "withdraw": "utter_case_request_withdraw"}


class ActionStartCaseRequest(Action):
    """"查进度" or "撤销": remember which, and start the case form afresh. A policy or case
    number given right after a case was not found continues the same request."""

    def name(self) -> Text:
        return "action_start_case_request"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                  domain: DomainDict) -> List[EventType]:
        # "钱还没到，怎么回事": heard, then looked up.
        heard = acknowledge_complaint(dispatcher, tracker)
        intent = (tracker.latest_message.get("intent") or {}).get("name")
        asked = CASE_REQUESTS.get(intent)
        request = asked or tracker.get_slot("case_request") or "status"
        events: List[EventType] = [SlotSet("case_request", request), SlotSet("stage", None)]
        if asked and not heard and insurer_calls.verified_marker(tracker) is None:
            # The identity question comes next: first say what it is for, so that "查进度" or
            # "撤回" said at another form's question is seen to be heard (not the same question
            # back as if the words were lost).
            dispatcher.utter_message(response=CASE_REQUEST_HEARD[request])
        names_policy = next(tracker.get_latest_entity_values("policy_number"), None)
        names_case = next(tracker.get_latest_entity_values("case_number"), None)
        if names_policy and not names_case:
            # "SBX… 的退保进度": that policy's case, not one remembered from earlier.
            events.append(SlotSet("case_number", None))
        return events


def _adapter(tracker: Tracker, case_number: Optional[str], policy: Optional[str]):
    if case_number:
        return insurer_calls.adapter_for_case(case_number)
    return insurer_calls.adapter_for_policy(policy) if policy else None


class ActionCaseFollowup(Action):
    """After the identity check: show the case; for a withdrawal, ask to confirm it."""

    def name(self) -> Text:
        return "action_case_followup"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                  domain: DomainDict) -> List[EventType]:
        session = await insurer_calls.session_from(tracker)
        case_number = tracker.get_slot("case_number")
        policy = tracker.get_slot("policy_number") or (session.policy_number if session else None)
        adapter = _adapter(tracker, case_number, policy)
        if session is None or adapter is None:
            return common.session_expired(dispatcher)
        if case_number:
            outcome = await adapter.case_status(session, case_number)
        else:
            listed = await adapter.list_cases(session)
            if isinstance(listed, tuple):
                if not listed:
                    dispatcher.utter_message(response="utter_no_case")
                    return [SlotSet("stage", Stage.CASE_SHOWN)]
                outcome = listed[0]
            else:
                outcome = listed
        if isinstance(outcome, SurrenderCase):
            return self._show(dispatcher, tracker, outcome)
        if isinstance(outcome, CaseNotFound):
            dispatcher.utter_message(response="utter_case_not_found", case_number=outcome.case_number)
            return [SlotSet("case_number", None), SlotSet("stage", Stage.CASE_NOT_FOUND)]
        if isinstance(outcome, SessionExpired):
            return common.session_expired(dispatcher)
        return common.insurer_down()

    @staticmethod
    def _show(dispatcher: CollectingDispatcher, tracker: Tracker,
              case: SurrenderCase) -> List[EventType]:
        values = wording.case_values(case)
        events: List[EventType] = [SlotSet("case_number", case.case_number),
                                   SlotSet("policy_number", case.policy_number)]
        if tracker.get_slot("case_request") != "withdraw":
            dispatcher.utter_message(response=wording.CASE_STATE_RESPONSES[case.state], **values)
            return events + [SlotSet("stage", Stage.CASE_SHOWN)]
        # A withdrawal: the question (or why there is none) says all that matters; the full
        # status is not printed again before it.
        if case.state == "APPLY":
            dispatcher.utter_message(response="utter_ask_confirm_withdraw", **values)
            return events + [SlotSet("stage", Stage.WITHDRAW_READY)]
        if case.state == "REVOKE":
            dispatcher.utter_message(response="utter_case_already_withdrawn", **values)
        else:
            dispatcher.utter_message(response=wording.CASE_STATE_RESPONSES[case.state], **values)
            dispatcher.utter_message(response="utter_case_not_revocable", **values)
        return events + [SlotSet("stage", Stage.CASE_SHOWN)]


class ActionWithdrawCase(Action):
    """The user confirmed the withdrawal: revoke the case (allowed while it is in APPLY)."""

    def name(self) -> Text:
        return "action_withdraw_case"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                  domain: DomainDict) -> List[EventType]:
        case_number = tracker.get_slot("case_number")
        session = await insurer_calls.session_from(tracker)
        adapter = _adapter(tracker, case_number, None)
        if not case_number or session is None or adapter is None:
            return common.session_expired(dispatcher)
        outcome = await adapter.withdraw(session, case_number)
        if isinstance(outcome, SurrenderCase):
            dispatcher.utter_message(response="utter_case_withdrawn", **wording.case_values(outcome))
            return [SlotSet("stage", Stage.WITHDRAWN), SlotSet("quote", None)]
        if isinstance(outcome, NotRevocable):
            dispatcher.utter_message(response="utter_case_not_revocable", case_number=case_number)
            return [SlotSet("stage", Stage.CASE_SHOWN)]
        if isinstance(outcome, CaseNotFound):
            dispatcher.utter_message(response="utter_case_not_found", case_number=case_number)
            return [SlotSet("case_number", None), SlotSet("stage", Stage.CASE_NOT_FOUND)]
        if isinstance(outcome, SessionExpired):
            return common.session_expired(dispatcher)
        return common.insurer_down()


class ActionKeepCase(Action):
    """The user does not withdraw after all: the application goes on."""

    def name(self) -> Text:
        return "action_keep_case"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                  domain: DomainDict) -> List[EventType]:
        dispatcher.utter_message(response="utter_case_kept", case_number=tracker.get_slot("case_number") or "")
        return [SlotSet("stage", Stage.CASE_SHOWN)]
