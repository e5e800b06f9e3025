"""One running stack (sandbox insurer, actions, simulator, Rasa with the WeChat channel) for
the WeChat protocol tests; each test talks to it as WeChat would, as a new user."""
from __future__ import annotations

import uuid

import pytest

from harness.stack import forget_redis_prefix, tuibao_stack
from harness.wechat_caller import WeChatCaller

# An EncodingAESKey the account used before the current one (rotation).
PREVIOUS_AES_KEY = "ZYXWVUTSRQPONMLKJIHGFEDCBA9876543210zyxwvut"


@pytest.fixture(scope="session")
def stack(tmp_path_factory):
    # Insurer read timeout raised to 9 s: the slow-insurer test runs the sandbox at 6 s.
    # A second account in plaintext mode rides along (stack.plain_webhook_url).
    with tuibao_stack(tmp_path_factory.mktemp("wechat-stack"), insurer_read_timeout_s=9.0,
                      previous_aes_key=PREVIOUS_AES_KEY, log_prefix="wechat",
                      plaintext_account=True) as running:
        yield running


@pytest.fixture
def wechat(stack) -> WeChatCaller:
    """WeChat's server in safe (AES) mode, the demo's mode."""
    return WeChatCaller(stack.webhook_url)


@pytest.fixture
def wechat_plain(stack) -> WeChatCaller:
    """WeChat's server calling the account that runs in plaintext mode (same token)."""
    return WeChatCaller(stack.plain_webhook_url, aes_key=None)


@pytest.fixture
def attacker_plain(stack) -> WeChatCaller:
    """Someone who knows the token's signatures (or replays captured ones) posting plaintext
    to the demo's safe-mode account."""
    return WeChatCaller(stack.webhook_url, aes_key=None)


@pytest.fixture
def redis_prefix():
    """A key namespace of this test's own on the real Redis, emptied afterwards."""
    prefix = f"tuibao-test:{uuid.uuid4().hex[:12]}"
    yield prefix
    forget_redis_prefix(prefix)
