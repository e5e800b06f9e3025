"""The user's rights over their personal data, in the chat (PIPL).

- "我的信息你们存了什么" (``ask_my_data``): what the project keeps for this conversation, by
  category and masked, how long, and that the insurer's own records are the insurer's.
- "删除我的信息" (``delete_my_data``): where a policy is involved and the holder is not verified
  right now, the identity check comes first (``privacy_form``); then an explicit confirmation;
  then everything the project keeps for this conversation goes: handoff records, the insurer
  token in the credentials store and the connector's delivery state here, the tracker rows by
  the tracker store when it saves this turn (``privacy_erasure``, see bot.tracker_store).
  The insurer's records (policy, identity checks, surrender cases) are not ours to delete.
"""
from __future__ import annotations

import datetime as dt
import logging
from typing import Any, Dict, List, Optional, Text, Tuple

from rasa_sdk import Action, Tracker
from rasa_sdk.events import AllSlotsReset, EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from actions import insurer_calls, wording
from actions.common import slot_events
from actions.forms import IdentityFormValidation, _forget_identity
from ground.stages import Stage
from privacy.settings import PrivacySettings
from privacy.stores import project_stores
from redaction import mask_openid, mask_policy_number

log = logging.getLogger(__name__)

ERASURE_SLOT = "privacy_erasure"  # read by bot.tracker_store
_SHANGHAI = dt.timezone(dt.timedelta(hours=8))


def _references(tracker: Tracker) -> Tuple[Optional[str], Optional[str]]:
    """The policy and the case this conversation involves, if any."""
    policy = tracker.get_slot("policy_number") or tracker.get_slot("holder_policy")
    return policy, tracker.get_slot("case_number")


def _contact(tracker: Tracker) -> Dict[str, str]:
    contact = insurer_calls.contact_for(*_references(tracker))
    return {"service_name": contact.name, "hotline": contact.hotline}


class ActionShowMyData(Action):
    """What we keep about this conversation, by category, masked."""

    def name(self) -> Text:
        return "action_show_my_data"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                  domain: DomainDict) -> List[EventType]:
        settings = PrivacySettings.from_env()
        policy, case = _references(tracker)
        handoffs = agent_turns = audits = connector = 0
        verified_until = None
        try:
            counts = await project_stores(settings).inventory_async(tracker.sender_id)
            handoffs, connector = counts.handoff_chats or 0, counts.connector_keys or 0
            agent_turns, audits = counts.handoff_turns or 0, counts.audit_entries or 0
            if counts.credentials:
                marker = insurer_calls.verified_marker(tracker)
                if marker:
                    local = marker.expires_at.astimezone(_SHANGHAI)
                    verified_until = f"{local:%H:%M}"
        except Exception:  # the answer still lists what the conversation itself holds
            log.exception("inventory of %s's stores failed", mask_openid(tracker.sender_id))
        user_messages = sum(1 for event in tracker.events if event.get("event") == "user")
        items = wording.kept_items(
            user_messages=user_messages,
            policy_masked=mask_policy_number(policy) if policy else None,
            case_number=case, verified_until=verified_until, handoff_count=handoffs,
            connector_count=connector, agent_turns=agent_turns, audit_entries=audits)
        dispatcher.utter_message(response="utter_my_data", kept_items=items,
                                 retention_days=f"{settings.retention_days:g}", **_contact(tracker))
        return []


class ActionRequestErasure(Action):
    """"删除我的信息": the identity check first where a policy is involved, then a confirmation."""

    def name(self) -> Text:
        return "action_request_erasure"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                  domain: DomainDict) -> List[EventType]:
        policy, case = _references(tracker)
        if (policy or case) and await insurer_calls.session_from(tracker) is None:
            dispatcher.utter_message(response="utter_erasure_needs_identity",
                                     policy_masked=mask_policy_number(policy) if policy else case)
            # A fresh check: nothing from an earlier one counts, but the reference stays.
            values: Dict[str, Any] = {**_forget_identity(), "stage": Stage.ERASURE_VERIFY}
            if policy:
                values["policy_number"] = policy
            return slot_events(values)
        dispatcher.utter_message(response="utter_confirm_erasure")
        return [SlotSet("stage", Stage.CONFIRM_ERASURE)]


class ActionEraseMyData(Action):
    """Confirmed: erase everything the project keeps for this conversation."""

    def name(self) -> Text:
        return "action_erase_my_data"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                  domain: DomainDict) -> List[EventType]:
        if tracker.get_slot("stage") != Stage.CONFIRM_ERASURE:  # never without the confirmation
            dispatcher.utter_message(response="utter_confirm_erasure")
            return [SlotSet("stage", Stage.CONFIRM_ERASURE)]
        contact = _contact(tracker)
        try:
            # The tracker rows go when Rasa saves this turn (privacy_erasure below).
            counts = await project_stores().erase_async(tracker.sender_id, tracker=False)
        except Exception:
            log.exception("erasure for %s failed", mask_openid(tracker.sender_id))
            dispatcher.utter_message(response="utter_erasure_failed")
            return [SlotSet("stage", None)]
        if counts.problems:
            log.warning("erasure for %s incomplete: %s", mask_openid(tracker.sender_id),
                        "; ".join(counts.problems))
            dispatcher.utter_message(response="utter_erasure_failed")
            return [SlotSet("stage", None)]
        log.info("erased at the user's request: %s", "; ".join(counts.lines()))
        dispatcher.utter_message(response="utter_erasure_done",
                                 handoff_count=counts.handoff_chats,
                                 credential_count=counts.credentials,
                                 connector_count=counts.connector_keys, **contact)
        return [AllSlotsReset(), SlotSet(ERASURE_SLOT, "requested")]


class ActionKeepMyData(Action):
    """Not confirmed: nothing is deleted."""

    def name(self) -> Text:
        return "action_keep_my_data"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                  domain: DomainDict) -> List[EventType]:
        dispatcher.utter_message(response="utter_erasure_kept")
        return [SlotSet("stage", None)]


class ValidatePrivacyForm(IdentityFormValidation):
    """privacy_form: ID suffix → SMS code, for the policy (or case) the conversation involves."""

    def name(self) -> Text:
        return "validate_privacy_form"

    def reference(self, tracker: Tracker) -> Tuple[Optional[str], Optional[str]]:
        policy, case = _references(tracker)
        return (policy, None) if policy else (None, case)
