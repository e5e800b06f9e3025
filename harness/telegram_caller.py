"""Plays Telegram's server towards our webhook: builds updates as the Bot API documents them,
posts them over HTTP with the secret token header, and waits for what the bot sent back
through the Bot API stand-in (the simulator's outbox)."""
from __future__ import annotations

import itertools
import json
import random
import time
from dataclasses import dataclass
from typing import Any, Callable, Dict, List, Optional

import requests

from connectors.telegram.settings import DEMO_SECRET_TOKEN

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
_update_ids = itertools.count(random.randint(10**8, 2 * 10**8) * 10)
_message_ids = itertools.count(1000)
TURN_TIMEOUT_S = 60


def new_chat_id() -> int:
    """A fresh Telegram user (private chat id = user id), so tests never share a chat."""
    return random.randint(6 * 10**9, 7 * 10**9)


def _user(chat_id: int) -> Dict[str, Any]:
    return {"id": chat_id, "is_bot": False, "first_name": "测试", "language_code": "zh-hans"}


def _chat(chat_id: int, chat_type: str = "private") -> Dict[str, Any]:
    if chat_type == "private":
        return {"id": chat_id, "type": "private", "first_name": "测试"}
    return {"id": chat_id, "type": chat_type, "title": "退保交流群"}


def message(chat_id: int, chat_type: str = "private", **content: Any) -> Dict[str, Any]:
    return {"message_id": next(_message_ids), "from": _user(abs(chat_id)),
            "chat": _chat(chat_id, chat_type), "date": int(time.time()), **content}


def text_update(chat_id: int, text: str, update_id: Optional[int] = None,
                chat_type: str = "private") -> Dict[str, Any]:
    content: Dict[str, Any] = {"text": text}
    if text.startswith("/"):
        content["entities"] = [{"type": "bot_command", "offset": 0,
                                "length": len(text.split()[0])}]
    return {"update_id": update_id or next(_update_ids),
            "message": message(chat_id, chat_type, **content)}


def media_update(chat_id: int, kind: str) -> Dict[str, Any]:
    file = {"file_id": f"AgAC{random.randint(10**9, 10**10)}", "file_unique_id": "AQAD1234"}
    contents = {
        "photo": {"photo": [{**file, "width": 90, "height": 67, "file_size": 1200}]},
        "sticker": {"sticker": {**file, "type": "regular", "width": 512, "height": 512,
                                "is_animated": False, "is_video": False, "emoji": "😀"}},
        "voice": {"voice": {**file, "duration": 4, "mime_type": "audio/ogg"}},
        "document": {"document": {**file, "file_name": "保单.pdf"}, "caption": "我的保单"},
        "location": {"location": {"latitude": 22.54, "longitude": 114.05}},
        "contact": {"contact": {"phone_number": "+8613900139000", "first_name": "李娜"}},
    }
    return {"update_id": next(_update_ids), "message": message(chat_id, **contents[kind])}


def edited_update(chat_id: int, text: str) -> Dict[str, Any]:
    edited = message(chat_id, text=text)
    edited["edit_date"] = edited["date"] + 5
    return {"update_id": next(_update_ids), "edited_message": edited}


def callback_update(chat_id: int, bot_message: Dict[str, Any], data: str) -> Dict[str, Any]:
    """A tap on a button of ``bot_message`` (an outbox entry of sendMessage)."""
    sent = {"message_id": bot_message["message_id"], "date": int(time.time()),
            "from": {"id": 123456, "is_bot": True, "first_name": "退保助手",
                     "username": "tuibao_demo_bot"},
            "chat": _chat(chat_id), "text": bot_message["text"]}
    if bot_message.get("reply_markup"):
        sent["reply_markup"] = bot_message["reply_markup"]
    return {"update_id": next(_update_ids),
            "callback_query": {"id": str(random.randint(10**17, 10**18)), "from": _user(chat_id),
                               "chat_instance": "-4242", "message": sent, "data": data}}


def chat_of(update: Dict[str, Any]) -> int:
    if "callback_query" in update:
        return update["callback_query"]["message"]["chat"]["id"]
    return (update.get("message") or update.get("edited_message"))["chat"]["id"]


@dataclass
class Turn:
    """What came back for one update: the HTTP answer and what the bot sent meanwhile."""

    status: int
    elapsed: float
    sent: List[Dict[str, Any]]

    @property
    def text(self) -> str:
        return "\n".join(m["text"] or "" for m in self.sent if m["method"] == "sendMessage")

    @property
    def keyboard_message(self) -> Optional[Dict[str, Any]]:
        """The last message sent with an inline keyboard."""
        with_keys = [m for m in self.sent if m["method"] == "sendMessage" and m["reply_markup"]]
        return with_keys[-1] if with_keys else None


@dataclass
class TelegramCaller:
    """Telegram's server posting to the webhook (``secret`` in the header, None: no header)."""

    stack: Any
    secret: Optional[str] = DEMO_SECRET_TOKEN

    def post(self, update: Any, secret: Optional[str] = "default",
             raw: Optional[bytes] = None) -> requests.Response:
        secret = self.secret if secret == "default" else secret
        headers = {"Content-Type": "application/json"}
        if secret is not None:
            headers[SECRET_HEADER] = secret
        body = raw if raw is not None else json.dumps(update, ensure_ascii=False).encode("utf-8")
        return requests.post(self.stack.telegram_webhook_url, data=body, headers=headers,
                             timeout=10)

    def open_chat(self, chat_id: int) -> int:
        """Create the chat's conversation before its first update. Rasa's tracker endpoint
        creates a conversation it does not know and saves it, which would race with a turn
        in flight; asked before any turn, later reads only read."""
        self.stack.tracker(f"telegram:{chat_id}")
        return chat_id

    def turn_messages(self, chat_id: int, update_id: int) -> Optional[int]:
        """How many bot messages Rasa recorded for the turn of ``update_id`` once the turn is
        saved (Rasa sends them before it saves), None before."""
        events = self.stack.tracker(f"telegram:{chat_id}").get("events", [])
        marker = f"telegram-update-{update_id}"
        seen = [i for i, e in enumerate(events)
                if e.get("event") == "user" and e.get("message_id") == marker]
        if not seen or len(events) - 1 <= seen[-1] or events[-1].get("event") != "action" \
                or events[-1].get("name") != "action_listen":
            return None
        return sum(e.get("event") == "bot" for e in events[seen[-1]:])

    def turn_done(self, chat_id: int, update_id: int) -> bool:
        """Rasa saved the turn of ``update_id``."""
        return self.turn_messages(chat_id, update_id) is not None

    def turn_arrived(self, chat_id: int, update_id: int, sent: List[Dict[str, Any]]) -> bool:
        """The turn is saved, said something (every turn of these tests does), and every bot
        message it recorded reached the chat."""
        count = self.turn_messages(chat_id, update_id)
        return bool(count) and sum(m["method"] == "sendMessage" for m in sent) >= count

    def send(self, update: Dict[str, Any], until: Optional[Callable[[List[Dict]], bool]] = None,
             turn: bool = True) -> Turn:
        """Post ``update`` and wait: for its Rasa turn to be saved (``turn``) and for ``until``
        to hold on what the bot sent since."""
        chat_id = chat_of(update)
        before = len(self.stack.telegram_outbox(chat_id))
        started = time.monotonic()
        answer = self.post(update)
        elapsed = time.monotonic() - started
        assert answer.status_code == 200, answer.text
        deadline = time.monotonic() + TURN_TIMEOUT_S
        while True:
            sent = self.stack.telegram_outbox(chat_id)[before:]
            done = (not turn or self.turn_arrived(chat_id, update["update_id"], sent)) and \
                (until is None or until(sent))
            if done:
                return Turn(answer.status_code, elapsed, sent)
            if time.monotonic() > deadline:
                raise AssertionError(f"no complete answer to update {update['update_id']}: {sent}")
            time.sleep(0.1)

    def say(self, chat_id: int, text: str) -> Turn:
        return self.send(text_update(chat_id, text))

    def start(self, chat_id: int) -> Turn:
        """/start: the greeting turn, then the offer with its button (sent after the turn)."""
        return self.send(text_update(chat_id, "/start"),
                         until=lambda sent: any(m["reply_markup"] for m in sent))

    def tap(self, chat_id: int, bot_message: Dict[str, Any], title: str) -> Turn:
        """Tap the button titled ``title`` on ``bot_message``. Made by the stand-in, which
        alone can issue a callback query id that answerCallbackQuery accepts; it delivers the
        update to the webhook with the registered secret."""
        buttons = [b for row in bot_message["reply_markup"]["inline_keyboard"] for b in row]
        [button] = [b for b in buttons if b["text"] == title]
        before = len(self.stack.telegram_outbox(chat_id))
        answer = requests.post(f"{self.stack.simulator_url}/sim/telegram/taps", timeout=30, json={
            "chat_id": chat_id, "message_id": bot_message["message_id"],
            "data": button["callback_data"], "wait": True})
        assert answer.status_code == 200 and answer.json()["delivered"], answer.text
        update_id = answer.json()["update_id"]
        deadline = time.monotonic() + TURN_TIMEOUT_S
        while True:
            sent = self.stack.telegram_outbox(chat_id)[before:]
            if self.turn_arrived(chat_id, update_id, sent) and \
                    any(m["method"] == "answerCallbackQuery" for m in sent):
                return Turn(200, 0.0, sent)
            if time.monotonic() > deadline:
                raise AssertionError(f"no complete answer to the tap on {title}: {sent}")
            time.sleep(0.1)
