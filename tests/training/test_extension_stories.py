"""Each insurer's test stories (extensions/<insurer>/tests/stories) are predicted exactly by a
dialogue model trained on the core plus the insurers' folders (merged by the importer): the
project's model when it is current, else a dialogue-only model trained into a temp folder."""
from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from training.extensions import discover

ROOT = Path(__file__).resolve().parents[2]
RASA = str(ROOT / ".venv" / "bin" / "rasa")


def rasa(*args: str, timeout: float = 900) -> subprocess.CompletedProcess:
    return subprocess.run([RASA, *args], cwd=ROOT, capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope="module")
def core_model(tmp_path_factory) -> Path:
    from bot import model

    if model.is_current():
        return model.MODEL_PATH
    data = tmp_path_factory.mktemp("dialogue-data")
    for path in (ROOT / "stories").glob("*.yml"):
        shutil.copy(path, data / path.name)
    shutil.copy(ROOT / "nlu" / "faq.yml", data / "faq.yml")  # utter_faq/<topic> answers
    out = tmp_path_factory.mktemp("dialogue-model")
    done = rasa("train", "core", "--config", "config.yml", "--domain", "domain.yml",
                "--stories", str(data), "--out", str(out), "--fixed-model-name", "core")
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return out / "core.tar.gz"


def test_every_insurer_test_story_is_predicted_exactly(core_model, tmp_path):
    folders = [e.test_stories_dir for e in discover(ROOT) if e.test_stories_dir.is_dir()]
    assert folders, "no insurer test stories (extensions/hengxin/tests/stories is the example)"
    for folder in folders:
        out = tmp_path / folder.parent.parent.name
        done = rasa("test", "core", "--model", str(core_model), "--stories", str(folder),
                    "--fail-on-prediction-errors", "--out", str(out))
        failed = out / "failed_test_stories.yml"
        detail = failed.read_text(encoding="utf-8") if failed.exists() else done.stdout[-3000:]
        assert done.returncode == 0, detail[-4000:]
        assert "None of the test stories failed" in detail
