"""Finding the holder's policies without a policy number (spec addition 2, issue 11 point 5).

"我不知道保单号在哪" → lookup_form: the phone and the policyholder's ID suffix (in one message,
or one after the other: the tracker store masks both, so a part sent alone waits sealed in the
credentials store for the message with the other, 10 minutes at most) go to every configured
insurer at once; each insurer that knows the holder texts a code, asked for in turn. The
policies found everywhere are then listed as tappable choices; tapping one starts the surrender
of that policy with the holder already verified (the lookup's holder-wide session opens it), so
no second code is needed.
"""
from __future__ import annotations

import asyncio
import datetime as dt
import json
import logging
import re
from typing import Any, Dict, List, Optional, Text

from rasa_sdk import Action, FormValidationAction, Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from actions import insurer_calls, wording
from actions.forms import (MASKED, STOPPING_STAGES, locked_until_text, retry_at_text,
                           say_code_rejected)
from ground import identifiers
from ground.stages import Stage
from insurers.base import (
    Challenge,
    CodeRejected,
    HolderPolicies,
    HolderSession,
    IdentityMismatch,
    Locked,
    TooManyCodes,
)
from privacy.credentials import credential_store
from redaction import mask_phone

log = logging.getLogger(__name__)

# What lookup_form keeps of a phone or suffix sent alone (credentials store, 10 minutes at most).
HELD_PARTS = ("lookup_phone", "lookup_id_suffix")
LOOKUP_SLOTS = ("lookup_phone", "lookup_id_suffix", "lookup_sms_code", "lookup_pending",
                "lookup_found", "lookup_sessions")


def _cleared() -> Dict[str, Any]:
    return {name: None for name in LOOKUP_SLOTS}


def _insurer_name(insurer_id: str) -> str:
    try:
        return insurer_calls.registry().get(insurer_id).display_name
    except KeyError:
        return insurer_id


# ---------------------------------------------------------------- the lookup's sessions
# The tokens live in the credentials store (purpose "lookup:<insurer>"); the tracker keeps only
# which policies each insurer's session opens and until when (lookup_sessions), nothing secret.
def _lookup_purpose(insurer_id: str) -> str:
    return f"lookup:{insurer_id}"


async def lookup_session_for(tracker: Tracker, policy_number: str) -> Optional[HolderSession]:
    """The lookup's holder-wide session of the insurer that listed ``policy_number``, pointed
    at that policy; None if the lookup did not list it (or found nothing, or it lapsed)."""
    sessions: Dict[str, Any] = tracker.get_slot("lookup_sessions") or {}
    for insurer_id, kept in sessions.items():
        if policy_number not in kept.get("covers", ()):
            continue
        stored = await credential_store().get_async(tracker.sender_id,
                                                    purpose=_lookup_purpose(insurer_id))
        if stored is None or not stored.as_session().opens(policy_number):
            return None
        return stored.as_session().for_policy(policy_number)
    return None


async def verified_by_lookup(tracker: Tracker, policy_number: Optional[str]) -> Dict[str, Any]:
    """Slot values that make surrender_form take ``policy_number`` as already verified, when the
    holder lookup of this conversation listed it; {} otherwise. The session pointed at that
    policy becomes the conversation's own (kept in the credentials store)."""
    if not policy_number:
        return {}
    session = await lookup_session_for(tracker, identifiers.normalise(policy_number))
    if session is None:
        return {}
    return {"id_suffix": MASKED, "sms_code": MASKED, "challenge_id": None,
            "identity_reference": f"policy:{session.policy_number}",
            **await insurer_calls.keep_session(tracker.sender_id, session)}


# ---------------------------------------------------------------- actions
class ActionStartLookup(Action):
    """"我没有保单号": forget any earlier lookup and open lookup_form."""

    def name(self) -> Text:
        return "action_start_lookup"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                  domain: DomainDict) -> List[EventType]:
        await credential_store().release_async(tracker.sender_id, *HELD_PARTS)
        events = [SlotSet("stage", None)] + [SlotSet(k, v) for k, v in _cleared().items()]
        # A phone (or ID suffix) that started the lookup by itself, outside any form (王芳 typed
        # hers after the "where is my policy number" answer, issue 19.6): the form takes it at
        # activation, as if it had been sent in answer to its question.
        given = {slot: next(tracker.get_latest_entity_values(entity), None)
                 for slot, entity in (("lookup_phone", "phone_number"), ("lookup_id_suffix", "id_number"))}
        if given["lookup_phone"]:
            dispatcher.utter_message(response="utter_lookup_from_message")
            events += [SlotSet(slot, value) for slot, value in given.items() if value]
        return events


class ActionAskLookupSmsCode(Action):
    """Ask for the code of the next insurer that sent one, naming it (each insurer texts its own)."""

    def name(self) -> Text:
        return "action_ask_lookup_sms_code"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                  domain: DomainDict) -> List[EventType]:
        pending = tracker.get_slot("lookup_pending") or []
        if len(pending) > 1 and not (tracker.get_slot("lookup_found") or []):
            # Both insurers texted: say so, and that either code may come first.
            dispatcher.utter_message(response="utter_ask_lookup_sms_codes",
                                     insurer_names="和".join(_insurer_name(p["insurer"]) for p in pending),
                                     first_insurer=_insurer_name(pending[0]["insurer"]),
                                     phone_masked=pending[0]["phone_masked"])
        elif pending:
            dispatcher.utter_message(response="utter_ask_lookup_sms_code",
                                     insurer_name=_insurer_name(pending[0]["insurer"]),
                                     phone_masked=pending[0]["phone_masked"])
        return []


_DIGIT_RUNS = re.compile(r"(?<![0-9A-Za-z])1(?:[ -]?[0-9]){9}(?:(?:[ -]?[0-9]){2})?(?![0-9A-Za-z])")


def phone_length_problem(text: Optional[str]) -> Optional[Dict[str, str]]:
    """For a run of 10 or 12 digits starting with 1 (a mobile number one digit short or long):
    what is wrong, and the number masked as the user may recognise it."""
    for found in _DIGIT_RUNS.findall(text or ""):
        run = re.sub(r"[ -]", "", found)
        problem = "少了一位" if len(run) == 10 else "多了一位"
        return {"phone_problem": problem, "digits": str(len(run)), "phone_masked": run[:3] + "****" + run[-3:]}
    return None


class ActionAskLookupPhone(Action):
    """lookup_form's question for the phone and ID suffix. After a message that already said
    exactly what is missing or wrong, nothing more; asked again, a short line, never the same
    paragraph twice in a row (issue 19.6)."""

    SAID_WHAT_IS_MISSING = {"utter_lookup_phone_length", "utter_lookup_kept", "utter_lookup_phone_invalid",
                            "utter_id_suffix_need_six", "utter_lookup_mismatch"}

    def name(self) -> Text:
        return "action_ask_lookup_phone"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                  domain: DomainDict) -> List[EventType]:
        this_turn, before = [], []
        seen_user = False
        for event in reversed(tracker.events or []):
            if event.get("event") == "user":
                if seen_user:
                    break
                seen_user = True
            elif event.get("event") == "bot":
                said = (event.get("metadata") or {}).get("utter_action") or ""
                (before if seen_user else this_turn).append(said)
        if self.SAID_WHAT_IS_MISSING & set(this_turn):
            return []
        if "utter_ask_lookup_phone" in before or "utter_ask_lookup_phone_again" in before:
            dispatcher.utter_message(response="utter_ask_lookup_phone_again")
        else:
            dispatcher.utter_message(response="utter_ask_lookup_phone")
        return []


class ValidateLookupForm(FormValidationAction):
    """lookup_form: phone + ID suffix (one message) → each insurer's code → the policies."""

    def name(self) -> Text:
        return "validate_lookup_form"

    async def required_slots(self, domain_slots: List[Text], dispatcher: CollectingDispatcher,
                             tracker: Tracker, domain: DomainDict) -> List[Text]:
        if tracker.get_slot("stage") in STOPPING_STAGES:
            return []
        return domain_slots

    async def extract_lookup_phone(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                                   domain: DomainDict) -> Dict[Text, Any]:
        """A phone one digit short or long ("1370013700") is not a phone to the extractor: say
        exactly what is wrong, instead of the generic "没太明白" (issue 19.6)."""
        if tracker.get_slot("requested_slot") != "lookup_phone":
            return {}
        if any(e.get("entity") == "phone_number" for e in tracker.latest_message.get("entities", [])):
            return {}
        problem = phone_length_problem(tracker.latest_message.get("text"))
        if problem is None:
            return {}
        dispatcher.utter_message(response="utter_lookup_phone_length", **problem)
        # A slot set (the code, still empty) keeps the form from rejecting the message.
        return {"lookup_sms_code": None}

    async def validate_lookup_phone(self, value: Any, dispatcher: CollectingDispatcher,
                                    tracker: Tracker, domain: DomainDict) -> Dict[Text, Any]:
        if not isinstance(value, str):  # a list or object typed as /intent{…}: refused
            return {"lookup_phone": None}
        if tracker.get_slot("lookup_id_suffix") == MASKED:  # already used with its suffix
            return {"lookup_phone": value}
        phone = identifiers.normalise_phone(str(value))
        if phone is None:
            dispatcher.utter_message(response="utter_lookup_phone_invalid")
            return {"lookup_phone": None, "lookup_id_suffix": None}
        if not tracker.get_slot("lookup_id_suffix"):
            # The phone alone (issue 19.6): with a suffix sent alone before, that is both;
            # otherwise keep the phone (sealed, off the tracker) for the message with the suffix.
            store = credential_store()
            suffix = await store.held_async(tracker.sender_id, "lookup_id_suffix")
            if suffix is not None:
                await store.release_async(tracker.sender_id, *HELD_PARTS)
                return await self._start(dispatcher, phone, suffix)
            await store.hold_async(tracker.sender_id, "lookup_phone", phone)
            dispatcher.utter_message(response="utter_lookup_kept", kept=f"手机号 {mask_phone(phone)}",
                                     missing="投保人身份证号后六位")
            return {"lookup_phone": None}
        return {"lookup_phone": phone}

    async def validate_lookup_id_suffix(self, value: Any, dispatcher: CollectingDispatcher,
                                        tracker: Tracker, domain: DomainDict) -> Dict[Text, Any]:
        """With the phone of the same message, ask every insurer at once."""
        if not isinstance(value, str):  # a list or object typed as /intent{…}: refused
            return {"lookup_id_suffix": None}
        if value == MASKED:
            return {"lookup_id_suffix": MASKED}
        phone = identifiers.normalise_phone(str(tracker.get_slot("lookup_phone") or ""))
        phone_said = any(e.get("entity") == "phone_number" for e in tracker.latest_message.get("entities", [])) \
            or phone_length_problem(tracker.latest_message.get("text")) is not None
        if phone is None and phone_said:
            # The phone of this message was refused; its validator has said why.
            return {"lookup_id_suffix": None, "lookup_phone": None}
        suffix = identifiers.id_suffix(str(value))
        if suffix is None:
            dispatcher.utter_message(response="utter_id_suffix_need_six")
            return {"lookup_id_suffix": None, "lookup_phone": None}
        store = credential_store()
        if phone is None:
            # The suffix alone (issue 19.6): with a phone sent alone before, that is both;
            # otherwise keep the suffix (sealed, off the tracker) for the message with the phone.
            phone = await store.held_async(tracker.sender_id, "lookup_phone")
            if phone is None:
                await store.hold_async(tracker.sender_id, "lookup_id_suffix", suffix)
                dispatcher.utter_message(response="utter_lookup_kept", kept="身份证号后六位",
                                         missing="投保时留的手机号")
                return {"lookup_id_suffix": None, "lookup_phone": None}
        await store.release_async(tracker.sender_id, *HELD_PARTS)
        return await self._start(dispatcher, phone, suffix)

    async def _start(self, dispatcher: CollectingDispatcher, phone: str, suffix: str) -> Dict[Text, Any]:
        registry = insurer_calls.registry()
        entries = list(registry.entries)
        outcomes = await asyncio.gather(
            *(registry.adapter_for(entry).start_lookup(phone, suffix) for entry in entries))
        pending, locked, unavailable, too_soon = [], [], [], []
        for entry, outcome in zip(entries, outcomes):
            if isinstance(outcome, Challenge):
                pending.append({"insurer": entry.id, "challenge_id": outcome.challenge_id,
                                "phone_masked": outcome.phone_masked})
            elif isinstance(outcome, Locked):
                locked.append((entry, outcome))
            elif isinstance(outcome, TooManyCodes):
                too_soon.append(outcome)
            elif not isinstance(outcome, IdentityMismatch):
                unavailable.append(entry)
        log.info("holder lookup for %s: %d insurer(s) sent a code, %d locked, %d unavailable",
                 mask_phone(phone), len(pending), len(locked), len(unavailable))
        if not pending:
            if locked:
                dispatcher.utter_message(response="utter_identity_locked",
                                         locked_until=locked_until_text(locked[0][1].until))
                return {**_cleared(), "stage": Stage.LOCKED}
            if too_soon:
                dispatcher.utter_message(response="utter_sms_code_too_soon", retry_at=retry_at_text(
                    max(t.retry_at for t in too_soon)))
                return {"lookup_phone": None, "lookup_id_suffix": None}
            if unavailable:
                return {**_cleared(), "stage": Stage.INSURER_DOWN}
            dispatcher.utter_message(response="utter_lookup_mismatch")
            return {"lookup_phone": None, "lookup_id_suffix": None}
        for entry, outcome in locked:
            dispatcher.utter_message(response="utter_lookup_insurer_locked", insurer_name=entry.display_name,
                                     locked_until=locked_until_text(outcome.until))
        for entry in unavailable:
            dispatcher.utter_message(response="utter_lookup_insurer_unavailable",
                                     insurer_name=entry.display_name)
        return {"lookup_phone": mask_phone(phone), "lookup_id_suffix": MASKED,
                "lookup_pending": pending, "lookup_found": [], "lookup_sessions": {}}

    async def validate_lookup_sms_code(self, value: Any, dispatcher: CollectingDispatcher,
                                       tracker: Tracker, domain: DomainDict) -> Dict[Text, Any]:
        """The codes of the insurers still waiting; when none is left, the form is done.

        Two insurers each text a code (issue 19.5): either may come first, both may come in one
        message, each goes to the insurer named next to it ("恒信 123456", or the SMS pasted with
        its 【恒信人寿】), the others to the insurers waiting, in the order asked. A named code is
        tried only at its insurer. A lone unnamed code that the insurer asked rejects is tried
        at the others waiting before it is called wrong: the other insurer's valid code, sent
        first, is taken (it still counts as a failed try at the insurer asked, which cannot be
        asked without one; the journeys of issue 19 found it called wrong)."""
        if not isinstance(value, str):  # a list or object typed as /intent{…}: refused
            return {"lookup_sms_code": None}
        pending: List[Dict[str, str]] = list(tracker.get_slot("lookup_pending") or [])
        if value == MASKED or not pending:
            # No code is waiting (the phone and ID suffix come first) or it was used already.
            return {"lookup_sms_code": MASKED if value == MASKED and not pending else None}
        code = identifiers.normalise(str(value))
        if not identifiers.is_valid_sms_code(code):
            dispatcher.utter_message(response="utter_sms_code_format")
            return {"lookup_sms_code": None}
        found: List[Dict[str, Any]] = list(tracker.get_slot("lookup_found") or [])
        sessions: Dict[str, Any] = dict(tracker.get_slot("lookup_sessions") or {})
        text = (tracker.latest_message or {}).get("text") or ""
        outcome: Any = None
        pairs = _codes_for_insurers(text, code, pending)
        for current, given in pairs:
            entry = insurer_calls.registry().get(current["insurer"])
            outcome = await insurer_calls.registry().adapter_for(entry).confirm_lookup(current["challenge_id"], given)
            if isinstance(outcome, CodeRejected) and len(pairs) == 1 and len(pending) > 1 \
                    and not _named_in(text, current["insurer"]):
                # One code, its insurer not named, and it is not the one asked for: people
                # send whichever SMS came first. Tried at the others waiting before it is
                # called wrong (each insurer counts a wrong code as a failed try of its own).
                for other in [p for p in pending if p is not current]:
                    other_entry = insurer_calls.registry().get(other["insurer"])
                    other_outcome = await insurer_calls.registry().adapter_for(
                        other_entry).confirm_lookup(other["challenge_id"], given)
                    if not isinstance(other_outcome, CodeRejected):
                        current, entry, outcome = other, other_entry, other_outcome
                        break
            if isinstance(outcome, CodeRejected):
                if len(pending) > 1:
                    dispatcher.utter_message(response="utter_lookup_code_rejected_for", insurer_name=entry.display_name)
                say_code_rejected(dispatcher, outcome)
                continue  # this insurer still waits for its code
            pending = [p for p in pending if p is not current]
            if isinstance(outcome, HolderPolicies):
                found += [{"insurer": entry.id, "insurer_name": entry.display_name,
                           "policy_number": p.policy_number, "product_name": p.product_name,
                           "status": p.status, "cover_start": p.cover_start.isoformat(),
                           "cover_end": p.cover_end.isoformat() if p.cover_end else None}
                          for p in outcome.policies]
                await credential_store().put_async(tracker.sender_id, outcome.session,
                                                   purpose=_lookup_purpose(entry.id))
                sessions[entry.id] = {"expires_at": outcome.session.expires_at.isoformat(),
                                      "covers": list(outcome.session.covers)}
                if pending:
                    dispatcher.utter_message(response="utter_lookup_code_accepted", insurer_name=entry.display_name)
            elif isinstance(outcome, Locked):
                dispatcher.utter_message(response="utter_lookup_insurer_locked", insurer_name=entry.display_name,
                                         locked_until=locked_until_text(outcome.until))
            else:
                dispatcher.utter_message(response="utter_lookup_insurer_unavailable",
                                         insurer_name=entry.display_name)
        result: Dict[Text, Any] = {"lookup_pending": pending, "lookup_found": found, "lookup_sessions": sessions}
        if pending:
            return {**result, "lookup_sms_code": None}  # the form asks for the next insurer's code
        if not found:
            stage = Stage.LOCKED if isinstance(outcome, Locked) else Stage.INSURER_DOWN
            return {**result, "lookup_sms_code": MASKED, "stage": stage}
        return {**result, "lookup_sms_code": MASKED, "stage": Stage.POLICIES_FOUND}


def _named_in(text: str, insurer_id: str) -> bool:
    return any(name in text for name in _names(insurer_id))


def _names(insurer_id: str) -> List[str]:
    name = _insurer_name(insurer_id)
    return [n for n in {name, name[:2]} if len(n) >= 2]


def _codes_for_insurers(text: str, code: str, pending: List[Dict[str, str]]) -> List[tuple]:
    """(pending insurer, code) pairs for the codes in ``text``: a code goes to the insurer named
    just before it (since the previous code), the rest to the insurers waiting, in order. With
    no code found in the words (a typed slot), ``code`` goes to the first insurer waiting."""
    spans = sorted({(s.start, s.value) for s in identifiers.find_identifiers(text)
                    if s.entity == "sms_code" and identifiers.is_valid_sms_code(s.value)})
    if not spans:
        return [(pending[0], code)]
    pairs: List[tuple] = []
    taken: set = set()
    unnamed: List[str] = []
    previous_end = 0
    for start, value in spans:
        before = text[previous_end:start]
        named = next((p for p in pending if id(p) not in taken
                      and any(n in before for n in _names(p["insurer"]))), None)
        if named is not None:
            pairs.append((named, value))
            taken.add(id(named))
        else:
            unnamed.append(value)
        previous_end = start + len(value)
    waiting = [p for p in pending if id(p) not in taken]
    pairs += list(zip(waiting, unnamed))
    return pairs


class ActionListHolderPolicies(Action):
    """Every policy the lookup found, at every insurer; the ones that can be surrendered as
    tappable choices that start the surrender of that policy."""

    def name(self) -> Text:
        return "action_list_holder_policies"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                  domain: DomainDict) -> List[EventType]:
        found: List[Dict[str, Any]] = tracker.get_slot("lookup_found") or []
        text = "\n".join(wording.listed_policy_text(i, p) for i, p in enumerate(found, start=1))
        buttons = [{"title": wording.listed_policy_button_title(p),
                    # compact JSON: the payload travels inside a WeChat menu link
                    "payload": "/request_surrender" + json.dumps({"policy_number": p["policy_number"]},
                                                                 separators=(",", ":"))}
                   for p in found if p["status"] == "in_force"]
        if buttons:
            dispatcher.utter_message(response="utter_lookup_policies", count=len(found), policy_list=text,
                                     buttons=buttons)
        else:
            dispatcher.utter_message(response="utter_lookup_nothing_to_surrender", count=len(found),
                                     policy_list=text)
        return []
