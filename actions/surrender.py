"""Starting a surrender and submitting it, exactly once per quote."""
from __future__ import annotations

import hashlib
import logging
from typing import List, Text

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from actions import choosing, common, insurer_calls, wording
from actions.confirmation import acknowledge_complaint
from actions.lookup import verified_by_lookup
from actions.quote import quote_and_read_back
from ground.stages import Stage
from insurers.base import NotEligible, QuoteExpired, SessionExpired, SurrenderCase
from redaction import mask_policy_number

log = logging.getLogger(__name__)


def idempotency_key(conversation_id: str, quote_id: str) -> str:
    """Derived from the conversation and the quote, so a repeated "确认" (double tap, network
    retry, a restarted action server) sends the same key and the insurer returns the same case."""
    return hashlib.sha256(f"tuibao:{conversation_id}:{quote_id}".encode()).hexdigest()[:40]


class ActionStartSurrender(Action):
    """Whatever state the conversation is in, "退保" starts a fresh surrender: forget the
    previous quote and outcome. The policy number of a finished flow is forgotten unless this
    message gives it again; the identity check is reused only for that same policy (the form
    decides)."""

    def name(self) -> Text:
        return "action_start_surrender"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                  domain: DomainDict) -> List[EventType]:
        acknowledge_complaint(dispatcher, tracker)  # "烦死了，帮我退掉": heard, then done
        # "恒信那张呢 能退多少钱" after the lookup's list (issue 19.2): the figures of that policy,
        # read back like a tap on it would, and said to be a reckoning, not a surrender.
        asked_fee = (tracker.latest_message or {}).get("intent", {}).get("name") == "ask_surrender_fee"
        events: List[EventType] = [SlotSet("stage", None), SlotSet("quote", None)]
        given = next(tracker.get_latest_entity_values("policy_number"), None)
        listed = choosing.surrenderable(tracker.get_slot("lookup_found"))
        if not given and listed:
            # Several policies in play after the lookup: the words choose ("恒信那张也退了吧",
            # "医疗险那张"), or the form asks which; never the one quoted last by default.
            given = choosing.match_listed_policy((tracker.latest_message or {}).get("text"), listed,
                                                 tracker.get_slot("lookup_found"))
            if given:
                events.append(SlotSet("policy_number", given))
            elif len(listed) > 1:
                events.append(SlotSet("policy_number", None))
        if not given and tracker.get_slot("stage") is not None:
            # The policy of a finished flow is not assumed to be the one meant now.
            events.append(SlotSet("policy_number", None))
        # A policy tapped in the holder lookup's list is already verified: no second code.
        verified = common.slot_events(await verified_by_lookup(tracker, given))
        if asked_fee:
            dispatcher.utter_message(response="utter_start_quote_only")
        elif not verified:
            # Verified, the insurer's answer comes next (the read-back, or why this policy
            # cannot be surrendered, e.g. a case already open): "我来帮您办理退保" before a
            # "cannot" would contradict it (the journeys' finding 8).
            dispatcher.utter_message(response="utter_start_surrender")
        return events + verified


class ActionSubmitSurrender(Action):
    """The user confirmed: apply for the surrender of the quote just read back."""

    def name(self) -> Text:
        return "action_submit_surrender"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                  domain: DomainDict) -> List[EventType]:
        kept = tracker.get_slot("quote")
        # The policy of the quote read back, whatever number was mentioned since.
        policy = kept.get("policy_number") if kept else None
        if not kept or not policy:
            dispatcher.utter_message(response="utter_nothing_to_confirm")
            return [SlotSet("stage", None)]
        session = await insurer_calls.session_from(tracker, policy)
        adapter = insurer_calls.adapter_for_policy(policy)
        if session is None or adapter is None:
            return common.session_expired(dispatcher)
        key = idempotency_key(tracker.sender_id, kept["quote_id"])
        outcome = await adapter.submit(session, kept["quote_id"], key)
        if isinstance(outcome, SurrenderCase):
            repeated = (tracker.get_slot("stage") == Stage.SUBMITTED
                        and tracker.get_slot("case_number") == outcome.case_number)
            log.info("surrender case %s for %s (%s)", outcome.case_number,
                     mask_policy_number(policy), "repeat" if repeated else "new")
            response = "utter_surrender_already_submitted" if repeated else "utter_surrender_submitted"
            dispatcher.utter_message(response=response, **wording.case_values(outcome))
            return [SlotSet("case_number", outcome.case_number), SlotSet("stage", Stage.SUBMITTED)]
        if isinstance(outcome, QuoteExpired):
            dispatcher.utter_message(response="utter_quote_expired")
            return await quote_and_read_back(dispatcher, adapter, session)
        if isinstance(outcome, NotEligible):
            return common.not_eligible(dispatcher, outcome)
        if isinstance(outcome, SessionExpired):
            return common.session_expired(dispatcher)
        return common.insurer_down()


class ActionAskSurrenderFormPolicyNumber(Action):
    """The form's question for the policy number. After the holder lookup put several policies
    in play it asks which, as people name them (product, insurer, last digits), with a button
    each (issue 19.2). Asked again right after itself, it is shorter: the same instruction
    paragraph is never sent twice in a row (issue 19.6)."""

    def name(self) -> Text:
        return "action_ask_surrender_form_policy_number"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                  domain: DomainDict) -> List[EventType]:
        listed = choosing.surrenderable(tracker.get_slot("lookup_found"))
        if len(listed) > 1:
            dispatcher.utter_message(response="utter_ask_which_policy", count=len(listed),
                                     policy_choices=choosing.choice_lines(listed),
                                     buttons=choosing.choice_buttons(listed))
        elif last_bot_response(tracker) in ("utter_ask_surrender_form_policy_number",
                                            "utter_ask_policy_number_again"):
            dispatcher.utter_message(response="utter_ask_policy_number_again")
        else:
            dispatcher.utter_message(response="utter_ask_surrender_form_policy_number")
        return []


def last_bot_response(tracker: Tracker) -> str:
    """The response name of the bot's last message before the latest user message, if any."""
    seen_user = False
    for event in reversed(tracker.events or []):
        if event.get("event") == "user":
            if seen_user:
                return ""
            seen_user = True
        elif seen_user and event.get("event") == "bot":
            return (event.get("metadata") or {}).get("utter_action") or ""
    return ""
