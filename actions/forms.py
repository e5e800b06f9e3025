"""Form validation: the policy or case the user means, then the identity check.

Both forms run the same identity check (ID suffix → SMS code → holder session), kept in the
abstract ``IdentityFormValidation`` that rasa-sdk does not register. The raw ID suffix and SMS
code are sent to the insurer once and then replaced in their slots by ``MASKED``; the token
lives in the action server's credentials store, the tracker keeps a marker (see
``actions.insurer_calls``).

A validator that meets a dead end for the form (lockout, insurer fault) sets ``stage`` and the
form stops; rules then hand over to a person.
"""
from __future__ import annotations

import abc
import re
import datetime as dt
import logging
from typing import Any, Dict, List, Optional, Text, Tuple

from rasa_sdk import Tracker
from rasa_sdk.events import SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.forms import FormValidationAction
from rasa_sdk.types import DomainDict

from actions import choosing, insurer_calls
from actions.insurer_calls import cleared_session_slots, keep_session, verified_marker
from ground import identifiers
from ground.stages import Stage
from insurers.base import (
    Challenge,
    CodeRejected,
    HolderSession,
    IdentityMismatch,
    Locked,
    TooManyCodes,
    VerifyPurpose,
    SurrenderCase,
)
from privacy.credentials import credential_store
from redaction import mask_policy_number

# The challenge whose code this conversation exchanged last (sealed, like a held phone).
EXCHANGED = "exchanged_challenge"

log = logging.getLogger(__name__)

# What an ID suffix or SMS code slot holds once the value has been used.
MASKED = "******"
# Stages at which a form must stop asking: the rules hand over to a person.
STOPPING_STAGES = (Stage.LOCKED, Stage.INSURER_DOWN, Stage.LOOKUP_WANTED)
# "不知道" / "忘了" / "找不到" when the policy number is asked: the holder lookup instead (issue
# 19.6). Read from the words in the form's own extraction, so it does not hang on the classifier.
DONT_KNOW = re.compile(
    r"^\s*(我|那)?(也|真)?(不知道|不清楚|不晓得|不记得|记不得|记不清|记不住|忘了|忘记了?|找不到|找不着|没有|没)"
    r"(保单号|号码|保单|单号|了|啊|呀|哦|诶|欸|呢|耶|嘛|那个号|在哪|是多少|\s|[,，.。!！~…])*\s*$")
_SHANGHAI = dt.timezone(dt.timedelta(hours=8))


def say_code_rejected(dispatcher: CollectingDispatcher, outcome: CodeRejected) -> None:
    """A wrong SMS code: say so, with the tries left when the insurer tells them."""
    if outcome.attempts_left is not None:
        dispatcher.utter_message(response="utter_sms_code_wrong_attempts",
                                 attempts_left=outcome.attempts_left)
    else:
        dispatcher.utter_message(response="utter_sms_code_wrong")


def locked_until_text(until: dt.datetime) -> str:
    """``2026-11-25T10:30+08:00`` → ``11月25日 10:30`` in Beijing time."""
    local = until.astimezone(_SHANGHAI) if until.tzinfo else until
    return f"{local.month}月{local.day}日 {local:%H:%M}"


def retry_at_text(moment: dt.datetime) -> str:
    """When a new SMS code may be asked for, in Beijing time: ``10:31:05``."""
    local = moment.astimezone(_SHANGHAI) if moment.tzinfo else moment
    return f"{local:%H:%M:%S}"


def _forget_identity() -> Dict[str, Any]:
    return {"id_suffix": None, "sms_code": None, "challenge_id": None, "phone_masked": None,
            "identity_reference": None, **cleared_session_slots()}


class IdentityFormValidation(FormValidationAction, metaclass=abc.ABCMeta):
    """Shared behaviour of forms that end in a verified policyholder."""

    @abc.abstractmethod
    def name(self) -> Text:
        ...

    @abc.abstractmethod
    def reference(self, tracker: Tracker) -> Tuple[Optional[str], Optional[str]]:
        """``(policy_number, case_number)`` the identity check starts from (one is None)."""

    def purpose(self, tracker: Tracker) -> VerifyPurpose:
        """What the SMS code is for (the insurer's text names it)."""
        return VerifyPurpose.SURRENDER

    @staticmethod
    def _reference_key(policy_number: Optional[str], case_number: Optional[str]) -> Optional[str]:
        if policy_number:
            return f"policy:{policy_number}"
        return f"case:{case_number}" if case_number else None

    async def _identity_holds(self, tracker: Tracker) -> bool:
        """Whether the identity already checked in this conversation covers the current
        reference (same policy or same case), so the user is not asked again."""
        policy, case = self.reference(tracker)
        key = self._reference_key(policy, case)
        if key is None:
            return False
        if tracker.get_slot("identity_reference") == key:
            return True
        session = await insurer_calls.session_from(tracker)
        if session is None:
            return False
        if policy:
            return session.policy_number == policy
        # A token opens one policy, and a case number does not say which policy it belongs to:
        # ask the insurer, rather than assume that a case named later in the chat (another
        # policy of the same holder) is under the policy checked earlier.
        adapter = insurer_calls.adapter_for_case(case)
        if adapter is None:
            return False
        return isinstance(await adapter.case_status(session, case), SurrenderCase)

    def _adapter(self, tracker: Tracker):
        policy, case = self.reference(tracker)
        if policy:
            return insurer_calls.adapter_for_policy(policy)
        return insurer_calls.adapter_for_case(case) if case else None

    async def required_slots(
        self, domain_slots: List[Text], dispatcher: CollectingDispatcher, tracker: Tracker,
        domain: DomainDict,
    ) -> List[Text]:
        if tracker.get_slot("stage") in STOPPING_STAGES:
            return []
        return self.slots_to_ask(list(domain_slots), tracker)

    def slots_to_ask(self, domain_slots: List[Text], tracker: Tracker) -> List[Text]:
        """The form's questions, in order, once no dead end has stopped it."""
        return domain_slots

    # The form's own request said again while it waits for an answer ("那我现在怎么退" after a
    # hand-back, issue 19.8): the answer is the form's next step.
    GOES_ON_INTENTS: Tuple[str, ...] = ()

    async def get_extraction_events(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                                    domain: DomainDict) -> List[Dict[Text, Any]]:
        """Besides the custom extractions: a message that asks for what the form is already
        doing, and carries nothing it asks for, is answered with "we are on it" and the same
        question again, instead of being rejected (which left the user with "这一步我不知道该
        怎么接")."""
        events = await super().get_extraction_events(dispatcher, tracker, domain)
        requested = tracker.get_slot("requested_slot")
        message = tracker.latest_message or {}
        if (events or not requested or message.get("entities")
                or (message.get("intent") or {}).get("name") not in self.GOES_ON_INTENTS
                or requested in tracker.slots_to_validate()):
            return events
        dispatcher.utter_message(response="utter_form_goes_on")
        # The requested slot, still empty, validated as such: the form asks it again.
        return events + [SlotSet(requested, None)]

    # ------------------------------------------------------------ ID suffix
    async def validate_id_suffix(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> Dict[Text, Any]:
        """Send the policy/case and ID suffix to the insurer; on a right pair an SMS goes out."""
        if not isinstance(value, str):  # a list or object typed as /intent{…}: refused
            return {"id_suffix": None}
        stale = value != MASKED and value not in tracker.get_latest_entity_values("id_number")
        if value == MASKED or stale:
            # A value the latest message did not bring is the form's own marker, or six digits
            # typed while no form asked (an SMS code at the menu, a user's finding of 7 December):
            # never sent to the insurer as a suffix the user did not give for this request
            # (a false "对不上" and an attempt spent); an identity already checked still holds.
            holds = (tracker.get_slot("challenge_id") or verified_marker(tracker)) and (
                await self._identity_holds(tracker)
            )
            if holds:
                return {"id_suffix": MASKED}
            return {"id_suffix": None} if stale else _forget_identity()
        policy, case = self.reference(tracker)
        if not (policy or case):
            # The reference was rejected in this same message; its validator already spoke.
            return {"id_suffix": None}
        suffix = identifiers.id_suffix(str(value))
        if suffix is None:
            dispatcher.utter_message(response="utter_id_suffix_need_six")
            return {"id_suffix": None}
        adapter = self._adapter(tracker)
        if adapter is None:
            dispatcher.utter_message(response="utter_policy_number_unknown")
            return {"id_suffix": None}
        outcome = await adapter.verify_holder(id_suffix=suffix, policy_number=policy,
                                              case_number=None if policy else case,
                                              purpose=self.purpose(tracker))
        if isinstance(outcome, Challenge):
            return {
                **_forget_identity(),
                "id_suffix": MASKED,
                "challenge_id": outcome.challenge_id,
                "phone_masked": outcome.phone_masked,
                "identity_reference": self._reference_key(policy, case),
            }
        if isinstance(outcome, IdentityMismatch):
            dispatcher.utter_message(response="utter_identity_mismatch")
            return {"id_suffix": None}
        if isinstance(outcome, TooManyCodes):  # no code went out: say when to ask again
            dispatcher.utter_message(response="utter_sms_code_too_soon",
                                     retry_at=retry_at_text(outcome.retry_at))
            return {"id_suffix": None}
        if isinstance(outcome, Locked):
            dispatcher.utter_message(response="utter_identity_locked",
                                     locked_until=locked_until_text(outcome.until))
            return {**_forget_identity(), "stage": Stage.LOCKED}
        log.warning("identity check unavailable for %s", mask_policy_number(policy) if policy else "a case")
        return {**_forget_identity(), "stage": Stage.INSURER_DOWN}

    # ------------------------------------------------------------ SMS code
    async def validate_sms_code(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> Dict[Text, Any]:
        """Exchange the SMS code for the holder's session; the code is used exactly once."""
        if not isinstance(value, str):  # a list or object typed as /intent{…}: refused
            return {"sms_code": None}
        if value == MASKED:
            if verified_marker(tracker) and await self._identity_holds(tracker):
                return {"sms_code": MASKED, "stage": Stage.VERIFIED}
            return {"sms_code": None}
        challenge_id = tracker.get_slot("challenge_id")
        if not challenge_id or tracker.get_slot("id_suffix") != MASKED:
            # No code was sent for this reference (yet): the ID suffix comes first.
            return {"sms_code": None}
        code = identifiers.normalise(str(value))
        if not identifiers.is_valid_sms_code(code):
            dispatcher.utter_message(response="utter_sms_code_format")
            return {"sms_code": None}
        adapter = self._adapter(tracker)
        if adapter is None:
            return {"sms_code": None}
        outcome = await adapter.confirm_code(challenge_id, code)
        if isinstance(outcome, HolderSession):
            marker = await keep_session(tracker.sender_id, outcome)
            # Which challenge gave it, should this turn be run again (below).
            await credential_store().hold_async(tracker.sender_id, EXCHANGED, challenge_id)
            return {"sms_code": MASKED, "challenge_id": None, **marker,
                    "stage": Stage.VERIFIED}
        if isinstance(outcome, CodeRejected):
            kept = await self._session_of_a_lost_turn(tracker, challenge_id)
            if kept is not None:
                # This very turn ran before, on a replica that died before the conversation
                # was saved: the insurer took the code then (it is spent now) and the session
                # it gave is in the credentials store. The turn goes on from there.
                log.info("sms code already exchanged by an earlier run of this turn: verified")
                return {"sms_code": MASKED, "challenge_id": None,
                        **await keep_session(tracker.sender_id, kept), "stage": Stage.VERIFIED}
            say_code_rejected(dispatcher, outcome)
            return {"sms_code": None}
        if isinstance(outcome, Locked):
            dispatcher.utter_message(response="utter_identity_locked",
                                     locked_until=locked_until_text(outcome.until))
            return {**_forget_identity(), "stage": Stage.LOCKED}
        return {"sms_code": None, "stage": Stage.INSURER_DOWN}

    @staticmethod
    async def _session_of_a_lost_turn(tracker: Tracker, challenge_id: str) -> Optional[HolderSession]:
        """The holder session this conversation got with this very challenge, for the policy
        being verified, when the tracker does not know of it (the turn that got it was not
        saved): else None."""
        policy = tracker.get_slot("policy_number")
        if not policy or verified_marker(tracker) is not None:
            return None
        store = credential_store()
        if await store.held_async(tracker.sender_id, EXCHANGED) != challenge_id:
            return None
        kept = await store.get_async(tracker.sender_id)
        if kept is None or kept.policy_number != policy:
            return None
        return kept.as_session()

    # ------------------------------------------------------------ policy number
    async def validate_policy_number(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> Dict[Text, Any]:
        """A typo'd number is pointed out before anything is sent to an insurer."""
        if not isinstance(value, str):  # a list or object typed as /intent{…}: refused
            return {"policy_number": None}
        policy = identifiers.normalise(str(value))
        check = insurer_calls.policy_number_check(policy)
        if check == "typo":
            dispatcher.utter_message(response="utter_policy_number_typo", policy_number=policy)
            return {"policy_number": None}
        if check != "ok":
            dispatcher.utter_message(response="utter_policy_number_unknown")
            return {"policy_number": None}
        result: Dict[Text, Any] = {"policy_number": policy}
        if self.name() == "validate_surrender_form" and tracker.get_slot("lookup_sessions") \
                and not self._identity_holds_for(tracker, policy):
            from actions.lookup import verified_by_lookup  # (lookup imports this module)

            # A policy the holder lookup listed (chosen by its words, "重疾险那张", or typed):
            # verified already, as with its button; no second code.
            by_lookup = await verified_by_lookup(tracker, policy)
            if by_lookup:
                return {**result, **by_lookup, "stage": Stage.VERIFIED}
        if tracker.get_slot("id_suffix") == MASKED and not self._identity_holds_for(tracker, policy):
            result.update(_forget_identity())
        return result

    def _identity_holds_for(self, tracker: Tracker, policy: str) -> bool:
        session = verified_marker(tracker)
        return (tracker.get_slot("identity_reference") == f"policy:{policy}"
                or bool(session and session.policy_number == policy))


class ValidateSurrenderForm(IdentityFormValidation):
    """surrender_form: policy number → ID suffix → SMS code."""

    GOES_ON_INTENTS = ("request_surrender",)

    async def extract_policy_number(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                                    domain: DomainDict) -> Dict[Text, Any]:
        """After the holder lookup, "医疗险那张" / "恒信的" / "尾号0012" answers "which policy?"."""
        if tracker.get_slot("requested_slot") != "policy_number" or tracker.get_slot("policy_number"):
            return {}
        if next(tracker.get_latest_entity_values("policy_number"), None):
            return {}
        text = (tracker.latest_message or {}).get("text") or ""
        if DONT_KNOW.match(text):
            return {"stage": Stage.LOOKUP_WANTED}  # the form ends; a rule starts the lookup
        listed = choosing.surrenderable(tracker.get_slot("lookup_found"))
        chosen = choosing.match_listed_policy(text, listed, tracker.get_slot("lookup_found"))
        return {"policy_number": chosen} if chosen else {}

    def name(self) -> Text:
        return "validate_surrender_form"

    def reference(self, tracker: Tracker) -> Tuple[Optional[str], Optional[str]]:
        return tracker.get_slot("policy_number"), None


class ValidateCaseForm(IdentityFormValidation):
    """case_form (status and withdrawal): case number or policy number → ID suffix → SMS code."""

    def name(self) -> Text:
        return "validate_case_form"

    def reference(self, tracker: Tracker) -> Tuple[Optional[str], Optional[str]]:
        case = tracker.get_slot("case_number")
        if case:
            return None, case
        return tracker.get_slot("policy_number"), None

    def purpose(self, tracker: Tracker) -> VerifyPurpose:
        if tracker.get_slot("case_request") == "withdraw":
            return VerifyPurpose.WITHDRAW
        return VerifyPurpose.STATUS

    def slots_to_ask(self, domain_slots: List[Text], tracker: Tracker) -> List[Text]:
        if not tracker.get_slot("case_number") and tracker.get_slot("policy_number"):
            return ["policy_number", "id_suffix", "sms_code"]
        return ["case_number", "id_suffix", "sms_code"]

    async def validate_case_number(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> Dict[Text, Any]:
        if not isinstance(value, str):  # a list or object typed as /intent{…}: refused
            return {"case_number": None}
        case = identifiers.normalise(str(value))
        if not identifiers.is_valid_case_number(case):
            dispatcher.utter_message(response="utter_case_number_invalid", case_number=case)
            return {"case_number": None}
        result: Dict[Text, Any] = {"case_number": case}
        if tracker.get_slot("id_suffix") == MASKED and not await self._identity_holds(tracker):
            result.update(_forget_identity())
        return result
