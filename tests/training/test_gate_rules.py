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


# ---------------------------------------------------------------- the change, not the noise
def _predictions(right: dict, wrong_to: str = "greet") -> list:
    """Held-out rows: {intent: [True, False, ...]} (right or read as ``wrong_to``)."""
    rows = []
    for intent, marks in right.items():
        for i, ok in enumerate(marks):
            rows.append({"text": f"{intent}-{i}", "source": "core", "gold": intent,
                         "predicted": intent if ok else wrong_to, "confidence": 0.9})
    return rows


def test_mcnemar_exact_values():
    assert gate.mcnemar_p(0, 0) == 1.0
    assert gate.mcnemar_p(2, 0) == 0.5  # two lines lost, none gained: could be chance
    assert abs(gate.mcnemar_p(6, 0) - 0.03125) < 1e-9  # six lost, none gained: the change
    assert abs(gate.mcnemar_p(5, 1) - 0.21875) < 1e-9
    assert gate.mcnemar_p(3, 3) == 1.0


def test_a_floor_missed_by_noise_is_a_note_and_a_real_loss_within_the_floors_fails(baseline):
    # The candidate misses the intent-F1 floor by two lines the current model also half-missed
    # (lost 2, gained 1: noise) ...
    current, candidate = _report(), _report(f1_refund=0.84)
    current["predictions"] = _predictions({"ask_refund_time": [True, True, False] + [True] * 7})
    candidate["predictions"] = _predictions({"ask_refund_time": [False, False, True] + [True] * 7})
    verdict = gate.decide(baseline, candidate, current)
    assert verdict["passed"], verdict
    assert any(n.startswith("noise, not the change: intent ask_refund_time: F1 0.8400") and
               "lost 2 to greet ×2, gained 1; McNemar p=1.000: noise" in n for n in verdict["notes"])
    # ... while losing seven lines of ask_surrender_fee fails though its F1 is within the floor.
    current["predictions"] += _predictions({"ask_surrender_fee": [True] * 10})
    candidate["predictions"] += _predictions({"ask_surrender_fee": [False] * 7 + [True] * 3})
    verdict = gate.decide(baseline, candidate, current)
    assert not verdict["passed"]
    assert any(f.startswith("worse than the current model: ask_surrender_fee: 10/10 → 3/10 right "
                            "(lost 7 to greet ×7, gained 0; McNemar p=0.016: worse)")
               for f in verdict["failures"]), verdict["failures"]
    # Without the current model the floors alone decide, and it says so.
    alone = gate.decide(baseline, _report(f1_refund=0.84))
    assert not alone["passed"] and any("floors alone decide" in n for n in alone["notes"])


def test_core_guard_fails_when_an_insurers_intent_takes_core_lines(baseline):
    candidate = _report()
    candidate["predictions"] = _predictions({"ask_refund_time": [True] * 9 + [False]},
                                            wrong_to="ask_invoice")
    candidate["core_guard"] = [{"text": "这保险不要了，退钱", "gold": "request_surrender",
                                "where": "nlu/surrender.yml:85", "predicted": "ask_invoice",
                                "confidence": 0.81},
                               {"text": "我要退保", "gold": "request_surrender",
                                "where": "nlu/surrender.yml:3", "predicted": "request_surrender",
                                "confidence": 0.99}]
    failures = gate.core_guard(candidate, baseline, ["ask_refund_time", "request_surrender"],
                               {"ask_invoice": "acme"})
    assert failures == [
        "core guard: 1 held-out line(s) of core intent ask_refund_time now read as acme's ask_invoice",
        "core guard: core request_surrender example '这保险不要了，退钱' (nlu/surrender.yml:85) now "
        "reads as acme's ask_invoice (confidence 0.81)"]


def test_core_recall_floor(baseline):
    low = _report()
    low["overall"]["per_intent"]["ask_refund_time"]["recall"] = 0.3
    failures = gate.core_guard(low, baseline, ["ask_refund_time"], {})
    assert failures and failures[0].startswith(
        "core guard: core intent ask_refund_time recall 0.300 < floor 0.350")
    baseline["recall_floors"] = {"ask_refund_time": 0.2}  # set by whoever owns the thresholds
    assert gate.core_guard(low, baseline, ["ask_refund_time"], {}) == []


def test_update_baseline_shows_what_it_lowers_and_needs_a_reason(project, tmp_path):
    import json

    from bot import model as bot_model
    from tests.training.conftest import tuibao

    old = gate.baseline_from(_report(), core_intents=["ask_refund_time", "ask_surrender_fee", "greet"])
    (tmp_path / "baseline.json").write_text(json.dumps(old))
    worse = _report(f1_refund=0.80, macro=0.93, fingerprint=bot_model.fingerprint(project))
    (tmp_path / "report.json").write_text(json.dumps(worse))
    args = ["gate", "--report", str(tmp_path / "report.json"), "--baseline",
            str(tmp_path / "baseline.json"), "--update-baseline"]
    refused = tuibao(project, *args)
    assert refused.returncode == 2, refused.stdout + refused.stderr
    assert "LOWERS macro-F1 0.9500 → 0.9300" in refused.stdout
    assert "LOWERS core intent ask_refund_time F1 0.9500 → 0.8000" in refused.stdout
    assert "--reason" in refused.stderr
    assert json.loads((tmp_path / "baseline.json").read_text()) == old  # nothing written
    done = tuibao(project, *args, "--reason", "relabelled refund-time lines on purpose")
    assert done.returncode == 0, done.stdout + done.stderr
    written = json.loads((tmp_path / "baseline.json").read_text())
    assert written["macro_f1"] == 0.93
    assert written["history"][-1]["reason"] == "relabelled refund-time lines on purpose"
    assert "macro-F1 0.9500 → 0.9300" in written["history"][-1]["lowered"]
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
