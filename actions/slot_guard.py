"""``action_validate_slot_mappings``: Rasa runs it for slots filled outside a form, so an
identifier slot holds a string or nothing.

Rasa's slash syntax (``/inform{"id_number":[["…"]]}``) gives an entity whatever JSON was
typed; a ``text`` slot takes a list or an object as it comes, and it would stay in the tracker
until a form validated it (issue 18.6). Inside the forms their own validators refuse the same
(``actions.forms``, ``actions.lookup``)."""
from __future__ import annotations

from typing import Any, Dict, List, Text

from rasa_sdk import Tracker
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.forms import ValidationAction
from rasa_sdk.types import DomainDict

from ground.guarded_slots import SCALAR_SLOTS


def _scalar(slot: str):
    async def validate(self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker,
                       domain: DomainDict) -> Dict[Text, Any]:
        return {slot: value if isinstance(value, str) else None}
    validate.__name__ = f"validate_{slot}"
    return validate


class ValidateSlotMappings(ValidationAction):
    """Every identifier slot filled outside a form: a string, or refused (set to None)."""

    def name(self) -> Text:
        return "action_validate_slot_mappings"

    def domain_slots(self, domain: DomainDict) -> List[Text]:
        """rasa-sdk validates here only slots without a form condition; these identifier slots
        have some (``active_loop: null`` among them): they are validated all the same."""
        return [slot for slot in SCALAR_SLOTS if slot in (domain.get("slots") or {})]


for _slot in SCALAR_SLOTS:
    setattr(ValidateSlotMappings, f"validate_{_slot}", _scalar(_slot))
