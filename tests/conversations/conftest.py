"""One running stack (sandbox insurer, action server, Rasa; no simulator) for every live
conversation module: starting Rasa with the model is the slow part, so the modules share it.
Each module starts from a freshly seeded sandbox (``POST /sandbox/reset``); every module talks
as senders of its own, so the trackers never mix."""
from __future__ import annotations

from typing import Iterator

import pytest
import requests

from harness.stack import Stack, require_model, tuibao_stack


@pytest.fixture(scope="session")
def conversation_stack(tmp_path_factory) -> Iterator[Stack]:
    require_model()
    with tuibao_stack(tmp_path_factory.mktemp("conversation-stack"), with_simulator=False,
                      log_prefix="conversations") as running:
        yield running


@pytest.fixture(scope="module")
def stack(conversation_stack: Stack) -> Stack:
    requests.post(f"{conversation_stack.sandbox_url}/sandbox/reset", timeout=10).raise_for_status()
    return conversation_stack
