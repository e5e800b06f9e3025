"""The trained model meets the held-out targets (intent accuracy ≥ 0.93, identifier entities
≥ 0.98), measured by ``python -m bot.evaluate`` in its own process.

Model: $TUIBAO_NLU_MODEL, else models/tuibao.tar.gz, else the newest archive in models/.
"""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from bot.evaluate import DEFAULT_DATA, TRAIN_HINT, resolve_model

ROOT = Path(__file__).resolve().parents[2]


def test_heldout_targets_met(tmp_path):
    model = resolve_model(Path(os.environ.get("TUIBAO_NLU_MODEL", ROOT / "models" / "tuibao.tar.gz")))
    if model is None:
        pytest.fail(f"No trained model to evaluate. {TRAIN_HINT} "
                    "(or point TUIBAO_NLU_MODEL at an archive).")
    assert DEFAULT_DATA.is_file(), "tests/heldout/heldout.yml is missing"
    out = tmp_path / "heldout_eval.json"
    run = subprocess.run([sys.executable, "-m", "bot.evaluate", "--model", str(model), "--out", str(out)],
                         cwd=ROOT, capture_output=True, text=True, timeout=900,
                         env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"})
    print(run.stdout)
    report = json.loads(out.read_text(encoding="utf-8"))
    assert report["utterances"] >= 150
    assert run.returncode == 0, f"below target: {report['failures']}\n{run.stdout[-3000:]}"
    assert report["intent_accuracy"] >= 0.93
    for entity, figures in report["entities"].items():
        assert figures["gold"] > 0, f"held-out set has no {entity} to score"
        assert figures["accuracy"] >= 0.98, entity
