"""Stacks shared by several test folders (registered in tests/conftest.py).

``channels_stack``: sandbox insurer, actions, the simulator with the Bot API stand-in, Rasa with
the WeChat, Telegram and REST channels, on the defaults; the Telegram tests and the security
probes both use it (one Rasa start instead of two). Every test talks as a user of its own, and
neither folder changes the sandbox's state. Rasa's log: ``.test-logs/channels-rasa.log``."""
from __future__ import annotations

from typing import Iterator

import pytest

from harness.services import ROOT
from harness.stack import Stack, tuibao_stack

CHANNELS_LOG_PREFIX = "channels"
CHANNELS_RASA_LOG = ROOT / ".test-logs" / f"{CHANNELS_LOG_PREFIX}-rasa.log"


@pytest.fixture(scope="session")
def channels_stack(tmp_path_factory) -> Iterator[Stack]:
    with tuibao_stack(tmp_path_factory.mktemp("channels-stack"),
                      log_prefix=CHANNELS_LOG_PREFIX) as running:
        yield running
