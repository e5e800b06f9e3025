"""The trained model meets the held-out gates (issue 12), measured by ``python -m bot.evaluate``
in its own process, on every held-out file:

- intent accuracy ≥ 0.97 on tests/heldout/heldout.yml and ≥ 0.95 on tests/heldout/real_users.yml
  (issue 12's targets), ≥ 0.90 on tests/heldout/blind.yml (written blind after both, never
  tuned against: a floor under today's 0.914; docs/nlu.md says why it sits lower);
- every identifier entity's exact value 1.00 on each;
- macro-F1 and per-intent precision/recall/F1 printed (``pytest -s`` shows them).

Only a model trained on the current data is scored: models/tuibao.tar.gz with a fingerprint
equal to ``bot.model.fingerprint()`` (``python -m bot.model train`` writes it). A stale model
fails with the command that retrains it, rather than gating on what an old model learnt.
"""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from bot import model as model_module
from bot.evaluate import HELDOUT_FILES, INTENT_TARGETS, model_is_current

ROOT = Path(__file__).resolve().parents[2]
GATES = {"heldout.yml": 0.97, "real_users.yml": 0.95, "blind.yml": 0.90}


def test_gates_are_the_agreed_targets():
    assert {name: INTENT_TARGETS[name] for name in GATES} == GATES
    assert [p.name for p in HELDOUT_FILES] == list(GATES)


def test_a_model_trained_on_other_data_is_refused(tmp_path):
    archive = tmp_path / "tuibao.tar.gz"
    archive.write_bytes(b"not scored")
    assert model_is_current(archive)[0] is False  # no fingerprint at all
    (tmp_path / "tuibao.fingerprint").write_text("0" * 64 + "\n")
    current, why = model_is_current(archive)
    assert current is False and "bot.model train" in why
    run = subprocess.run([sys.executable, "-m", "bot.evaluate", "--model", str(archive)],
                         cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert run.returncode == 3 and "Not scoring" in run.stderr


@pytest.fixture(scope="module")
def current_model():
    path = model_module.MODEL_PATH
    if not path.exists():
        pytest.fail("No trained model at models/tuibao.tar.gz: "
                    "run .venv/bin/python -m bot.model train")
    current, why = model_is_current(path)
    if not current:
        pytest.fail(f"The held-out gate scores only a model trained on the current data. {why}")
    return path


@pytest.mark.parametrize("name", list(GATES))
def test_heldout_gate(current_model, name, tmp_path):
    data = ROOT / "tests" / "heldout" / name
    out = tmp_path / f"{name}.json"
    run = subprocess.run([sys.executable, "-m", "bot.evaluate", "--model", str(current_model),
                          "--data", str(data), "--out", str(out)],
                         cwd=ROOT, capture_output=True, text=True, timeout=900,
                         env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"})
    print(run.stdout)
    assert out.exists(), run.stderr[-3000:]
    report = json.loads(out.read_text(encoding="utf-8"))
    assert report["utterances"] >= 150
    assert report["targets"]["intent_accuracy"] == GATES[name]
    assert report["intent_accuracy"] >= GATES[name], (report["failures"], run.stdout[-3000:])
    for entity, figures in report["entities"].items():
        assert figures["gold"] > 0, f"{name} has no {entity} to score"
        assert figures["accuracy"] == 1.0, (entity, figures)
    assert all("f1" in figures for figures in report["per_intent"].values())
    assert run.returncode == 0, report["failures"]
