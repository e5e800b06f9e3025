"""Telegram's webhook protocol: who may post, what the body must be, and what an update means.

Telegram sends the secret token given to ``setWebhook`` in ``X-Telegram-Bot-Api-Secret-Token``
on every update; it is compared in constant time before the body is even parsed. An update is
read with python-telegram-bot's ``Update.de_json`` and reduced to an ``InboundUpdate``: what the
channel must do with it, for which chat. The channel serves private chats only (personal data
never belongs in a group).
"""
from __future__ import annotations

import enum
import hmac
import json
import logging
from dataclasses import dataclass
from typing import Any, Iterable, Optional

from telegram import Bot, CallbackQuery, Message, Update
from telegram.constants import ChatType

from ground.conversation_ids import is_telegram_chat_id, telegram_chat_id, \
    telegram_conversation

logger = logging.getLogger(__name__)

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
MAX_BODY_BYTES = 256 * 1024  # updates are a few kB; anything larger is not from Telegram

# Message contents the bot cannot read; any of them gets a polite answer.
MEDIA_FIELDS = ("photo", "sticker", "voice", "audio", "video", "video_note", "animation",
                "document", "location", "venue", "contact", "poll", "dice", "game", "story",
                "paid_media", "checklist")


class ProtocolError(Exception):
    """A request refused before anything is read into the conversation."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


class UpdateKind(enum.Enum):
    """What the channel does with an update."""

    TEXT = "text"  # typed text: one turn
    COMMAND = "command"  # /start, /help, other commands
    BUTTON = "button"  # an inline-keyboard tap: one turn with the button's payload
    STALE_BUTTON = "stale_button"  # a tap on a keyboard the bot no longer offers
    MEDIA = "media"  # photo, sticker, voice…: a polite answer, no turn
    EDITED = "edited"  # an edited message: not a new turn, a short note
    GROUP = "group"  # a message in a group or channel: pointed to the private chat
    IGNORED = "ignored"  # updates of other types (member changes, inline queries…)


@dataclass(frozen=True)
class InboundUpdate:
    """One update, reduced to what the channel needs."""

    update_id: int
    kind: UpdateKind
    chat_id: Optional[int] = None
    text: str = ""  # the typed text, the command's name, or the tapped button's payload
    words: str = ""  # a tapped button's title: what the user saw and chose
    callback_query_id: Optional[str] = None
    message_id: Optional[int] = None  # the bot's message whose keyboard was tapped
    media: str = ""

    @property
    def conversation_id(self) -> str:
        return conversation_id_for(self.chat_id)


# The scheme is ground.conversation_ids' (``telegram:<chat_id>``); these names stay.
conversation_id_for = telegram_conversation
chat_id_of = telegram_chat_id


def check_secret(expected: str, received: Optional[str]) -> None:
    """401 without the header, 403 with a wrong one (any characters: a header of non-ASCII
    bytes is just wrong); compared in constant time."""
    if received is None:
        raise ProtocolError(401, "secret token missing")
    try:
        given = received.encode("utf-8", "surrogateescape") if isinstance(received, str) \
            else bytes(received)
    except (UnicodeError, TypeError, ValueError):
        given = b""
    if not given or not hmac.compare_digest(given, expected.encode("utf-8")):
        raise ProtocolError(403, "secret token wrong")


def read_update(body: bytes, bot: Optional[Bot]) -> Optional[Update]:
    """The update in ``body``. ProtocolError (400/413) for what cannot be an update at all;
    None for a well-formed envelope whose content PTB cannot read (answered 200 so that
    Telegram does not redeliver it forever, and nothing run)."""
    if len(body) > MAX_BODY_BYTES:
        raise ProtocolError(413, "body too large")
    try:
        data = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):  # RecursionError: nested too deep
        raise ProtocolError(400, "body is not JSON")
    update_id = data.get("update_id") if isinstance(data, dict) else None
    if not isinstance(update_id, int) or isinstance(update_id, bool) or update_id < 0:
        raise ProtocolError(400, "not a Telegram update")
    try:
        return Update.de_json(data, bot)
    except Exception:  # PTB raises KeyError/TypeError/ValueError on malformed parts
        logger.warning("telegram update %s not readable: ignored", update_id)
        return None


def check_chat(inbound: "InboundUpdate") -> None:
    """400 for an update whose chat id no Telegram chat can have (a string, a float, a number
    past 52 bits): refused at the door, never a failure in the background."""
    if inbound.chat_id is not None and not is_telegram_chat_id(inbound.chat_id):
        raise ProtocolError(400, "not a Telegram chat id")


def _offered(message: Message) -> Iterable["tuple[str, str]"]:
    """(callback_data, title) of every button the bot put on ``message``."""
    markup = message.reply_markup
    for row in (markup.inline_keyboard if markup else ()):
        for button in row:
            if button.callback_data is not None:
                yield str(button.callback_data), str(button.text or "")


def _private(chat: Any) -> bool:
    return chat is not None and chat.type == ChatType.PRIVATE


def _from_callback(update_id: int, query: CallbackQuery) -> InboundUpdate:
    message = query.message
    readable = isinstance(message, Message)
    chat = message.chat if message is not None else None
    chat_id = chat.id if chat is not None else query.from_user.id
    base = dict(update_id=update_id, chat_id=chat_id, callback_query_id=query.id,
                message_id=message.message_id if message is not None else None)
    if chat is not None and not _private(chat):
        return InboundUpdate(kind=UpdateKind.STALE_BUTTON, **base)
    # Only a payload the bot itself put on that message counts as the user's answer: a tap on
    # a message too old for Telegram to show (inaccessible), or data that was never offered,
    # is not run through the dialogue.
    offered = dict(_offered(message)) if readable else {}
    if query.data is None or query.data not in offered:
        return InboundUpdate(kind=UpdateKind.STALE_BUTTON, **base)
    return InboundUpdate(kind=UpdateKind.BUTTON, text=query.data,
                         words=offered[query.data] or query.data, **base)


def _from_message(update_id: int, message: Message) -> InboundUpdate:
    chat_id = message.chat.id
    if not _private(message.chat):
        # Groups and channels: only a command addressed to the bot earns a pointer.
        if message.text and message.text.startswith("/"):
            return InboundUpdate(update_id, UpdateKind.GROUP, chat_id)
        return InboundUpdate(update_id, UpdateKind.IGNORED, chat_id)
    text = (message.text or "").strip()
    if text.startswith("/"):
        command = text[1:].split(maxsplit=1)[0].split("@", 1)[0].lower() if len(text) > 1 else ""
        return InboundUpdate(update_id, UpdateKind.COMMAND, chat_id, text=command)
    if text:
        return InboundUpdate(update_id, UpdateKind.TEXT, chat_id, text=text)
    for field in MEDIA_FIELDS:
        if getattr(message, field, None):
            return InboundUpdate(update_id, UpdateKind.MEDIA, chat_id, media=field)
    if message.caption is not None:  # a captioned file of a kind not listed above
        return InboundUpdate(update_id, UpdateKind.MEDIA, chat_id, media="file")
    return InboundUpdate(update_id, UpdateKind.IGNORED, chat_id)  # service messages


def classify(update: Update) -> InboundUpdate:
    """What the channel should do with ``update``."""
    if update.callback_query is not None:
        return _from_callback(update.update_id, update.callback_query)
    if update.message is not None:
        return _from_message(update.update_id, update.message)
    if update.edited_message is not None:
        chat = update.edited_message.chat
        kind = UpdateKind.EDITED if _private(chat) else UpdateKind.IGNORED
        return InboundUpdate(update.update_id, kind, chat.id)
    return InboundUpdate(update.update_id, UpdateKind.IGNORED)
