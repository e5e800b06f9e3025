"""Send a text to a Telegram conversation from outside a turn: the agent console's replies.

    outcome = await deliver_text("telegram:123456789", "您好，我是人工客服小王。")

For any process (the console runs apart from Rasa): it builds its own bot from the same
settings (``TELEGRAM_*``), honours Telegram's limits and the shared flood-control pause (Redis
when ``TELEGRAM_DEDUPE_REDIS_URL`` is set), splits past 4096 characters, and reports what
happened instead of raising, so the console can tell the agent (``SendOutcome.BLOCKED``: the
user blocked the bot; ``RATE_LIMITED``/``FAILED``: try again later). Conversation ids of other
channels are refused with ValueError: the prefix says which channel delivers.
"""
from __future__ import annotations

from typing import Optional

from connectors.telegram.client import SendOutcome, TelegramApi
from connectors.telegram.dedupe import update_store_for
from connectors.telegram.protocol import chat_id_of
from connectors.telegram.render import render_message
from connectors.telegram.settings import TelegramSettings


def is_telegram_conversation(conversation_id: str) -> bool:
    """Whether this conversation belongs to the Telegram channel (``telegram:<chat_id>``)."""
    try:
        chat_id_of(conversation_id)
    except ValueError:
        return False
    return True


async def deliver_text(conversation_id: str, text: str,
                       settings: Optional[TelegramSettings] = None) -> SendOutcome:
    """Deliver ``text`` to the user of ``conversation_id``; the first piece that is not sent
    decides the outcome (later pieces are not sent after a failure)."""
    chat_id = chat_id_of(conversation_id)
    if not text or not text.strip():
        raise ValueError("nothing to deliver")
    settings = settings or TelegramSettings.from_sources()
    store = update_store_for(settings.dedupe_redis_url, settings.redis_prefix)
    api = TelegramApi(settings, store)
    try:
        for message in render_message({"text": text}):
            outcome = await api.send(chat_id, message)
            if outcome is not SendOutcome.SENT:
                return outcome
        return SendOutcome.SENT
    finally:
        await api.close()
        await store.close()
