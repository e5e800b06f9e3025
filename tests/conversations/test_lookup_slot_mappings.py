"""lookup_form's slot mappings, run by Rasa's own ``action_extract_slots``: the phone and the ID
suffix of one message both fill, and a bare six-digit number is the lookup's code only once the
code is asked for (never the surrender form's slots)."""
from __future__ import annotations

from tests.conversations.test_slot_mappings import bare_six_digits, domain, extracted  # noqa: F401 - fixture

PHONE = {"entity": "phone_number", "value": "13800138000", "start": 0, "end": 11}
SUFFIX = {"entity": "id_number", "value": "31002X", "start": 12, "end": 18}


def test_phone_and_suffix_of_one_message_both_fill(domain):
    slots = extracted(domain, "lookup_form", "lookup_phone", "inform", [PHONE, SUFFIX])
    assert slots["lookup_phone"] == "13800138000" and slots["lookup_id_suffix"] == "31002X"
    assert "id_suffix" not in slots and "sms_code" not in slots


def test_a_bare_six_digit_number_is_the_lookup_code_only_when_asked_for(domain):
    as_code = extracted(domain, "lookup_form", "lookup_sms_code", "inform", bare_six_digits("123456"))
    assert as_code.get("lookup_sms_code") == "123456"
    assert "lookup_id_suffix" not in as_code and "sms_code" not in as_code and "id_suffix" not in as_code
    as_suffix = extracted(domain, "lookup_form", "lookup_phone", "inform", bare_six_digits("150028"))
    assert as_suffix.get("lookup_id_suffix") == "150028" and "lookup_sms_code" not in as_suffix
