"""One running stack (sandbox insurer, actions, simulator, Rasa with the WeChat and REST
channels) for the probes of issue 7 that need the whole system."""
from __future__ import annotations

import pytest

from harness.wechat_caller import WeChatCaller


@pytest.fixture(scope="session")
def stack(channels_stack):
    """The stack shared with the other channel tests (tests/support/shared_stacks.py)."""
    return channels_stack


@pytest.fixture
def wechat(stack) -> WeChatCaller:
    """WeChat's server in safe (AES) mode, the demo's mode."""
    return WeChatCaller(stack.webhook_url)
