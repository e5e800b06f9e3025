"""Handing the conversation to a person, and taking it back.

``action_handoff`` queues the chat once (``handoff`` package) with its reason and tells the user
their place, an honest wait figure and the desk's hours (outside them: when it opens, and that
they may leave a message, unless an agent has the console open, who may take it now: then their
place too); asking again tells them where they stand, never files a second.
The agent console then pauses the bot (Rasa's own pause) while a person has the chat, and on
hand-back runs ``action_handback``: the bot says it is back, asks the next question of what was
unfinished, then a one-tap satisfaction question (``action_rate_agent`` records the answer).
``action_handoff_unattended`` is what the console has the bot say when nobody took the chat in
time. Only masked data is stored.
"""
from __future__ import annotations

import logging
import statistics
from typing import Any, Dict, List, Optional, Text

from rasa_sdk import Action, Tracker
from rasa_sdk.events import (
    ActionExecuted, ActiveLoop, ConversationPaused, EventType, SessionStarted, SlotSet,
)
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from actions import insurer_calls, wording
from actions.confirmation import sounds_like_complaint
from ground.stages import Stage
from handoff.desk import Desk
from handoff.settings import HandoffSettings
from handoff.store import ChatState, HandoffStore, QueuePosition, run_sync
from redaction import mask_policy_number

log = logging.getLogger(__name__)

INTENT_REASONS = {"request_human": "user_request", "complain": "complaint",
                  "nlu_fallback": "misunderstood"}
STAGE_REASONS = {Stage.LOCKED: "identity_locked", Stage.INSURER_DOWN: "insurer_unavailable"}
# The surrender form's questions, in the order the form asks them.
SURRENDER_QUESTIONS = (
    ("policy_number", "utter_ask_surrender_form_policy_number"),
    ("id_suffix", "utter_ask_id_suffix"),
    ("sms_code", "utter_ask_sms_code"),
)
# Stages where a person took over an unfinished surrender: after hand-back it goes on.
RESUMABLE_STAGES = (Stage.LOCKED, Stage.INSURER_DOWN, Stage.REVERIFY)
RATINGS = {"good": "满意", "ok": "一般", "bad": "不满意"}


def handoff_reason(tracker: Tracker) -> str:
    """Why a person is needed: what the user just said wins over the state it happened in. An
    angry "转人工" ("热线打不通，气死了，给我转人工") is filed as a complaint (issue 19.4): the
    agent's queue and side panel show 投诉, not 用户要求转人工."""
    message = tracker.latest_message or {}
    intent = (message.get("intent") or {}).get("name")
    if intent == "request_human" and sounds_like_complaint(message.get("text"), message.get("intent_ranking")):
        return "complaint"
    if intent in INTENT_REASONS:
        return INTENT_REASONS[intent]
    return STAGE_REASONS.get(tracker.get_slot("stage"), "user_request")


def reference_of(position: QueuePosition) -> str:
    return f"RG{position.chat.id:06d}"


class ActionHandoff(Action):
    """Queue the chat for a person (once) and tell the user where they stand."""

    def name(self) -> Text:
        return "action_handoff"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                  domain: DomainDict) -> List[EventType]:
        settings = HandoffSettings.from_env()
        reason = handoff_reason(tracker)
        policy: Optional[str] = tracker.get_slot("policy_number")
        case_number: Optional[str] = tracker.get_slot("case_number")
        contact = insurer_calls.contact_for(policy, case_number)
        store = HandoffStore(settings.db_url)
        try:
            position = await run_sync(lambda: store.enqueue(
                tracker.sender_id, reason=reason,
                policy_number_masked=mask_policy_number(policy) if policy else None,
                case_number=case_number, last_message=tracker.latest_message.get("text")))
            waits = await run_sync(store.recent_wait_seconds)
        except Exception:  # the user must still learn how to reach a person
            log.exception("could not queue the handoff of a conversation")
            dispatcher.utter_message(response="utter_handoff_unrecorded",
                                     service_name=contact.name, hotline=contact.hotline)
            return [SlotSet("handoff_reference", None)]
        reference = reference_of(position)
        if position.created:
            dispatcher.utter_message(response=f"utter_handoff_{reason}",
                                     service_name=contact.name, hotline=contact.hotline,
                                     handoff_reference=reference)
        elif position.chat.state == ChatState.TAKEN.value:
            dispatcher.utter_message(response="utter_handoff_agent_has_it")
            return [SlotSet("handoff_reference", reference)]
        else:
            dispatcher.utter_message(response="utter_handoff_already_queued",
                                     handoff_reference=reference)
        desk = Desk.from_settings(settings)
        if desk.is_open():
            dispatcher.utter_message(response="utter_handoff_queue_place", place=position.place,
                                     wait_estimate=wait_estimate_text(waits),
                                     desk_hours=desk.hours_text())
        elif await people_at_desk(store, settings):
            # After hours, but a person has the console open (issue 19.7): they may take it
            # tonight, so the user hears their place, and what happens if nobody does.
            dispatcher.utter_message(response="utter_handoff_queue_place_after_hours",
                                     place=position.place, desk_hours=desk.hours_text(),
                                     next_opening=wording.moment(desk.next_opening()))
        else:
            dispatcher.utter_message(response="utter_handoff_desk_closed",
                                     desk_hours=desk.hours_text(),
                                     next_opening=wording.moment(desk.next_opening()))
        return [SlotSet("handoff_reference", reference)]


async def people_at_desk(store: HandoffStore, settings: HandoffSettings) -> int:
    """Agents with a live console page now; 0 when that cannot be read (the user then hears
    the desk's hours, which is true either way)."""
    try:
        return await run_sync(lambda: store.people_at_desk(settings.presence_window_s))
    except Exception:
        log.exception("could not read who is at the desk")
        return 0


def wait_estimate_text(waits: List[float]) -> str:
    """What we honestly know about the wait: the median of the last chats' waits, or that
    there is nothing to go by yet."""
    if not waits:
        return "最近还没有接入记录，暂时估计不出要等多久"
    minutes = max(1, round(statistics.median(waits) / 60))
    return f"最近接入的用户一般等了约{minutes}分钟"


def next_surrender_question(tracker: Tracker) -> Optional[Dict[str, Any]]:
    """The question an unfinished surrender asks next, and its values; None when no surrender
    was under way."""
    if tracker.get_slot("stage") is not None or not tracker.get_slot("policy_number"):
        return None
    for slot, response in SURRENDER_QUESTIONS:
        if tracker.get_slot(slot) is None:
            if slot == "sms_code" and not tracker.get_slot("phone_masked"):
                return None
            return {"slot": slot, "response": response,
                    "values": {"phone_masked": tracker.get_slot("phone_masked")}}
    return None


class ActionHandback(Action):
    """The agent handed the chat back: say so, pick up what was unfinished, ask for a rating."""

    def name(self) -> Text:
        return "action_handback"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                  domain: DomainDict) -> List[EventType]:
        dispatcher.utter_message(response="utter_handback_bot_back")
        events: List[EventType] = []
        stage = tracker.get_slot("stage")
        if stage in (Stage.QUOTE_READY, Stage.WITHDRAW_READY):
            dispatcher.utter_message(response="utter_ask_confirm_surrender" if stage == Stage.QUOTE_READY
                                     else "utter_ask_confirm_withdraw")
        elif stage in (Stage.SUBMITTED, Stage.CASE_SHOWN, Stage.WITHDRAWN):
            dispatcher.utter_message(response="utter_handback_offer_status",
                                     case_number=tracker.get_slot("case_number") or "")
        elif stage in RESUMABLE_STAGES and tracker.get_slot("policy_number"):
            # A surrender a lockout or an insurer fault interrupted: the thread goes on where the
            # person left it (issue 19.8), with the identity check asked again, so "那我现在怎么退"
            # lands inside the surrender form, not at "您想办理…".
            from actions.forms import _forget_identity

            dispatcher.utter_message(response="utter_handback_resume_surrender",
                                     policy_masked=mask_policy_number(tracker.get_slot("policy_number")))
            dispatcher.utter_message(response="utter_ask_id_suffix")
            events += [SlotSet(k, v) for k, v in _forget_identity().items()]
            events += [SlotSet("stage", None), ActiveLoop("surrender_form"), SlotSet("requested_slot", "id_suffix")]
        else:
            question = next_surrender_question(tracker)
            if question:
                dispatcher.utter_message(response=question["response"], **question["values"])
                events += [ActiveLoop("surrender_form"),
                           SlotSet("requested_slot", question["slot"])]
            else:
                dispatcher.utter_message(response="utter_how_can_i_help")
        dispatcher.utter_message(response="utter_ask_agent_rating")
        return events


class ActionRateAgent(Action):
    """The one-tap satisfaction answer after a person helped."""

    def name(self) -> Text:
        return "action_rate_agent"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                  domain: DomainDict) -> List[EventType]:
        rating = next(tracker.get_latest_entity_values("agent_rating"), None)
        if rating not in RATINGS:
            text = tracker.latest_message.get("text") or ""
            rating = "bad" if "不满意" in text else "ok" if "一般" in text else "good"
        store = HandoffStore(HandoffSettings.from_env().db_url)
        try:
            await run_sync(lambda: store.rate(tracker.sender_id, rating))
        except Exception:
            log.exception("could not record a rating")
        # A 满意 is thanked as praise, not as if it were a complaint (the journeys of issue 19).
        dispatcher.utter_message(response="utter_thanks_for_good_rating" if rating == "good"
                                 else "utter_thanks_for_rating")
        return []


class ActionHandoffUnattended(Action):
    """Nobody took the chat in time (the console runs this): say so, offer a call-back or a
    message."""

    def name(self) -> Text:
        return "action_handoff_unattended"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                  domain: DomainDict) -> List[EventType]:
        contact = insurer_calls.contact_for(tracker.get_slot("policy_number"),
                                            tracker.get_slot("case_number"))
        dispatcher.utter_message(response="utter_handoff_unattended", service_name=contact.name,
                                 hotline=contact.hotline)
        return []


class ActionSessionStart(Action):
    """Rasa's session start (nothing carried over, see domain.yml), except that a chat a person
    has stays paused: a new session after 30 minutes of silence must not wake the bot up in the
    middle of an agent's conversation (a session start resets Rasa's pause)."""

    def name(self) -> Text:
        return "action_session_start"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                  domain: DomainDict) -> List[EventType]:
        events: List[EventType] = [SessionStarted()]
        store = HandoffStore(HandoffSettings.from_env().db_url)
        try:
            chat = await run_sync(lambda: store.open_chat(tracker.sender_id))
        except Exception:  # no handoff database: an ordinary session start
            log.exception("could not read the handoff state at a session start")
            chat = None
        if chat is not None and chat.state == ChatState.TAKEN.value:
            events.append(ConversationPaused())
        events.append(ActionExecuted("action_listen"))
        return events
