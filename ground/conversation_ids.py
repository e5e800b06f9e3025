"""The conversation-id scheme every channel, store and console shares (one place).

Channels own their users: a conversation id says which channel it belongs to, so no user of
one channel can name (and continue) a conversation of another.

- WeChat: the bare openid (``^[A-Za-z0-9_-]{1,64}$``, never a colon);
- Telegram: ``telegram:<chat_id>`` (an integer, negative for groups);
- REST (development only): ``rest:<sender>``.

This module imports nothing of Tuibao's, so every part may import it.
"""
from __future__ import annotations

import re
from typing import Any

WECHAT = "wechat"
TELEGRAM = "telegram"
REST = "rest"

# The prefix of each channel's conversation ids; WeChat's have none.
PREFIXES = {TELEGRAM: "telegram:", REST: "rest:"}

# Telegram's chat ids have at most 52 significant bits (Bot API: "fits in a double").
TELEGRAM_CHAT_ID_LIMIT = 2 ** 52
# The part after "rest:": printable, no whitespace, bounded (it is a key in every store).
REST_SENDER = re.compile(r"[^\s\x00-\x1f]{1,128}")  # whole sender: fullmatch


def channel_of(conversation_id: str) -> str:
    """The channel a conversation belongs to, from its id's prefix (none = WeChat)."""
    prefix, sep, _ = conversation_id.partition(":")
    return prefix if sep else WECHAT


def user_of(conversation_id: str) -> str:
    """The channel's own name for the user (openid, chat id, sender): the id without prefix."""
    return conversation_id.partition(":")[2] if channel_of(conversation_id) != WECHAT \
        else conversation_id


def is_telegram_chat_id(value: Any) -> bool:
    """Whether ``value`` can be a Telegram chat id (an int, not a bool, within 52 bits)."""
    return (isinstance(value, int) and not isinstance(value, bool)
            and 0 < abs(value) < TELEGRAM_CHAT_ID_LIMIT)


def telegram_conversation(chat_id: Any) -> str:
    """``telegram:<chat_id>``; ValueError for anything that is not a Telegram chat id."""
    if not is_telegram_chat_id(chat_id):
        raise ValueError("not a Telegram chat id")
    return f"{PREFIXES[TELEGRAM]}{int(chat_id)}"


def telegram_chat_id(conversation_id: str) -> int:
    """The chat of a ``telegram:<chat_id>`` conversation; ValueError for any other id."""
    prefix = PREFIXES[TELEGRAM]
    if not isinstance(conversation_id, str) or not conversation_id.startswith(prefix):
        raise ValueError("not a Telegram conversation")
    rest = conversation_id[len(prefix):]
    if not rest.lstrip("-").isdigit() or not rest.lstrip("-").isascii():
        raise ValueError("not a Telegram conversation")
    chat_id = int(rest)
    if not is_telegram_chat_id(chat_id):
        raise ValueError("not a Telegram conversation")
    return chat_id


def rest_conversation(sender: str) -> str:
    """The conversation a REST ``sender`` owns (``rest:<sender>``); ValueError for a sender
    that is not 1-128 visible characters."""
    if not isinstance(sender, str) or not REST_SENDER.fullmatch(sender):
        raise ValueError("sender must be 1-128 visible characters")
    return PREFIXES[REST] + sender


def conversation_id(channel: str, user: Any) -> str:
    """The conversation of ``user`` (openid, chat id, sender) on ``channel``."""
    if channel == WECHAT:
        return str(user)
    if channel == TELEGRAM:
        return telegram_conversation(user)
    if channel == REST:
        return rest_conversation(user)
    return f"{channel}:{user}"
