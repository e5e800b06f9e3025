"""The real sandbox insurer for the action tests (free port, temp SQLite, SANDBOX_TODAY=2026-11-25),
the registry of the action server pointed at it through the environment, and a temp handoff store."""
from __future__ import annotations

import sys
from pathlib import Path
from typing import Any, Dict, Iterator, List, Optional

import pytest
import requests
import yaml

from actions import insurer_calls
from tests.support.services import free_port, service

ROOT = Path(__file__).resolve().parents[2]
TODAY = "2026-11-25"
API_KEY = "actions-test-key"


class Sandbox:
    """Sandbox-only controls (reset, faults, SMS outbox) over HTTP."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.http = requests.Session()
        self.http.headers["X-Api-Key"] = API_KEY

    def reset(self) -> None:
        self.http.post(f"{self.url}/sandbox/reset", timeout=10).raise_for_status()

    def faults(self, error_rate: float = 0.0, error_mode: str = "500") -> None:
        body = {"latency_ms": 0, "error_rate": error_rate, "error_mode": error_mode}
        self.http.put(f"{self.url}/sandbox/faults", json=body, timeout=10).raise_for_status()

    def sms(self, phone: str) -> List[Dict[str, Any]]:
        answer = self.http.get(f"{self.url}/sandbox/sms", params={"phone": phone}, timeout=10)
        answer.raise_for_status()
        return answer.json()

    def latest_code(self, phone: str) -> Optional[str]:
        messages = self.sms(phone)
        return messages[0]["code"] if messages else None


@pytest.fixture(scope="session")
def sandbox(tmp_path_factory) -> Iterator[Sandbox]:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    database = tmp_path_factory.mktemp("actions-sandbox") / "sandbox.db"
    env = {
        "SANDBOX_PORT": str(port),
        "SANDBOX_TODAY": TODAY,
        "SANDBOX_DATABASE_URL": f"sqlite:///{database}",
        "SANDBOX_MODE": "1",
        "SANDBOX_API_KEY": API_KEY,
        "SANDBOX_LATENCY_MS": "0",
        "SANDBOX_ERROR_RATE": "0",
        "SANDBOX_CASE_ADVANCE_SECONDS": "0",
    }
    with service([sys.executable, "-m", "sandbox_insurer"], f"{url}/health", env=env,
                 log_name="actions-sandbox"):
        yield Sandbox(url)


@pytest.fixture
def insurer(sandbox: Sandbox, monkeypatch, tmp_path) -> Iterator[Sandbox]:
    """A freshly seeded sandbox, the action server's registry aimed at it, an empty handoff store."""
    sandbox.faults()
    sandbox.reset()
    monkeypatch.setenv("TUIBAO_SANDBOX_URL", sandbox.url)
    monkeypatch.setenv("TUIBAO_SANDBOX_API_KEY", API_KEY)
    monkeypatch.delenv("TUIBAO_INSURERS_FILE", raising=False)
    monkeypatch.setenv("TUIBAO_HANDOFF_DB_URL", f"sqlite:///{tmp_path / 'handoff.db'}")
    monkeypatch.setenv("TUIBAO_HANDOFF_HOTLINE", "400-123-4567")
    insurer_calls.reset_registry()
    yield sandbox
    sandbox.faults()
    insurer_calls.reset_registry()


@pytest.fixture(scope="session")
def domain() -> Dict[str, Any]:
    """domain.yml as the action server receives it (a plain dict)."""
    return yaml.safe_load((ROOT / "domain.yml").read_text(encoding="utf-8"))
