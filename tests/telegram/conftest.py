"""One running stack (sandbox insurer, actions, simulator with the Bot API stand-in, Rasa with
the Telegram and WeChat channels) for the Telegram tests; each test is a new Telegram user."""
from __future__ import annotations

import pytest

from harness.telegram_caller import TelegramCaller, new_chat_id


@pytest.fixture(scope="session")
def stack(channels_stack):
    """The stack shared with the other channel tests (tests/support/shared_stacks.py)."""
    return channels_stack


@pytest.fixture
def telegram(stack) -> TelegramCaller:
    return TelegramCaller(stack)


@pytest.fixture
def chat(telegram) -> int:
    """A new Telegram user's private chat (its conversation opened: see ``open_chat``)."""
    return telegram.open_chat(new_chat_id())
