"""Rasa's responses of one turn, as WeChat text.

WeChat allows one passive reply per inbound message, so every message of a turn becomes one
text. Buttons become in-text menu links (``weixin://bizmsgmenu``): WeChat shows a tapped link's
``msgmenucontent`` as the user's own message and sends it back as a text with the link's
``msgmenuid`` (``<bizmsgmenuid>``). The channel renders each choice with its words as the
content and an id of that user's own (``menu_ids``, kept with the payload in the shared store),
so the user sees and sends words (退保 一年期意外险 …0012, 满意), never a payload; without ids
(``render_turn(messages)``) the payload itself is the content. A text is split only when it
passes WeChat's 2048-byte limit.
"""
from __future__ import annotations

from typing import Any, Dict, Iterable, List, Optional, Sequence, Tuple
from urllib.parse import quote

MAX_TEXT_BYTES = 2048


def menu_link(title: str, payload: str, menu_id: Any) -> str:
    """A tappable choice inside a text; tapping sends ``payload`` (the ``msgmenucontent``: the
    user's own message, as WeChat shows it) back with ``menu_id``."""
    # Kept readable (WeChat's own examples put Chinese there); only what would end the
    # attribute or the query is escaped.
    content = "".join(quote(c) if c in '&"<>#%' else c for c in payload)
    return (f'<a href="weixin://bizmsgmenu?msgmenucontent={content}&msgmenuid={menu_id}">'
            f"{title}</a>")


def _buttons(message: Dict[str, Any]) -> List[Dict[str, Any]]:
    return list(message.get("buttons") or message.get("quick_replies") or [])


def _choice(button: Dict[str, Any]) -> Tuple[str, str]:
    title = str(button.get("title") or button.get("payload") or "").strip()
    return title, str(button.get("payload") or title).strip()


def offered_choices(messages: Iterable[Dict[str, Any]]) -> List[Tuple[str, str]]:
    """(words, payload) of every choice a turn's messages offer, in the order rendered."""
    return [_choice(button) for message in messages for button in _buttons(message)
            if _choice(button)[0]]


def render_message(message: Dict[str, Any], first_menu_id: int = 1,
                   menu_ids: Optional[Sequence[Any]] = None) -> str:
    """One Rasa bot message (text, buttons, image, custom) as WeChat text; with ``menu_ids``
    (one per titled button) each choice shows and sends its words under its id."""
    parts: List[str] = []
    if message.get("text"):
        parts.append(str(message["text"]).strip())
    links = []
    ids = iter(menu_ids) if menu_ids is not None else None
    for offset, button in enumerate(_buttons(message)):
        title, payload = _choice(button)
        if not title:
            continue
        if ids is not None:
            links.append(menu_link(title, title, next(ids)))
        else:
            links.append(menu_link(title, payload, first_menu_id + offset))
    if links:
        parts.append("\n".join(links))
    if message.get("image"):
        parts.append(str(message["image"]))
    if message.get("attachment"):
        parts.append(str(message["attachment"]))
    custom = message.get("custom")
    if isinstance(custom, dict) and isinstance(custom.get("text"), str):
        parts.append(custom["text"])
    return "\n".join(p for p in parts if p)


def render_turn(messages: Iterable[Dict[str, Any]],
                menu_ids: Optional[Sequence[Any]] = None) -> str:
    """All of a turn's bot messages as one text, blank line between messages; menu ids keep
    counting across messages so every link in the text is distinct. ``menu_ids``: one per
    choice of ``offered_choices(messages)``, the ids the channel keeps their payloads under
    (the links then carry the choices' words)."""
    messages = list(messages)
    texts, menu_id = [], 1
    ids = list(menu_ids) if menu_ids is not None else None
    for message in messages:
        count = sum(1 for button in _buttons(message) if _choice(button)[0])
        own = None
        if ids is not None:
            own, ids = ids[:count], ids[count:]
        text = render_message(message, first_menu_id=menu_id, menu_ids=own)
        menu_id += len(_buttons(message))
        if text:
            texts.append(text)
    return "\n\n".join(texts)


async def render_offered(store: Any, openid: str, messages: Iterable[Dict[str, Any]]) -> str:
    """``render_turn`` for one user, its choices offered to them: their ids and payloads kept in
    ``store`` (the channel's shared store, ``offer_choices``), their words in the links. Every
    process that sends a WeChat user choices (the channel, the console's deliveries) renders
    them so, or a tap would send raw payload."""
    messages = list(messages)
    choices = offered_choices(messages)
    if not choices:
        return render_turn(messages)
    return render_turn(messages, await store.offer_choices(openid, choices))


def split_for_wechat(text: str, limit: int = MAX_TEXT_BYTES) -> List[str]:
    """Pieces of at most ``limit`` UTF-8 bytes, cut at line ends where possible, never inside
    a character or a menu link; text under the limit is returned whole."""
    if len(text.encode("utf-8")) <= limit:
        return [text] if text else []
    pieces: List[str] = []
    current = ""
    for line in text.split("\n"):
        candidate = f"{current}\n{line}" if current else line
        if len(candidate.encode("utf-8")) <= limit:
            current = candidate
            continue
        if current:
            pieces.append(current)
        while len(line.encode("utf-8")) > limit:  # one line longer than the limit
            cut = _byte_prefix(line, limit)
            pieces.append(line[:cut])
            line = line[cut:]
        current = line
    if current:
        pieces.append(current)
    return pieces


def fit_passive_reply(text: str, note: str, limit: int = MAX_TEXT_BYTES) -> Tuple[str, str]:
    """(passive reply, remainder): a passive reply is one text of at most ``limit`` bytes, so
    a longer ``text`` is cut (as ``split_for_wechat`` cuts) and ``note`` appended to say more
    follows; the remainder is for the user's next message. ``("text", "")`` when it fits."""
    if len(text.encode("utf-8")) <= limit:
        return text, ""
    suffix = f"\n\n{note}"
    pieces = split_for_wechat(text, limit - len(suffix.encode("utf-8")))
    return pieces[0] + suffix, "\n".join(pieces[1:])


def _byte_prefix(line: str, limit: int) -> int:
    """Characters of ``line`` that fit in ``limit`` bytes, not ending inside ``<a …</a>``."""
    size, cut = 0, 0
    for index, char in enumerate(line):
        size += len(char.encode("utf-8"))
        if size > limit:
            break
        cut = index + 1
    start = line.rfind("<a ", 0, cut)
    if start > 0 and line.find("</a>", start) + 4 > cut:
        cut = start
    return max(cut, 1)
