"""The gate's rules on hand-made reports: tolerances are stated and applied as written, each
failing line names the figure, the intent or entity, and where the lines went."""
from __future__ import annotations


import pytest

from training import gate


def _report(f1_refund=0.95, macro=0.95, id_acc=1.0, fingerprint="abc"):
    labels = ["ask_refund_time", "ask_surrender_fee", "greet"]
    return {
        "model": "models/candidate.tar.gz", "model_fingerprint": fingerprint,
        "heldout": ["tests/heldout/heldout.yml"],
        "overall": {
            "macro_f1": macro, "identifier_accuracy": id_acc,
            "per_intent": {
                "ask_refund_time": {"precision": 1.0, "recall": 0.5, "f1": f1_refund, "n": 10},
                "ask_surrender_fee": {"precision": 0.6, "recall": 1.0, "f1": 0.75, "n": 10},
                "greet": {"precision": 1.0, "recall": 1.0, "f1": 1.0, "n": 10}},
            "identifiers": {"id_number": {"accuracy": id_acc, "matched": 9, "gold": 10, "spurious": 0}},
            "confusion": {"labels": labels, "matrix": [[5, 5, 0], [0, 10, 0], [0, 0, 10]]},
        },
    }


@pytest.fixture
def baseline():
    return gate.baseline_from(_report(), core_intents=["ask_refund_time", "ask_surrender_fee", "greet"])


def test_within_tolerance_passes(baseline):
    assert gate.compare(baseline, _report(f1_refund=0.86, macro=0.935)) == []


def test_an_intent_below_tolerance_is_named_with_where_its_lines_went(baseline):
    failures = gate.compare(baseline, _report(f1_refund=0.84))
    assert len(failures) == 1
    assert failures[0].startswith("intent ask_refund_time: F1 0.8400 < baseline 0.9500 - tolerance 0.1")
    assert "recall 0.500" in failures[0] and "its lines went to ask_surrender_fee ×5" in failures[0]


def test_macro_f1_and_identifier_losses_fail(baseline):
    failures = gate.compare(baseline, _report(macro=0.92, id_acc=0.9))
    assert any(f.startswith("macro-F1 0.9200 < baseline 0.9500") for f in failures)
    assert any(f.startswith("identifier id_number: exact-value accuracy 0.9 < baseline 1.0000") for f in failures)


def test_an_intent_that_lost_its_heldout_lines_fails(baseline):
    report = _report()
    del report["overall"]["per_intent"]["greet"]
    assert gate.compare(baseline, report) == ["intent greet: no held-out lines any more (baseline F1 1.0000)"]


def test_stale_model_is_refused():
    with pytest.raises(gate.StaleModel, match="scores only a model trained on the current data"):
        gate.check_fingerprint(_report(fingerprint="old"), "new")
    with pytest.raises(gate.StaleModel, match="no <model>.fingerprint"):
        gate.check_fingerprint(_report(fingerprint=None), "new")
    gate.check_fingerprint(_report(fingerprint="new"), "new")


def test_the_gate_scores_the_sealed_files_and_keeps_the_development_sets_apart():
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    gated = {p.name for _, p in gate.gate_files(root)}
    development = {p.name for _, p in gate.development_files(root)}
    assert {"sealed.yml", "blind.yml", "more_intents.yml"} <= gated
    assert development == {"heldout.yml", "real_users.yml"} and not gated & development
    baseline = gate.load_baseline(root / gate.BASELINE)
    assert not any(name.endswith(("/heldout.yml", "/real_users.yml")) for name in baseline["heldout"])
    assert "tests/heldout/sealed.yml" in baseline["heldout"]
