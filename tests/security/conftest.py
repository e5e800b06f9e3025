"""One running stack (sandbox insurer, actions, simulator, Rasa with the WeChat and REST
channels) for the probes of issue 7 that need the whole system."""
from __future__ import annotations

import pytest

from tests.support.stack import tuibao_stack
from tests.wechat.wechat_caller import WeChatCaller


@pytest.fixture(scope="session")
def stack(tmp_path_factory):
    with tuibao_stack(tmp_path_factory.mktemp("security-stack"), log_prefix="security") as running:
        yield running


@pytest.fixture
def wechat(stack) -> WeChatCaller:
    """WeChat's server in safe (AES) mode, the demo's mode."""
    return WeChatCaller(stack.webhook_url)
