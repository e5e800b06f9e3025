"""Rasa's bot messages as Telegram messages.

Each Rasa message becomes one Telegram message (its buttons an inline keyboard whose
callback_data is the button's payload), cut into several only past Telegram's 4096-character
limit, on sentence boundaries; the keyboard goes with the last piece.
"""
from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from typing import Any, Dict, List, Optional, Tuple

from telegram import InlineKeyboardButton, InlineKeyboardMarkup

from connectors.telegram.wording import CHOOSE

logger = logging.getLogger(__name__)

MAX_MESSAGE_CHARS = 4096  # Telegram counts UTF-16 code units
MAX_CALLBACK_DATA_BYTES = 64
# Ends of sentences (Chinese and Latin) and of lines: where a long text may be cut.
_SENTENCE_END = re.compile(r"(?<=[。！？；!?;\n])|(?<=[.…])(?=\s)")
_CLAUSE_END = re.compile(r"(?<=[，、,：:])")


@dataclass(frozen=True)
class OutgoingMessage:
    """One Telegram message: text and, optionally, (title, callback_data) buttons."""

    text: str
    buttons: Tuple[Tuple[str, str], ...] = ()

    def reply_markup(self) -> Optional[InlineKeyboardMarkup]:
        if not self.buttons:
            return None
        keys = [InlineKeyboardButton(title, callback_data=data) for title, data in self.buttons]
        # Short choices side by side (确认 / 不退了), longer ones one per row.
        side_by_side = len(keys) <= 3 and all(len(t) <= 8 for t, _ in self.buttons)
        rows = [keys] if side_by_side else [[key] for key in keys]
        return InlineKeyboardMarkup(rows)


def telegram_length(text: str) -> int:
    """Length as Telegram counts it (UTF-16 code units: an emoji counts two)."""
    return len(text.encode("utf-16-le")) // 2


def _pieces(text: str, pattern: re.Pattern) -> List[str]:
    return [p for p in pattern.split(text) if p]


def _hard_cut(text: str, limit: int) -> List[str]:
    out, current = [], ""
    for char in text:
        if telegram_length(current + char) > limit:
            out.append(current)
            current = ""
        current += char
    return out + ([current] if current else [])


def _pack(units: List[str], limit: int) -> List[str]:
    chunks, current = [], ""
    for unit in units:
        if telegram_length(current + unit) <= limit:
            current += unit
            continue
        if current:
            chunks.append(current)
        current = unit
    if current:
        chunks.append(current)
    return chunks


def split_text(text: str, limit: int = MAX_MESSAGE_CHARS) -> List[str]:
    """Pieces of at most ``limit`` (Telegram) characters, cut after a sentence where possible,
    else after a clause, else anywhere (never inside a character); nothing is lost but the
    line breaks at the cuts."""
    text = text.strip()
    if telegram_length(text) <= limit:
        return [text] if text else []
    units: List[str] = []
    for sentence in _pieces(text, _SENTENCE_END):
        if telegram_length(sentence) <= limit:
            units.append(sentence)
            continue
        for clause in _pieces(sentence, _CLAUSE_END):
            units.extend([clause] if telegram_length(clause) <= limit else _hard_cut(clause, limit))
    return [chunk.strip("\n") for chunk in _pack(units, limit) if chunk.strip()]


def _callback_data(title: str, payload: str) -> Optional[str]:
    """The payload when it fits Telegram's 64 bytes; else the title, which the NLU reads as
    if typed; None when neither fits (the button is left out, the text still says it)."""
    for candidate in (payload, title):
        if candidate and len(candidate.encode("utf-8")) <= MAX_CALLBACK_DATA_BYTES:
            return candidate
    return None


def render_message(message: Dict[str, Any]) -> List[OutgoingMessage]:
    """One Rasa bot message (text, buttons, image, custom text) as Telegram messages."""
    parts: List[str] = []
    if message.get("text"):
        parts.append(str(message["text"]).strip())
    for key in ("image", "attachment"):
        if message.get(key):
            parts.append(str(message[key]))
    custom = message.get("custom")
    if isinstance(custom, dict) and isinstance(custom.get("text"), str):
        parts.append(custom["text"])
    buttons = []
    for button in message.get("buttons") or message.get("quick_replies") or []:
        title = str(button.get("title") or button.get("payload") or "").strip()
        data = _callback_data(title, str(button.get("payload") or title).strip())
        if title and data:
            buttons.append((title, data))
        elif title:
            logger.warning("telegram: button %r left out, its payload is too long", title)
    text = "\n".join(p for p in parts if p)
    if not text and buttons:
        text = CHOOSE
    pieces = split_text(text)
    if not pieces:
        return []
    return [OutgoingMessage(p) for p in pieces[:-1]] + [OutgoingMessage(pieces[-1], tuple(buttons))]
