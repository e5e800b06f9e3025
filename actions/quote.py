"""The quote: fetched from the insurer once the holder is verified and read back in full
before any confirmation; fee and timing questions answered from it."""
from __future__ import annotations

import re
from typing import Any, Dict, List, Optional, Text

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from actions import common, insurer_calls, wording
from ground.stages import Stage
from insurers.base import (
    HolderSession,
    InsurerAdapter,
    NotEligible,
    PolicySummary,
    SessionExpired,
    SurrenderQuote,
)



async def quote_and_read_back(dispatcher: CollectingDispatcher, adapter: InsurerAdapter,
                              session: HolderSession) -> List[EventType]:
    """Ask the insurer for a quote and say every figure of it, then ask for confirmation."""
    outcome = await adapter.quote(session)
    if isinstance(outcome, SurrenderQuote):
        # Nothing comes back (claim paid, trip started): no route or dates to promise.
        readback = "utter_quote_readback" if outcome.refund > 0 else "utter_quote_readback_no_refund"
        dispatcher.utter_message(response=readback, **wording.quote_readback(outcome))
        loss = wording.loss_values(outcome.lines, outcome.refund)
        if loss:
            dispatcher.utter_message(response="utter_surrender_loss", **loss)
        cover_end = None
        if outcome.refund == 0 and outcome.basis == "unearned_premium":
            cover_end = await say_cover_used_up(dispatcher, adapter, session)
        if cover_end:
            dispatcher.utter_message(response="utter_ask_confirm_surrender_cover_ends", cover_end=cover_end)
        else:
            dispatcher.utter_message(response="utter_ask_confirm_surrender")
        return [SlotSet("quote", wording.quote_to_slot(outcome)), SlotSet("stage", Stage.QUOTE_READY)]
    if isinstance(outcome, NotEligible):
        return common.not_eligible(dispatcher, outcome)
    if isinstance(outcome, SessionExpired):
        return common.session_expired(dispatcher)
    return common.insurer_down()


async def say_cover_used_up(dispatcher: CollectingDispatcher, adapter: InsurerAdapter,
                            session: HolderSession) -> Optional[str]:
    """¥0 because the cover period is used up (it ends today, issue 19): say so before the
    confirmation, with the day it ends, and that an expiring policy needs no surrender. The
    day, as said, or None when the insurer did not tell it."""
    summary = await adapter.policy_summary(session)
    if isinstance(summary, PolicySummary) and summary.cover_end is not None:
        day = wording.day(summary.cover_end)
        dispatcher.utter_message(response="utter_quote_cover_used_up", cover_end=day)
        return day
    dispatcher.utter_message(response="utter_quote_cover_used_up_no_date")
    return None


class ActionQuoteSurrender(Action):
    """After the identity check: the quote, read back, and the confirmation question."""

    def name(self) -> Text:
        return "action_quote_surrender"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                  domain: DomainDict) -> List[EventType]:
        policy = tracker.get_slot("policy_number")
        session = await insurer_calls.session_from(tracker, policy)
        adapter = insurer_calls.adapter_for_policy(policy) if policy else None
        if session is None or adapter is None:
            return common.session_expired(dispatcher)
        return await quote_and_read_back(dispatcher, adapter, session)


class ActionDropQuote(Action):
    """The user does not confirm: nothing is submitted, the policy stays as it is."""

    def name(self) -> Text:
        return "action_drop_quote"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                  domain: DomainDict) -> List[EventType]:
        dispatcher.utter_message(response="utter_surrender_not_submitted")
        return [SlotSet("quote", None), SlotSet("stage", None)]


def offer_quote_for_named_policy(dispatcher: CollectingDispatcher, tracker: Tracker) -> None:
    """A fee or timing question that names a policy ("SBX1000000000012 退了能拿回多少"), asked
    outside any form: the general rule alone would leave the user to guess how to get the real
    figure. Offer it in one tap: the surrender form starts with the number already taken, checks
    the holder, and reads the quote back; nothing is submitted without a confirmation."""
    if tracker.active_loop_name or tracker.get_slot("stage"):
        return  # a form or a confirmation is under way: it goes on where it was
    named = next(tracker.get_latest_entity_values("policy_number"), None)
    if named:
        dispatcher.utter_message(response="utter_offer_quote_for_policy", policy_number=named)


class ActionAnswerFee(Action):
    """"扣多少钱" / "为什么要扣钱": the quote in hand line by line with the reason for each
    deduction, or how deductions are worked out in general."""

    def name(self) -> Text:
        return "action_answer_fee"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                  domain: DomainDict) -> List[EventType]:
        kept: Dict[str, Any] = tracker.get_slot("quote") or {}
        named = await self._listed_policy_named(tracker, kept)
        if named:
            # "恒信那张呢 能退多少钱" after the holder lookup (the journeys' finding 2): that
            # policy's own figures, read back as a tap on it would, said to be a reckoning.
            from actions.lookup import lookup_session_for, verified_by_lookup

            session = await lookup_session_for(tracker, named)
            adapter = insurer_calls.adapter_for_policy(named)
            if session is not None and adapter is not None:
                dispatcher.utter_message(response="utter_start_quote_only")
                events: List[EventType] = [SlotSet("policy_number", named)]
                events += common.slot_events(await verified_by_lookup(tracker, named))
                return events + await quote_and_read_back(dispatcher, adapter, session)
        if kept:
            # Every line again, not a summary ("nothing deducted" would hide that a cash value
            # can be far below the premiums paid), then why each amount is taken off, in the
            # insurer's words with its clause.
            response, values = wording.fee_answer(kept)
            dispatcher.utter_message(response=response, **values)
        else:
            dispatcher.utter_message(response="utter_fee_general")
            offer_quote_for_named_policy(dispatcher, tracker)
        common.ask_pending_confirmation(dispatcher, tracker)
        return []

    @staticmethod
    async def _listed_policy_named(tracker: Tracker, kept: Dict[str, Any]) -> Optional[str]:
        """Outside any form: the policy of the lookup's list that the words name, when it is not
        the one whose quote is in hand."""
        if tracker.active_loop_name:
            return None  # the form goes on where it was
        from actions import choosing

        listed = choosing.surrenderable(tracker.get_slot("lookup_found"))
        named = choosing.match_listed_policy((tracker.latest_message or {}).get("text"), listed,
                                             tracker.get_slot("lookup_found"))
        return named if named and named != kept.get("policy_number") else None


_ABOUT_MONEY = re.compile(r"钱|款|到账|退回|打回|多少")


async def waiting_for_a_person(tracker: Tracker) -> bool:
    """In the queue for a person right now (not handed back), and the question says nothing
    about the money."""
    text = (tracker.latest_message or {}).get("text") or ""
    if not tracker.get_slot("handoff_reference") or _ABOUT_MONEY.search(text):
        return False
    from handoff.settings import HandoffSettings
    from handoff.store import HandoffStore, run_sync

    try:
        store = HandoffStore(HandoffSettings.from_env().db_url)
        chat = await run_sync(lambda: store.open_chat(tracker.sender_id))
    except Exception:  # the store unreachable: answer the question as asked
        return False
    return chat is not None


class ActionAnswerRefundTime(Action):
    """"多久到账": the dates of the quote in hand, or the general rule."""

    def name(self) -> Text:
        return "action_answer_refund_time"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                  domain: DomainDict) -> List[EventType]:
        if await waiting_for_a_person(tracker):
            # "还要等多久" while queued for a person asks about the wait, not the money (issue
            # 19.7): the place in line and the honest estimate, as action_handoff tells them.
            from actions.handoff import ActionHandoff

            return await ActionHandoff().run(dispatcher, tracker, domain)
        values = wording.refund_time_from_slot(tracker.get_slot("quote"))
        if values:
            dispatcher.utter_message(response="utter_refund_time_quote", **values)
        else:
            dispatcher.utter_message(response="utter_refund_time_general")
            offer_quote_for_named_policy(dispatcher, tracker)
        common.ask_pending_confirmation(dispatcher, tracker)
        return []
