"""The dialogue model as Rasa's own tools check it: the data validates, and every test story in
this folder is predicted exactly (`rasa test core --fail-on-prediction-errors`).

Uses the project's model when it is current (``make test`` trains it first); otherwise trains a
dialogue-only model into a temp folder (about 40 s on 2 cores): NLU is not needed because test
stories give intents and entities.
"""
from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
RASA = str(Path(__file__).resolve().parents[2] / ".venv" / "bin" / "rasa")
STORIES = Path(__file__).resolve().parent


def rasa(*args: str, timeout: float = 600) -> subprocess.CompletedProcess:
    return subprocess.run([RASA, *args], cwd=ROOT, capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope="module")
def core_model(tmp_path_factory) -> Path:
    from bot import model

    if model.is_current():  # the test command trains the full model first: use it
        return model.MODEL_PATH
    data = tmp_path_factory.mktemp("dialogue-data")
    for path in (ROOT / "stories").glob("*.yml"):
        shutil.copy(path, data / path.name)
    # utter_faq's answers (utter_faq/<topic>) live with the NLU data.
    shutil.copy(ROOT / "nlu" / "faq.yml", data / "faq.yml")
    out = tmp_path_factory.mktemp("dialogue-model")
    done = rasa("train", "core", "--config", "config.yml", "--domain", "domain.yml",
                "--stories", str(data), "--out", str(out), "--fixed-model-name", "core")
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return out / "core.tar.gz"


def test_training_data_validates():
    done = rasa("data", "validate", "--fail-on-warnings", "--config", "config.yml",
                "--domain", "domain.yml", "--data", "nlu", "stories")
    output = done.stdout + done.stderr
    assert done.returncode == 0, output[-3000:]
    assert "No story structure conflicts found" in output
    assert "is not part of the domain" not in output and "not a valid utterance" not in output


def test_every_test_story_is_predicted_exactly(core_model, tmp_path):
    assert len([s for f in STORIES.glob("*.yml") for s in f.read_text(encoding="utf-8").split("\n- story:")]) > 25
    done = rasa("test", "core", "--model", str(core_model), "--stories", str(STORIES),
                "--fail-on-prediction-errors", "--out", str(tmp_path))
    failed = (tmp_path / "failed_test_stories.yml")
    detail = failed.read_text(encoding="utf-8") if failed.exists() else done.stdout[-3000:]
    assert done.returncode == 0, detail[-4000:]
    assert "None of the test stories failed" in detail
