"""The slots an entity can fill with a typed value, which ``action_validate_slot_mappings``
(actions/slot_guard.py) keeps to a string or nothing: identifiers and the case request's kind.
The Rasa server (bot/slot_validation.py) asks for that validation only when a message filled
one of them."""
from __future__ import annotations

SCALAR_SLOTS = ("policy_number", "case_number", "id_suffix", "sms_code", "lookup_phone",
                "lookup_id_suffix", "lookup_sms_code")
