"""The real sandbox insurer, started once for this folder on a free port with a temp SQLite DB."""
from __future__ import annotations

from typing import Iterator

import pytest

from insurers.registry import DEFAULT_INSURERS_FILE, InsurerRegistry
from tests.support.sandbox import SandboxControl, running_sandbox

TODAY = "2026-11-25"
API_KEY = "insurers-test-key"  # not the demo key: proves the adapter reads the environment


@pytest.fixture(scope="session")
def sandbox(tmp_path_factory) -> Iterator[SandboxControl]:
    with running_sandbox(tmp_path_factory.mktemp("sandbox-insurer"), today=TODAY, log_name="insurers-sandbox",
                         api_key=API_KEY) as control:
        yield control


@pytest.fixture
def live_registry(sandbox: SandboxControl) -> Iterator[InsurerRegistry]:
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
