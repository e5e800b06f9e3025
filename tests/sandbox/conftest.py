"""A real sandbox insurer per database backend (SQLite file, fresh PostgreSQL database), over
HTTP on a free port with SANDBOX_TODAY=2026-11-25. Every test starts from a fresh seed."""
from __future__ import annotations

import contextlib
import os
import uuid
from pathlib import Path
from typing import Dict, Iterator, Optional

import pytest

from harness.services import PYTHON, ROOT, free_port, service

from .client import SandboxClient
from tests.support.postgres import postgres_database

TODAY = "2026-11-25"


@contextlib.contextmanager
def sqlite_database(tmp_dir: Path) -> Iterator[str]:
    yield f"sqlite:///{tmp_dir / 'sandbox.db'}"


@contextlib.contextmanager
def running_sandbox(database_url: str, extra_env: Optional[Dict[str, str]] = None,
                    name: str = "sandbox") -> Iterator[SandboxClient]:
    port = free_port()
    log_name = f"{name}-{uuid.uuid4().hex[:6]}"
    env = {"SANDBOX_PORT": str(port), "SANDBOX_HOST": "127.0.0.1", "SANDBOX_TODAY": TODAY,
           "SANDBOX_DATABASE_URL": database_url, "SANDBOX_MODE": "1",
           "SANDBOX_API_KEY": "test-key-1", "SANDBOX_CASE_ADVANCE_SECONDS": "600",
           # SMS limits off: tests send codes back to back (test_sms_limits switches them on)
           "SANDBOX_SMS_MIN_INTERVAL_S": "0", "SANDBOX_SMS_MAX_PER_HOUR": "0",
           **(extra_env or {})}
    base = f"http://127.0.0.1:{port}"
    with service([PYTHON, "-m", "sandbox_insurer"], f"{base}/health", env=env, timeout=60,
                 log_name=log_name):
        yield SandboxClient(base, api_key="test-key-1", log_path=ROOT / ".test-logs" / f"{log_name}.log")


@pytest.fixture(scope="session", params=["sqlite", "postgresql"])
def sandbox_service(request, tmp_path_factory) -> Iterator[SandboxClient]:
    """One running sandbox insurer per backend for the whole session."""
    if request.param == "sqlite":
        database = sqlite_database(tmp_path_factory.mktemp("sandbox"))
    else:
        database = postgres_database()
    with database as url, running_sandbox(url, name=f"sandbox-{request.param}") as client:
        client.backend = request.param
        yield client


@pytest.fixture
def sandbox(sandbox_service: SandboxClient) -> SandboxClient:
    """The running sandbox, wiped and re-seeded (clock and faults back to normal)."""
    sandbox_service.reset()
    return sandbox_service
