"""The real sandbox insurer for the action tests (free port, temp SQLite, SANDBOX_TODAY=2026-11-25),
the registry of the action server pointed at it through the environment, and a temp handoff store."""
from __future__ import annotations

from pathlib import Path
from typing import Any, Dict, Iterator

import pytest
import yaml

from actions import insurer_calls
from tests.support.sandbox import SandboxControl, running_sandbox

ROOT = Path(__file__).resolve().parents[2]
TODAY = "2026-11-25"
API_KEY = "actions-test-key"


@pytest.fixture(scope="session")
def sandbox(tmp_path_factory) -> Iterator[SandboxControl]:
    with running_sandbox(tmp_path_factory.mktemp("actions-sandbox"), today=TODAY, log_name="actions-sandbox",
                         api_key=API_KEY) as control:
        yield control


@pytest.fixture
def insurer(sandbox: SandboxControl, monkeypatch, tmp_path) -> Iterator[SandboxControl]:
    """A freshly seeded sandbox, the action server's registry aimed at it, an empty handoff store."""
    sandbox.faults()
    sandbox.reset()
    monkeypatch.setenv("TUIBAO_SANDBOX_URL", sandbox.url)
    monkeypatch.setenv("TUIBAO_SANDBOX_API_KEY", API_KEY)
    monkeypatch.setenv("TUIBAO_HENGXIN_URL", sandbox.url)  # the sandbox plays 恒信人寿 too
    monkeypatch.delenv("TUIBAO_INSURERS_FILE", raising=False)
    monkeypatch.setenv("TUIBAO_HANDOFF_DB_URL", f"sqlite:///{tmp_path / 'handoff.db'}")
    monkeypatch.setenv("TUIBAO_HANDOFF_HOTLINE", "400-123-4567")
    monkeypatch.setenv("TUIBAO_CREDENTIALS_DB_URL", f"sqlite:///{tmp_path / 'credentials.db'}")
    monkeypatch.setenv("TUIBAO_DESK_HOURS", "00:00-24:00")  # the desk is open whenever tests run
    insurer_calls.reset_registry()
    yield sandbox
    sandbox.faults()
    insurer_calls.reset_registry()


@pytest.fixture(scope="session")
def domain() -> Dict[str, Any]:
    """domain.yml as the action server receives it (a plain dict)."""
    return yaml.safe_load((ROOT / "domain.yml").read_text(encoding="utf-8"))
