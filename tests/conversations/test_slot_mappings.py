"""The domain's slot mappings, run by Rasa's own ``action_extract_slots`` (no model needed).

What the user notices: a bare six-digit number is read as the ID suffix until the SMS code is
asked for, and as the code afterwards; several identifiers in one message are all taken.
"""
from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Dict, List

import pytest
from rasa.core.actions.action import ActionExtractSlots
from rasa.core.channels import CollectingOutputChannel
from rasa.core.nlg import TemplatedNaturalLanguageGenerator
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import ActionExecuted, ActiveLoop, SlotSet, UserUttered
from rasa.shared.core.trackers import DialogueStateTracker

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def domain() -> Domain:
    return Domain.load(str(ROOT / "domain.yml"))


def extracted(domain: Domain, form, requested, intent: str, entities: List[Dict]) -> Dict:
    tracker = DialogueStateTracker.from_events("mapping-test", [
        ActionExecuted("action_listen"),
        ActiveLoop(form),
        SlotSet("requested_slot", requested),
        UserUttered("…", intent={"name": intent, "confidence": 1.0}, entities=entities),
    ], slots=domain.slots)
    events = asyncio.run(ActionExtractSlots(None).run(
        CollectingOutputChannel(), TemplatedNaturalLanguageGenerator(domain.responses), tracker, domain))
    return {e.key: e.value for e in events if isinstance(e, SlotSet)}


def bare_six_digits(value: str) -> List[Dict]:
    """What the NLU emits for a bare 6-digit number: the same span as both entities."""
    return [{"entity": "sms_code", "value": value, "start": 0, "end": 6},
            {"entity": "id_number", "value": value, "start": 0, "end": 6}]


@pytest.mark.parametrize("form", ["surrender_form", "case_form"])
def test_bare_six_digits_are_the_id_suffix_while_it_is_asked(domain, form):
    slots = extracted(domain, form, "id_suffix", "inform", bare_six_digits("150028"))
    assert slots.get("id_suffix") == "150028"
    assert "sms_code" not in slots


@pytest.mark.parametrize("form", ["surrender_form", "case_form"])
def test_bare_six_digits_are_the_code_once_the_code_is_asked(domain, form):
    slots = extracted(domain, form, "sms_code", "inform", bare_six_digits("482913"))
    assert slots.get("sms_code") == "482913"
    assert "id_suffix" not in slots  # the verified suffix marker is not overwritten


def test_policy_number_and_id_suffix_in_one_message_are_both_taken(domain):
    entities = [{"entity": "policy_number", "value": "SBX1000000000012", "start": 3, "end": 19},
                {"entity": "id_number", "value": "31002X", "start": 25, "end": 31}]
    slots = extracted(domain, "surrender_form", "policy_number", "inform", entities)
    assert slots.get("policy_number") == "SBX1000000000012" and slots.get("id_suffix") == "31002X"


def test_an_understood_message_ends_a_misunderstanding_streak(domain):
    assert extracted(domain, "surrender_form", "policy_number", "faq", []).get("misunderstood") is False
    assert "misunderstood" not in extracted(domain, "surrender_form", "policy_number", "nlu_fallback", [])


def test_an_opening_message_with_policy_number_and_id_suffix_is_taken_whole(domain):
    """"我要退保 SBX1000000000012 身份证后六位31002X" before any form: both are kept, so the form
    asks for the SMS code next instead of asking again for the suffix."""
    slots = extracted(domain, None, None, "request_surrender", [
        {"entity": "policy_number", "value": "SBX1000000000012", "start": 5, "end": 21},
        {"entity": "id_number", "value": "31002X", "start": 28, "end": 34},
    ])
    assert slots.get("policy_number") == "SBX1000000000012"
    assert slots.get("id_suffix") == "31002X"
