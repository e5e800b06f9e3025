"""Every place that trains or scores the model runs TensorFlow pinned (issue 17): oneDNN's
CPU-specific kernels off, one thread per pool, deterministic ops, a fixed hash seed -- the
settings that differ between machines of this kind (docs/nlu.md, "Same model on every machine")."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from bot import determinism
from bot import model as bot_model

ROOT = Path(__file__).resolve().parents[2]


def test_the_pinned_settings_are_the_ones_that_differ_between_machines():
    assert determinism.PINNED == {
        "TF_ENABLE_ONEDNN_OPTS": "0", "TF_INTRA_OP_PARALLELISM_THREADS": "1",
        "TF_INTER_OP_PARALLELISM_THREADS": "1", "OMP_NUM_THREADS": "1",
        "TF_DETERMINISTIC_OPS": "1", "PYTHONHASHSEED": "0"}
    # A machine's own setting never wins over the pinned one.
    assert determinism.pinned_env({"TF_ENABLE_ONEDNN_OPTS": "1", "HOME": "/x"}) == {
        **determinism.PINNED, "HOME": "/x"}


def test_bot_model_trains_pinned(monkeypatch, tmp_path):
    seen = {}

    def fake_call(cmd, cwd=None, env=None):
        seen["env"] = env
        return 1  # "failed": nothing is written

    monkeypatch.setattr(bot_model, "is_current", lambda: False)
    monkeypatch.setattr(subprocess, "call", fake_call)
    monkeypatch.setenv("TF_ENABLE_ONEDNN_OPTS", "1")
    assert bot_model.train() == 1
    assert {k: seen["env"][k] for k in determinism.PINNED} == determinism.PINNED


def test_tuibao_train_and_bin_test_use_the_same_settings():
    from training import cli

    env = cli._env()
    assert {k: env[k] for k in determinism.PINNED} == determinism.PINNED
    assert 'eval "$(.venv/bin/python -m bot.determinism)"' in (ROOT / "bin" / "test").read_text()
    exported = subprocess.run([sys.executable, "-m", "bot.determinism"],
                              cwd=ROOT, capture_output=True, text=True, check=True).stdout
    assert exported.splitlines() == [f"export {k}={v}" for k, v in determinism.PINNED.items()]
