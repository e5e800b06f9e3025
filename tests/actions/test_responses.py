"""Every response an action sends exists in the domain, and every response in the domain is
said by something (a rule or story, an action, or a form asking for its slot).

`rasa data validate` cannot see responses sent from actions (it warns about all of them), so
this is the check that a renamed response does not silently leave the user without an answer.
"""
from __future__ import annotations

import re
from pathlib import Path


from actions.common import NOT_ELIGIBLE_RESPONSES
from handoff.store import HANDOFF_REASONS

ROOT = Path(__file__).resolve().parents[2]


def action_responses() -> set:
    found = set()
    for path in (ROOT / "actions").glob("*.py"):
        found |= set(re.findall(r'"(utter_[a-z_]+)"', path.read_text(encoding="utf-8")))
    found |= set(NOT_ELIGIBLE_RESPONSES.values()) | {"utter_not_eligible_other"}
    found |= {f"utter_handoff_{reason}" for reason in HANDOFF_REASONS}
    found.discard("utter_action")  # Rasa's key for the response a bot message came from
    return found


def story_actions() -> set:
    text = "".join(p.read_text(encoding="utf-8") for p in (ROOT / "stories").glob("*.yml"))
    return set(re.findall(r"action: (utter_[a-z_]+)", text))


def form_asks(domain) -> set:
    asks = set()
    for form, spec in domain["forms"].items():
        for slot in spec["required_slots"]:
            asks |= {f"utter_ask_{form}_{slot}", f"utter_ask_{slot}"}
    return asks


def test_every_response_an_action_sends_is_in_the_domain(domain):
    missing = action_responses() - set(domain["responses"])
    assert not missing, missing


def test_every_domain_response_is_said_by_something(domain):
    said = action_responses() | story_actions() | form_asks(domain) | {"utter_default"}
    orphans = set(domain["responses"]) - said
    assert not orphans, orphans


def test_form_questions_exist_for_every_slot_a_form_asks(domain):
    for form, spec in domain["forms"].items():
        for slot in spec["required_slots"]:
            if form == "case_form" and slot == "policy_number":
                continue  # offered in the case-number question, never asked on its own
            asks = set(domain["responses"]) | set(domain["actions"])  # a custom ask action counts
            assert {f"utter_ask_{form}_{slot}", f"utter_ask_{slot}", f"action_ask_{slot}"} & asks, (form, slot)
