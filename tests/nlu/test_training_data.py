"""The training data says what the extractor reads: every identifier annotated in nlu/*.yml
carries the normalised value the extractor produces, and nothing the extractor finds is left
unannotated (a silent disagreement would teach the dialogue wrong examples)."""
from collections import Counter
from pathlib import Path

import pytest
from rasa.shared.nlu.training_data.loading import load_data

from ground.identifiers import IDENTIFIER_ENTITIES, find_identifiers

NLU = Path(__file__).resolve().parents[2] / "nlu"
FILES = sorted(NLU.glob("*.yml"))
CORE_INTENTS = ["greet", "goodbye", "thank", "affirm", "deny", "request_surrender", "inform",
                "ask_surrender_fee", "ask_refund_time", "check_surrender_status",
                "withdraw_surrender", "request_human", "complain", "bot_challenge", "out_of_scope"]


@pytest.fixture(scope="module")
def training_data():
    return load_data(str(NLU))


def test_every_core_intent_has_at_least_30_examples(training_data):
    counts = Counter(m.get("intent") for m in training_data.intent_examples)
    assert {i: counts[i] for i in CORE_INTENTS if counts[i] < 30} == {}
    topics = {m.get("intent_response_key") for m in training_data.intent_examples if m.get("intent") == "faq"}
    assert {"faq/cooling_off", "faq/cash_value", "faq/documents", "faq/who_can_surrender",
            "faq/coverage_after"} <= topics


def test_every_faq_topic_has_an_answer(training_data):
    topics = {m.get("intent_response_key") for m in training_data.intent_examples if m.get("intent") == "faq"}
    assert {f"utter_{t}" for t in topics} <= set(training_data.responses)


def test_annotations_agree_with_the_extractor(training_data):
    disagreements = []
    for message in training_data.intent_examples:
        text = message.get("text")
        annotated = {(e["start"], e["end"], e["entity"], e["value"])
                     for e in message.get("entities") or [] if e["entity"] in IDENTIFIER_ENTITIES}
        found = {(s.start, s.end, s.entity, s.value) for s in find_identifiers(text)}
        ambiguous = {(s.start, s.end, s.entity, s.value) for s in find_identifiers(text) if s.ambiguous}
        if not annotated <= found or (found - ambiguous) - annotated:
            disagreements.append((text, sorted(annotated), sorted(found)))
        # of an ambiguous pair exactly one reading is annotated
        spans = Counter((s, e) for s, e, *_ in annotated)
        assert all(n == 1 for n in spans.values()), text
    assert disagreements == []
