"""A throw-away copy of the project for the training workflow's tests: the data, the config, the
code the model needs (bot/, training/) and the sandbox's test identities, so tests can plant
bad data, scaffold intents and train without touching the repository."""
from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
COPIED = ["config.yml", "domain.yml", "endpoints.yml", "nlu", "stories", "extensions", "bot",
          "training", "sandbox_insurer", "tests/heldout"]
TUIBAO = [sys.executable, "-m", "training.cli"]


def copy_project(target: Path, with_extensions: bool = True) -> Path:
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    for rel in COPIED:
        source = ROOT / rel
        if rel == "extensions" and not with_extensions:
            (target / rel).mkdir(parents=True, exist_ok=True)
            continue
        if source.is_dir():
            shutil.copytree(source, target / rel, ignore=ignore)
        else:
            (target / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(source, target / rel)
    return target


def tuibao(project: Path, *args: str, timeout: float = 900) -> subprocess.CompletedProcess:
    """Run the command line as CI would, in the project folder."""
    return subprocess.run([*TUIBAO, *args], cwd=project, capture_output=True, text=True,
                          timeout=timeout, env={**__import__("os").environ,
                                                "PYTHONPATH": str(ROOT),
                                                "TF_CPP_MIN_LOG_LEVEL": "2",
                                                "RASA_TELEMETRY_ENABLED": "false"})


@pytest.fixture
def project(tmp_path) -> Path:
    return copy_project(tmp_path / "project")
