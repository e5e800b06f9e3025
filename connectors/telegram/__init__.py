"""Telegram bot channel for Rasa (credentials.yml key ``connectors.telegram.TelegramInput``),
built on python-telegram-bot (its ``Update`` and ``ExtBot``).

Modules, one concern each: ``settings`` (credentials and environment), ``protocol`` (secret
token, reading updates, what each means), ``dedupe`` (update ids and flood control, shared),
``render`` (Rasa messages as Telegram messages, inline keyboards, the 4096 limit), ``client``
(the Bot API with Telegram's rate limits), ``channel`` (the Rasa channel), ``delivery`` (send a
text to a ``telegram:<chat_id>`` conversation from another process, e.g. the agent console),
``webhook`` (``python -m connectors.telegram.webhook set|delete|info``).
"""
from connectors.telegram.channel import TelegramInput, TelegramOutput

__all__ = ["TelegramInput", "TelegramOutput"]
