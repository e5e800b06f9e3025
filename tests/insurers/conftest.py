"""The real sandbox insurer, started once for this folder on a free port with a temp SQLite DB."""
from __future__ import annotations

import sys
from typing import Iterator, Optional

import pytest
import requests

from insurers.registry import DEFAULT_INSURERS_FILE, InsurerRegistry
from tests.support.services import free_port, service

TODAY = "2026-11-25"
API_KEY = "insurers-test-key"  # not the demo key: proves the adapter reads the environment


class Sandbox:
    """Sandbox-only controls (reset, faults, SMS outbox) over HTTP."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.http = requests.Session()
        self.http.headers["X-Api-Key"] = API_KEY

    def reset(self) -> None:
        self.http.post(f"{self.url}/sandbox/reset", timeout=10).raise_for_status()

    def faults(self, latency_ms: int = 0, error_rate: float = 0.0, error_mode: str = "500") -> None:
        body = {"latency_ms": latency_ms, "error_rate": error_rate, "error_mode": error_mode}
        self.http.put(f"{self.url}/sandbox/faults", json=body, timeout=10).raise_for_status()

    def latest_code(self, phone: str) -> Optional[str]:
        answer = self.http.get(f"{self.url}/sandbox/sms", params={"phone": phone}, timeout=10)
        answer.raise_for_status()
        messages = answer.json()
        return messages[0]["code"] if messages else None


@pytest.fixture(scope="session")
def sandbox(tmp_path_factory) -> Iterator[Sandbox]:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    database = tmp_path_factory.mktemp("sandbox-insurer") / "sandbox.db"
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
    with service([sys.executable, "-m", "sandbox_insurer"], f"{url}/health", env=env, log_name="insurers-sandbox"):
        yield Sandbox(url)


@pytest.fixture
def live_registry(sandbox: Sandbox) -> Iterator[InsurerRegistry]:
    """The repository's own insurers.yml, pointed at this test's sandbox through the environment."""
    sandbox.faults()
    sandbox.reset()
    registry = InsurerRegistry.from_file(
        DEFAULT_INSURERS_FILE,
        environ={"TUIBAO_SANDBOX_URL": sandbox.url, "TUIBAO_SANDBOX_API_KEY": API_KEY},
    )
    yield registry
    sandbox.faults()
    registry.close()
