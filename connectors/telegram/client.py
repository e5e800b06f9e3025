"""The Bot API, through python-telegram-bot's ``ExtBot``, with Telegram's limits honoured.

``FloodControl`` is the bot's rate limiter (PTB's ``BaseRateLimiter``): at most 30 messages a
second overall and 20 a minute per group (Telegram's published limits); a 429 answer's
``retry_after`` pauses every call of every process (kept in the shared ``UpdateStore``) and the
call is made again after it, a bounded number of times. A 429 is safe to retry: Telegram did
not carry out the call. Any other failure is not retried (a sendMessage that timed out may have
been delivered). A pause longer than ``max_retry_after_s`` is not waited out.
"""
from __future__ import annotations

import asyncio
import datetime as dt
import enum
import logging
import time
import warnings
from collections import deque
from typing import Any, Callable, Coroutine, Deque, Dict, Optional

from telegram.error import Forbidden, InvalidToken, RetryAfter, TelegramError
from telegram.ext import BaseRateLimiter, ExtBot
from telegram.request import HTTPXRequest

from connectors.telegram.dedupe import UpdateStore
from connectors.telegram.render import OutgoingMessage
from connectors.telegram.settings import TelegramSettings

logger = logging.getLogger(__name__)

MESSAGES_PER_SECOND = 30
GROUP_MESSAGES_PER_MINUTE = 20
MAX_FLOOD_RETRIES = 3


class SendOutcome(enum.Enum):
    """What happened to a message sent to a chat."""

    SENT = "sent"
    BLOCKED = "blocked"  # 403: the user blocked the bot or never started it
    RATE_LIMITED = "rate_limited"  # 429 beyond what is waited out
    FAILED = "failed"  # network error, timeout, another error


def mask_chat(chat_id: Any) -> str:
    """Enough of a chat id to tell chats apart in logs."""
    text = str(chat_id)
    return f"…{text[-3:]}" if len(text) > 3 else "***"


def retry_after_seconds(error: RetryAfter) -> float:
    """``retry_after`` as seconds (PTB 22 returns an int or a timedelta, warning about ints)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        value = error.retry_after
    return value.total_seconds() if isinstance(value, dt.timedelta) else float(value)


class _Window:
    """At most ``limit`` calls per ``period`` seconds (a sliding window)."""

    def __init__(self, limit: int, period: float, clock=time.monotonic) -> None:
        self.limit, self.period, self._clock = limit, period, clock
        self._times: Deque[float] = deque()
        self._lock = asyncio.Lock()

    async def acquire(self) -> None:
        async with self._lock:
            while True:
                now = self._clock()
                while self._times and self._times[0] <= now - self.period:
                    self._times.popleft()
                if len(self._times) < self.limit:
                    self._times.append(now)
                    return
                await asyncio.sleep(self._times[0] + self.period - now)


class FloodControl(BaseRateLimiter[int]):
    """Telegram's limits for one bot, and its 429 ``retry_after`` shared through the store."""

    def __init__(self, store: UpdateStore, max_retry_after_s: float,
                 max_retries: int = MAX_FLOOD_RETRIES) -> None:
        self._store = store
        self._max_wait = max_retry_after_s
        self._max_retries = max_retries
        self._overall = _Window(MESSAGES_PER_SECOND, 1.0)
        self._groups: Dict[int, _Window] = {}

    async def initialize(self) -> None:
        pass

    async def shutdown(self) -> None:
        pass

    def _group_window(self, chat_id: int) -> _Window:
        if len(self._groups) > 512:
            self._groups = {k: w for k, w in self._groups.items() if w._times}
        return self._groups.setdefault(chat_id, _Window(GROUP_MESSAGES_PER_MINUTE, 60.0))

    async def process_request(self, callback: Callable[..., Coroutine[Any, Any, Any]], args: Any,
                              kwargs: Dict[str, Any], endpoint: str, data: Dict[str, Any],
                              rate_limit_args: Optional[int]) -> Any:
        chat_id = data.get("chat_id")
        for attempt in range(self._max_retries + 1):
            pause = await self._store.back_off_remaining()
            if pause > self._max_wait:
                raise RetryAfter(int(pause) + 1)
            if pause > 0:
                await asyncio.sleep(pause)
            if chat_id is not None:
                if isinstance(chat_id, int) and chat_id < 0:
                    await self._group_window(chat_id).acquire()
                await self._overall.acquire()
            try:
                return await callback(*args, **kwargs)
            except RetryAfter as error:
                seconds = retry_after_seconds(error)
                logger.warning("telegram %s: 429, retry after %ss (attempt %d)", endpoint,
                               seconds, attempt + 1)
                # Every call of every process waits (or, past the limit, fails fast) now.
                await self._store.back_off(seconds)
                if seconds > self._max_wait or attempt == self._max_retries:
                    raise
        raise AssertionError("unreachable")


class TelegramApi:
    """The calls the channel makes, each with a timeout; the bot is created on first use."""

    def __init__(self, settings: TelegramSettings, store: UpdateStore) -> None:
        # httpx logs every request's URL at INFO, and the Bot API's URLs hold the bot token.
        logging.getLogger("httpx").setLevel(max(logging.WARNING,
                                                logging.getLogger("httpx").level))
        self.settings = settings
        self._store = store
        self._bot: Optional[ExtBot] = None
        self._initialized = False
        self._ready = asyncio.Lock()

    async def bot(self) -> ExtBot:
        """The initialised bot (its getMe done), created inside the running event loop."""
        async with self._ready:
            if self._bot is None:
                timeout = self.settings.api_timeout_s
                self._bot = ExtBot(
                    self.settings.bot_token, base_url=self.settings.api_base_url,
                    request=HTTPXRequest(connection_pool_size=32, read_timeout=timeout,
                                         write_timeout=timeout, connect_timeout=timeout,
                                         pool_timeout=timeout),
                    rate_limiter=FloodControl(self._store, self.settings.max_retry_after_s))
            if not self._initialized:
                try:
                    await self._bot.initialize()  # getMe: checks the token once
                except InvalidToken:
                    # PTB's message quotes the token: never let it reach a log.
                    raise TelegramError("the Bot API refused the bot token") from None
                self._initialized = True
            return self._bot

    async def send(self, chat_id: int, message: OutgoingMessage) -> SendOutcome:
        """Send one message; the outcome, never an exception."""
        try:
            bot = await self.bot()
            await bot.send_message(chat_id, message.text, reply_markup=message.reply_markup())
            return SendOutcome.SENT
        except RetryAfter:
            outcome = SendOutcome.RATE_LIMITED
        except Forbidden:
            outcome = SendOutcome.BLOCKED
        except TelegramError as error:
            logger.warning("telegram sendMessage to %s failed: %s", mask_chat(chat_id),
                           type(error).__name__)
            outcome = SendOutcome.FAILED
        except Exception:  # httpx or a bug: the turn must still end
            logger.exception("telegram sendMessage to %s failed", mask_chat(chat_id))
            outcome = SendOutcome.FAILED
        logger.warning("telegram message to %s not delivered: %s", mask_chat(chat_id),
                       outcome.value)
        return outcome

    async def answer_callback(self, query_id: str, text: Optional[str] = None) -> bool:
        """Stop the button's spinner (optionally with a short notice)."""
        try:
            await (await self.bot()).answer_callback_query(query_id, text=text)
            return True
        except TelegramError as error:  # too old (15 s) or already answered: harmless
            logger.info("telegram answerCallbackQuery failed: %s", type(error).__name__)
            return False

    async def remove_keyboard(self, chat_id: int, message_id: int) -> bool:
        """Take the keyboard off a message whose choice was made (no second tap on it)."""
        try:
            # Without reply_markup, Telegram removes the keyboard.
            await (await self.bot()).edit_message_reply_markup(chat_id=chat_id,
                                                               message_id=message_id)
            return True
        except TelegramError as error:
            logger.info("telegram editMessageReplyMarkup failed: %s", type(error).__name__)
            return False

    async def close(self) -> None:
        if self._bot is not None:
            await self._bot.shutdown()
            self._bot, self._initialized = None, False
