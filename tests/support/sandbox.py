"""The real sandbox insurer for a test session, and its sandbox-only controls.

``running_sandbox`` starts ``python -m sandbox_insurer`` on a free port with a SQLite database
in ``work_dir``, a fixed ``SANDBOX_TODAY``, no latency or errors and cases that do not advance
on their own, and yields a :class:`SandboxControl` for it. The controls are the endpoints only a
sandbox has (``/sandbox/reset``, ``/sandbox/faults``, ``/sandbox/clock``, ``/sandbox/sms``);
the insurer API itself is left to the code under test.
"""
from __future__ import annotations

import datetime as dt

import contextlib
from pathlib import Path
from typing import Any, Dict, Iterator, List, Optional

import requests

from harness.services import PYTHON, free_port, service

TIMEOUT = 10


class SandboxControl:
    """Sandbox-only controls (reset, faults, clock, SMS outbox) over HTTP."""

    def __init__(self, url: str, api_key: str) -> None:
        self.url = url
        self.api_key = api_key
        self.http = requests.Session()
        self.http.headers["X-Api-Key"] = api_key

    def reset(self) -> None:
        """Wipe and re-seed the sandbox's data."""
        self.http.post(f"{self.url}/sandbox/reset", timeout=TIMEOUT).raise_for_status()

    def faults(self, latency_ms: int = 0, error_rate: float = 0.0, error_mode: str = "500") -> None:
        """Injected latency and errors for the insurer API; no arguments: none."""
        body = {"latency_ms": latency_ms, "error_rate": error_rate, "error_mode": error_mode}
        self.http.put(f"{self.url}/sandbox/faults", json=body, timeout=TIMEOUT).raise_for_status()

    def clock(self, offset_seconds: int) -> Dict[str, Any]:
        """Move the sandbox's clock; its answer (with ``today``)."""
        answer = self.http.put(f"{self.url}/sandbox/clock", json={"offset_seconds": offset_seconds},
                               timeout=TIMEOUT)
        answer.raise_for_status()
        return answer.json()

    def today(self) -> dt.date:
        """The sandbox's own "today" (Asia/Shanghai, SANDBOX_TODAY in tests)."""
        answer = self.http.get(f"{self.url}/health", timeout=TIMEOUT)
        answer.raise_for_status()
        return dt.date.fromisoformat(answer.json()["today"])

    def sms(self, phone: str) -> List[Dict[str, Any]]:
        """The SMS messages sent to ``phone``, newest first."""
        answer = self.http.get(f"{self.url}/sandbox/sms", params={"phone": phone}, timeout=TIMEOUT)
        answer.raise_for_status()
        return answer.json()

    def latest_code(self, phone: str) -> Optional[str]:
        """The code of the newest SMS to ``phone``, None if none was sent."""
        messages = self.sms(phone)
        return messages[0]["code"] if messages else None


@contextlib.contextmanager
def running_sandbox(
    work_dir: Path,
    today: str = "2026-11-25",
    log_name: str = "sandbox",
    extra_env: Optional[Dict[str, str]] = None,
    api_key: str = "sandbox-test-key",
) -> Iterator[SandboxControl]:
    """The sandbox insurer, running until the block ends (output in ``.test-logs/<log_name>.log``)."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = {
        "SANDBOX_PORT": str(port),
        "SANDBOX_TODAY": today,
        "SANDBOX_DATABASE_URL": f"sqlite:///{Path(work_dir) / 'sandbox.db'}",
        "SANDBOX_MODE": "1",
        "SANDBOX_API_KEY": api_key,
        "SANDBOX_LATENCY_MS": "0",
        "SANDBOX_ERROR_RATE": "0",
        "SANDBOX_CASE_ADVANCE_SECONDS": "0",
        # The SMS sending limits are off: tests send codes back to back (tests of the limits
        # switch them on with PUT /sandbox/sms-limits).
        "SANDBOX_SMS_MIN_INTERVAL_S": "0", "SANDBOX_SMS_MAX_PER_HOUR": "0",
        **(extra_env or {}),
    }
    with service([PYTHON, "-m", "sandbox_insurer"], f"{url}/health", env=env, log_name=log_name):
        yield SandboxControl(url, api_key)
