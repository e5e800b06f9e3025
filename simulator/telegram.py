"""The Telegram Bot API stand-in and the Telegram tab's backend.

- ``/telegram/bot<token>/<method>``: the Bot API as python-telegram-bot calls it (form-encoded
  or JSON parameters, ``{"ok": true, "result": …}`` or ``{"ok": false, "error_code": …,
  "description": …}`` with the matching HTTP status): getMe, setWebhook, deleteWebhook,
  getWebhookInfo, sendMessage, answerCallbackQuery, editMessageReplyMarkup, editMessageText,
  sendChatAction. Telegram's rules are kept: 4096 characters (UTF-16) per text, 1-64 bytes of
  callback_data, a callback query answered once, 403 for a user who blocked the bot, and 429
  with ``parameters.retry_after`` under flood control (made to happen by a test).
- ``/sim/telegram/…``: what the page and the tests use: act as a user (text, command, button
  tap, photo/sticker/voice, edit), read the chat, the outbox (contract:
  ``GET /sim/telegram/outbox?chat_id=ID`` → ``[{"chat_id", "method", "text", "reply_markup",
  "sent_at"}]``), trigger flood control, block the bot.

Updates go to the webhook registered by setWebhook, with its secret token in
``X-Telegram-Bot-Api-Secret-Token``; a delivery that is not answered 2xx is tried again (same
update_id), as Telegram does. The simulator starts with the demo's webhook registered
(``SIM_TELEGRAM_WEBHOOK_URL``; ``none`` to start without one).
"""
from __future__ import annotations

import asyncio
import itertools
import json
import logging
import math
import secrets
import time
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Dict, List, Optional, Tuple

import aiohttp
from aiohttp import web

from simulator.account import SHANGHAI

logger = logging.getLogger(__name__)

MAX_TEXT_UTF16 = 4096
MAX_CALLBACK_DATA_BYTES = 64
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
DELIVERY_ATTEMPTS = 3
DELIVERY_TIMEOUT_S = 10.0
DELIVERY_PAUSES_S = (0.5, 1.0)  # between attempts (Telegram backs off longer)
MEDIA_KINDS = ("photo", "sticker", "voice")
# Form fields PTB sends JSON-encoded (reply_markup is read by the method that takes it).
JSON_LIST_FIELDS = ("allowed_updates",)


class BotApiError(Exception):
    """An error the Bot API answers with ``ok: false``."""

    def __init__(self, code: int, description: str, retry_after: Optional[int] = None):
        super().__init__(description)
        self.code = code
        self.description = description
        self.retry_after = retry_after

    def as_json(self) -> Dict[str, Any]:
        body: Dict[str, Any] = {"ok": False, "error_code": self.code,
                                "description": self.description}
        if self.retry_after is not None:
            body["parameters"] = {"retry_after": self.retry_after}
        return body


def _iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, SHANGHAI).isoformat(timespec="milliseconds")


def _utf16_length(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


@dataclass
class ChatMessage:
    """A message of a private chat, the user's or the bot's."""

    message_id: int
    chat_id: int
    from_bot: bool
    date: int
    text: str = ""
    reply_markup: Optional[Dict[str, Any]] = None
    media: str = ""


@dataclass
class FeedItem:
    """One line of the chat as the Telegram tab shows it."""

    seq: int
    side: str  # "user", "bot", "notice"
    content: str
    at: float
    message_id: Optional[int] = None
    reply_markup: Optional[Dict[str, Any]] = None

    def as_json(self) -> Dict[str, Any]:
        return {"seq": self.seq, "side": self.side, "content": self.content,
                "at": _iso(self.at), "message_id": self.message_id,
                "reply_markup": self.reply_markup}


@dataclass
class Webhook:
    url: str
    secret_token: str = ""
    allowed_updates: Optional[List[str]] = None
    max_connections: int = 40
    last_error: str = ""


@dataclass
class Flood:
    """Flood control a test asked for: the next ``count`` sendMessage calls are refused, and
    every call until the pause ends (as Telegram keeps refusing until then)."""

    retry_after: int
    count: int
    until: float = 0.0


class TelegramBotApi:
    """What Telegram's servers remember about the demo bot."""

    def __init__(self, token: str, webhook: Optional[Webhook], bot_id: int, username: str,
                 first_name: str, clock=time.time) -> None:
        self.token = token
        self.webhook = webhook
        self.me = {"id": bot_id, "is_bot": True, "first_name": first_name,
                   "username": username, "can_join_groups": False,
                   "can_read_all_group_messages": False, "supports_inline_queries": False}
        self._clock = clock
        self._update_ids = itertools.count(secrets.randbelow(10**8) + 10**8)
        self._message_ids = itertools.count(1)
        self._seq = itertools.count(1)
        self.messages: Dict[Tuple[int, int], ChatMessage] = {}
        self.outbox: List[Dict[str, Any]] = []
        self.feeds: Dict[int, List[FeedItem]] = {}
        self.callbacks: Dict[str, Dict[str, Any]] = {}  # query id -> chat, answered
        self.blocked: set = set()
        self.flood: Optional[Flood] = None
        self.rejections: List[Dict[str, Any]] = []
        self.pending_updates = 0

    # -- the Bot API ---------------------------------------------------------------------
    def call(self, method: str, params: Dict[str, Any]) -> Any:
        handler = getattr(self, f"_api_{method.lower()}", None)
        if handler is None:
            raise BotApiError(404, "Not Found")
        return handler(params)

    def _api_getme(self, params):
        return self.me

    def _api_setwebhook(self, params):
        url = str(params.get("url") or "")
        if not url:  # Telegram: an empty URL removes the webhook
            self.webhook = None
            return True
        if not url.startswith(("https://", "http://127.0.0.1", "http://localhost")):
            raise BotApiError(400, "Bad Request: bad webhook: An HTTPS URL must be provided for webhook")
        secret = str(params.get("secret_token") or "")
        if secret and (len(secret) > 256 or not all(c.isascii() and (c.isalnum() or c in "_-")
                                                    for c in secret)):
            raise BotApiError(400, "Bad Request: secret token contains unallowed characters")
        allowed = params.get("allowed_updates")
        self.webhook = Webhook(url, secret, list(allowed) if isinstance(allowed, list) else None,
                               int(params.get("max_connections") or 40))
        if params.get("drop_pending_updates") in (True, "true", "True"):
            self.pending_updates = 0
        return True

    def _api_deletewebhook(self, params):
        self.webhook = None
        if params.get("drop_pending_updates") in (True, "true", "True"):
            self.pending_updates = 0
        return True

    def _api_getwebhookinfo(self, params):
        info: Dict[str, Any] = {"url": self.webhook.url if self.webhook else "",
                                "has_custom_certificate": False,
                                "pending_update_count": self.pending_updates}
        if self.webhook:
            info["max_connections"] = self.webhook.max_connections
            if self.webhook.allowed_updates is not None:
                info["allowed_updates"] = self.webhook.allowed_updates
            if self.webhook.last_error:
                info["last_error_message"] = self.webhook.last_error
                info["last_error_date"] = int(self._clock())
        return info

    def _chat_id(self, params) -> int:
        try:
            return int(str(params.get("chat_id")))
        except ValueError:
            raise BotApiError(400, "Bad Request: chat not found")

    def _check_flood(self, method: str, chat_id: Optional[int]) -> None:
        flood, now = self.flood, self._clock()
        if flood is None:
            return
        if now >= flood.until and flood.count > 0:
            flood.count -= 1
            flood.until = now + flood.retry_after
        if now < flood.until:
            wait = max(1, math.ceil(flood.until - now))
            self.rejections.append({"method": method, "chat_id": chat_id, "at": now,
                                    "retry_after": wait})
            raise BotApiError(429, f"Too Many Requests: retry after {wait}", retry_after=wait)
        if flood.count <= 0:
            self.flood = None

    @staticmethod
    def _markup(params) -> Optional[Dict[str, Any]]:
        raw = params.get("reply_markup")
        if raw in (None, ""):
            return None
        try:
            markup = json.loads(raw) if isinstance(raw, str) else raw
        except ValueError:
            raise BotApiError(400, "Bad Request: can't parse reply keyboard markup JSON object")
        rows = markup.get("inline_keyboard") if isinstance(markup, dict) else None
        if not isinstance(rows, list) or not all(isinstance(r, list) for r in rows):
            raise BotApiError(400, "Bad Request: can't parse inline keyboard button")
        for row in rows:
            for button in row:
                if not isinstance(button, dict) or not button.get("text"):
                    raise BotApiError(400, "Bad Request: text buttons are unallowed in the inline keyboard")
                data = button.get("callback_data")
                if data is not None and not (1 <= len(str(data).encode("utf-8"))
                                             <= MAX_CALLBACK_DATA_BYTES):
                    raise BotApiError(400, "Bad Request: BUTTON_DATA_INVALID")
        return markup

    def _message_json(self, message: ChatMessage) -> Dict[str, Any]:
        body: Dict[str, Any] = {"message_id": message.message_id, "date": message.date,
                                "chat": {"id": message.chat_id, "type": "private",
                                         "first_name": "测试用户"}}
        if message.from_bot:
            body["from"] = self.me
        else:
            body["from"] = {"id": message.chat_id, "is_bot": False, "first_name": "测试用户",
                            "language_code": "zh-hans"}
        if message.text:
            body["text"] = message.text
        if message.reply_markup and message.reply_markup.get("inline_keyboard"):
            body["reply_markup"] = message.reply_markup
        return body

    def _record(self, chat_id: int, method: str, text: Optional[str],
                reply_markup: Optional[Dict[str, Any]], **extra: Any) -> None:
        self.outbox.append({"chat_id": chat_id, "method": method, "text": text,
                            "reply_markup": reply_markup, "sent_at": _iso(self._clock()),
                            **extra})

    def _api_sendmessage(self, params):
        chat_id = self._chat_id(params)
        self._check_flood("sendMessage", chat_id)
        if chat_id in self.blocked:
            raise BotApiError(403, "Forbidden: bot was blocked by the user")
        text = str(params.get("text") or "")
        if not text.strip():
            raise BotApiError(400, "Bad Request: message text is empty")
        if _utf16_length(text) > MAX_TEXT_UTF16:
            raise BotApiError(400, "Bad Request: message is too long")
        markup = self._markup(params)
        message = ChatMessage(next(self._message_ids), chat_id, True, int(self._clock()),
                              text=text, reply_markup=markup)
        self.messages[(chat_id, message.message_id)] = message
        self._record(chat_id, "sendMessage", text, markup, message_id=message.message_id)
        self.add_feed(chat_id, "bot", text, message.message_id, markup)
        return self._message_json(message)

    def _bot_message(self, params) -> ChatMessage:
        chat_id = self._chat_id(params)
        try:
            message = self.messages.get((chat_id, int(str(params.get("message_id")))))
        except ValueError:
            message = None
        if message is None or not message.from_bot:
            raise BotApiError(400, "Bad Request: message to edit not found")
        return message

    def _api_editmessagereplymarkup(self, params):
        message = self._bot_message(params)
        markup = self._markup(params)
        if (markup or {}).get("inline_keyboard") == (message.reply_markup or {}).get(
                "inline_keyboard", []) or (not markup and not message.reply_markup):
            raise BotApiError(400, "Bad Request: message is not modified: specified new message "
                                   "content and reply markup are exactly the same as a current "
                                   "content and reply markup of the message")
        message.reply_markup = markup
        self._record(message.chat_id, "editMessageReplyMarkup", message.text, markup,
                     message_id=message.message_id)
        self._update_feed_markup(message)
        return self._message_json(message)

    def _api_editmessagetext(self, params):
        message = self._bot_message(params)
        text = str(params.get("text") or "")
        if not text.strip() or _utf16_length(text) > MAX_TEXT_UTF16:
            raise BotApiError(400, "Bad Request: message text is empty or too long")
        message.text, message.reply_markup = text, self._markup(params)
        self._record(message.chat_id, "editMessageText", text, message.reply_markup,
                     message_id=message.message_id)
        self.add_feed(message.chat_id, "notice", "（机器人修改了一条消息）")
        return self._message_json(message)

    def _api_answercallbackquery(self, params):
        query_id = str(params.get("callback_query_id") or "")
        query = self.callbacks.get(query_id)
        if query is None or query["answered"]:
            raise BotApiError(400, "Bad Request: query is too old and response timeout expired "
                                   "or query ID is invalid")
        query["answered"] = True
        text = params.get("text") or None
        self._record(query["chat_id"], "answerCallbackQuery", text, None,
                     callback_query_id=query_id)
        if text:
            self.add_feed(query["chat_id"], "notice", f"（提示）{text}")
        return True

    def _api_sendchataction(self, params):
        self._chat_id(params)
        return True

    # -- the user's side -------------------------------------------------------------------
    def add_feed(self, chat_id: int, side: str, content: str, message_id: Optional[int] = None,
                 reply_markup: Optional[Dict[str, Any]] = None) -> FeedItem:
        item = FeedItem(next(self._seq), side, content, self._clock(), message_id, reply_markup)
        self.feeds.setdefault(chat_id, []).append(item)
        return item

    def _update_feed_markup(self, message: ChatMessage) -> None:
        for item in self.feeds.get(message.chat_id, []):
            if item.message_id == message.message_id and item.side == "bot":
                item.reply_markup = message.reply_markup
                item.seq = next(self._seq)  # the page picks the change up as a new item

    def feed_after(self, chat_id: int, after: int) -> Dict[str, Any]:
        items = sorted((i for i in self.feeds.get(chat_id, []) if i.seq > after),
                       key=lambda i: i.seq)
        return {"items": [i.as_json() for i in items],
                "webhook": self.webhook.url if self.webhook else None}

    def outbox_for(self, chat_id: Optional[int]) -> List[Dict[str, Any]]:
        return [dict(m) for m in self.outbox if chat_id is None or m["chat_id"] == chat_id]

    def _user(self, chat_id: int) -> Dict[str, Any]:
        return {"id": chat_id, "is_bot": False, "first_name": "测试用户", "language_code": "zh-hans"}

    def _chat(self, chat_id: int) -> Dict[str, Any]:
        return {"id": chat_id, "type": "private", "first_name": "测试用户"}

    def text_update(self, chat_id: int, text: str) -> Dict[str, Any]:
        message_id = next(self._message_ids)
        self.messages[(chat_id, message_id)] = ChatMessage(message_id, chat_id, False,
                                                           int(self._clock()), text=text)
        body = {"message_id": message_id, "from": self._user(chat_id), "chat": self._chat(chat_id),
                "date": int(self._clock()), "text": text}
        if text.startswith("/"):
            body["entities"] = [{"type": "bot_command", "offset": 0,
                                 "length": len(text.split()[0])}]
        self.add_feed(chat_id, "user", text, message_id)
        return {"update_id": next(self._update_ids), "message": body}

    def media_update(self, chat_id: int, kind: str) -> Dict[str, Any]:
        message_id = next(self._message_ids)
        body: Dict[str, Any] = {"message_id": message_id, "from": self._user(chat_id),
                                "chat": self._chat(chat_id), "date": int(self._clock())}
        file_id = secrets.token_urlsafe(12)
        if kind == "photo":
            body["photo"] = [{"file_id": file_id, "file_unique_id": file_id[:8], "width": 320,
                              "height": 240, "file_size": 20480}]
        elif kind == "sticker":
            body["sticker"] = {"file_id": file_id, "file_unique_id": file_id[:8], "type": "regular",
                               "width": 512, "height": 512, "is_animated": False,
                               "is_video": False, "emoji": "👍"}
        else:
            body["voice"] = {"file_id": file_id, "file_unique_id": file_id[:8], "duration": 3,
                             "mime_type": "audio/ogg"}
        self.add_feed(chat_id, "user", {"photo": "［图片］", "sticker": "［贴纸 👍］",
                                        "voice": "［语音 3″］"}[kind], message_id)
        return {"update_id": next(self._update_ids), "message": body}

    def tap_update(self, chat_id: int, message_id: int, data: str) -> Dict[str, Any]:
        message = self.messages.get((chat_id, message_id))
        offered = [b for row in ((message.reply_markup or {}).get("inline_keyboard", [])
                                 if message else []) for b in row]
        button = next((b for b in offered if b.get("callback_data") == data), None)
        if message is None or button is None:
            raise BotApiError(400, "该按钮不在这条消息上")
        query_id = str(secrets.randbelow(10**18))
        self.callbacks[query_id] = {"chat_id": chat_id, "answered": False}
        self.add_feed(chat_id, "notice", f"（点击了按钮「{button['text']}」）")
        return {"update_id": next(self._update_ids),
                "callback_query": {"id": query_id, "from": self._user(chat_id),
                                   "chat_instance": str(chat_id * 7 + 3),
                                   "message": self._message_json(message), "data": data}}

    def edit_update(self, chat_id: int, message_id: int, text: str) -> Dict[str, Any]:
        message = self.messages.get((chat_id, message_id))
        if message is None or message.from_bot:
            raise BotApiError(400, "只能修改自己发的消息")
        message.text = text
        self.add_feed(chat_id, "user", f"{text}（已编辑）", message_id)
        return {"update_id": next(self._update_ids),
                "edited_message": {**self._message_json(message),
                                   "edit_date": int(self._clock())}}


# -- HTTP ------------------------------------------------------------------------------------
BOT_API = web.AppKey("telegram_bot_api", TelegramBotApi)
SESSION = web.AppKey("telegram_session", aiohttp.ClientSession)
TASKS = web.AppKey("telegram_tasks", set)


async def _params(request: web.Request) -> Dict[str, Any]:
    """Parameters as the Bot API takes them: query string, form fields (PTB: JSON-encoded
    values for objects) or a JSON body."""
    params: Dict[str, Any] = dict(request.query)
    if request.method != "POST":
        return params
    if request.content_type == "application/json":
        try:
            body = await request.json()
        except ValueError:
            raise BotApiError(400, "Bad Request: can't parse JSON")
        if isinstance(body, dict):
            params.update(body)
        return params
    form = await request.post()
    for key, value in form.items():
        if key in JSON_LIST_FIELDS and isinstance(value, str):
            try:
                value = json.loads(value)
            except ValueError:
                raise BotApiError(400, f"Bad Request: can't parse {key}")
        params[key] = value
    return params


async def bot_api(request: web.Request) -> web.Response:
    api = request.app[BOT_API]
    method = request.match_info["method"]
    try:
        if request.match_info["token"] != api.token:
            raise BotApiError(401, "Unauthorized")
        result = api.call(method, await _params(request))
    except BotApiError as error:
        logger.info("telegram %s → %s %s", method, error.code, error.description)
        return web.json_response(error.as_json(), status=error.code, dumps=_dumps)
    return web.json_response({"ok": True, "result": result}, dumps=_dumps)


def _dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)


def _error(status: int, message: str) -> web.Response:
    return web.json_response({"error": message}, status=status, dumps=_dumps)


async def _page_body(request: web.Request) -> Optional[Dict[str, Any]]:
    try:
        body = await request.json()
    except (ValueError, UnicodeDecodeError):
        return None
    return body if isinstance(body, dict) else None


def _chat_id(value: Any, private: bool = True) -> Optional[int]:
    """A chat id: a user's private chat (positive), or any chat, groups too (negative)."""
    if isinstance(value, bool):
        return None
    try:
        chat_id = int(value)
    except (TypeError, ValueError):
        return None
    if not 0 < abs(chat_id) < 10**15 or (private and chat_id < 0):
        return None
    return chat_id


async def deliver(app: web.Application, update: Dict[str, Any], chat_id: int) -> Dict[str, Any]:
    """Post ``update`` to the registered webhook as Telegram does; the outcome."""
    api = app[BOT_API]
    webhook = api.webhook
    if webhook is None:
        api.pending_updates += 1
        api.add_feed(chat_id, "notice", "（未设置 webhook：消息留在 Telegram 服务器上）")
        return {"delivered": False, "attempts": 0}
    headers = {"Content-Type": "application/json"}
    if webhook.secret_token:
        headers[SECRET_HEADER] = webhook.secret_token
    problems: List[str] = []
    for attempt in range(1, DELIVERY_ATTEMPTS + 1):
        try:
            async with app[SESSION].post(webhook.url, data=_dumps(update).encode("utf-8"),
                                         headers=headers,
                                         timeout=aiohttp.ClientTimeout(total=DELIVERY_TIMEOUT_S)) \
                    as answer:
                status = answer.status
        except (aiohttp.ClientError, asyncio.TimeoutError) as error:
            problems.append(f"第{attempt}次：连接失败（{type(error).__name__}）")
        else:
            if 200 <= status < 300:
                webhook.last_error = ""
                return {"delivered": True, "attempts": attempt, "update_id": update["update_id"]}
            problems.append(f"第{attempt}次：HTTP {status}")
        if attempt < DELIVERY_ATTEMPTS:
            await asyncio.sleep(DELIVERY_PAUSES_S[attempt - 1])
    webhook.last_error = problems[-1]
    api.add_feed(chat_id, "notice", "（webhook 没有接收这条更新：" + "；".join(problems) + "）")
    return {"delivered": False, "attempts": DELIVERY_ATTEMPTS, "problems": problems}


def _deliver_in_background(app: web.Application, update: Dict[str, Any], chat_id: int) -> None:
    task = asyncio.get_running_loop().create_task(deliver(app, update, chat_id))
    app[TASKS].add(task)
    task.add_done_callback(app[TASKS].discard)


async def _send_update(request: web.Request, build) -> web.Response:
    body = await _page_body(request)
    chat_id = _chat_id((body or {}).get("chat_id"))
    if body is None or chat_id is None:
        return _error(400, "需要 chat_id（正整数）")
    try:
        update = build(request.app[BOT_API], chat_id, body)
    except BotApiError as error:
        return _error(400, error.description)
    except (KeyError, TypeError, ValueError):
        return _error(400, "请求格式不对")
    if body.get("wait"):
        return web.json_response(await deliver(request.app, update, chat_id), dumps=_dumps)
    _deliver_in_background(request.app, update, chat_id)
    return web.json_response({"update_id": update["update_id"]}, status=202)


def _text(api: TelegramBotApi, chat_id: int, body: Dict[str, Any]) -> Dict[str, Any]:
    text = body["text"]
    if not isinstance(text, str) or not text.strip() or _utf16_length(text) > MAX_TEXT_UTF16:
        raise ValueError("text")
    return api.text_update(chat_id, text.strip())


def _media(api: TelegramBotApi, chat_id: int, body: Dict[str, Any]) -> Dict[str, Any]:
    if body.get("kind") not in MEDIA_KINDS:
        raise ValueError("kind")
    return api.media_update(chat_id, body["kind"])


def _tap(api: TelegramBotApi, chat_id: int, body: Dict[str, Any]) -> Dict[str, Any]:
    return api.tap_update(chat_id, int(body["message_id"]), str(body["data"]))


def _edit(api: TelegramBotApi, chat_id: int, body: Dict[str, Any]) -> Dict[str, Any]:
    text = body["text"]
    if not isinstance(text, str) or not text.strip():
        raise ValueError("text")
    return api.edit_update(chat_id, int(body["message_id"]), text.strip())


async def sim_message(request):
    return await _send_update(request, _text)


async def sim_media(request):
    return await _send_update(request, _media)


async def sim_tap(request):
    return await _send_update(request, _tap)


async def sim_edit(request):
    return await _send_update(request, _edit)


async def sim_new_chat(request: web.Request) -> web.Response:
    """A new Telegram user for the tab: a chat id like Telegram's (10 digits)."""
    return web.json_response({"chat_id": 5_000_000_000 + secrets.randbelow(10**9)})


async def sim_feed(request: web.Request) -> web.Response:
    chat_id = _chat_id(request.query.get("chat_id"))
    try:
        after = int(request.query.get("after", "0"))
    except ValueError:
        return _error(400, "after 必须是整数")
    if chat_id is None:
        return _error(400, "需要 chat_id")
    return web.json_response(request.app[BOT_API].feed_after(chat_id, after), dumps=_dumps)


async def sim_outbox(request: web.Request) -> web.Response:
    """Contract: ``[{"chat_id", "method", "text", "reply_markup", "sent_at"}]``, oldest first."""
    raw = request.query.get("chat_id")
    chat_id = _chat_id(raw, private=False) if raw is not None else None
    if raw is not None and chat_id is None:
        return _error(400, "chat_id 必须是整数")
    return web.json_response(request.app[BOT_API].outbox_for(chat_id), dumps=_dumps)


async def sim_flood(request: web.Request) -> web.Response:
    """Flood control on demand: ``{"retry_after": s, "count": n}`` refuses the next n
    sendMessage calls with 429 and every call during the pause."""
    body = await _page_body(request) or {}
    retry_after, count = body.get("retry_after"), body.get("count", 1)
    if not isinstance(retry_after, int) or isinstance(retry_after, bool) or \
            not 1 <= retry_after <= 3600 or not isinstance(count, int) or count < 1:
        return _error(400, "retry_after 为 1-3600 的整数秒，count 为正整数")
    request.app[BOT_API].flood = Flood(retry_after, count)
    return web.json_response({"retry_after": retry_after, "count": count})


async def sim_rejections(request: web.Request) -> web.Response:
    """The calls refused under flood control: ``[{"method", "chat_id", "at", "retry_after"}]``."""
    return web.json_response(request.app[BOT_API].rejections, dumps=_dumps)


async def sim_block(request: web.Request) -> web.Response:
    """The user blocks (``{"chat_id", "blocked": true}``) or unblocks the bot."""
    body = await _page_body(request) or {}
    chat_id = _chat_id(body.get("chat_id"))
    if chat_id is None:
        return _error(400, "需要 chat_id")
    blocked = request.app[BOT_API].blocked
    (blocked.add if body.get("blocked", True) else blocked.discard)(chat_id)
    return web.json_response({"chat_id": chat_id, "blocked": chat_id in blocked})


async def sim_webhook(request: web.Request) -> web.Response:
    """What is registered (the secret token is not shown)."""
    webhook = request.app[BOT_API].webhook
    if webhook is None:
        return web.json_response({"url": None})
    return web.json_response({"url": webhook.url, "has_secret_token": bool(webhook.secret_token),
                              "allowed_updates": webhook.allowed_updates}, dumps=_dumps)


def install(app: web.Application, token: str, webhook_url: Optional[str], secret_token: str,
            bot_name: str) -> None:
    """Add the Bot API stand-in and the tab's endpoints to the simulator's application."""
    bot_id = int(token.split(":", 1)[0]) if token.split(":", 1)[0].isdigit() else 123456
    webhook = Webhook(webhook_url, secret_token, ["message", "edited_message", "callback_query"]) \
        if webhook_url else None
    app[BOT_API] = TelegramBotApi(token, webhook, bot_id, "tuibao_demo_bot", bot_name)
    app[TASKS] = set()

    async def client_session(app: web.Application):
        app[SESSION] = aiohttp.ClientSession()
        yield
        for task in list(app[TASKS]):
            task.cancel()
        await app[SESSION].close()

    app.cleanup_ctx.append(client_session)
    r = app.router
    r.add_route("*", "/telegram/bot{token}/{method}", bot_api)
    r.add_post("/sim/telegram/chats", sim_new_chat)
    r.add_post("/sim/telegram/messages", sim_message)
    r.add_post("/sim/telegram/media", sim_media)
    r.add_post("/sim/telegram/taps", sim_tap)
    r.add_post("/sim/telegram/edits", sim_edit)
    r.add_get("/sim/telegram/feed", sim_feed)
    r.add_get("/sim/telegram/outbox", sim_outbox)
    r.add_post("/sim/telegram/flood", sim_flood)
    r.add_get("/sim/telegram/rejections", sim_rejections)
    r.add_post("/sim/telegram/blocks", sim_block)
    r.add_get("/sim/telegram/webhook", sim_webhook)
