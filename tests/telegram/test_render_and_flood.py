"""What a Telegram user reads (texts within 4096 characters, cut after sentences; buttons as
an inline keyboard) and how the bot keeps Telegram's flood limits: a 429 ``retry_after`` is
waited out once, for every process (real Redis), and a pause too long is not waited."""
from __future__ import annotations

import asyncio
import time
import uuid

import pytest
from telegram.error import RetryAfter

from connectors.telegram.client import FloodControl
from connectors.telegram.dedupe import MemoryUpdateStore, RedisUpdateStore
from connectors.telegram.render import (MAX_MESSAGE_CHARS, render_message, split_text,
                                        telegram_length)
from connectors.telegram.settings import TelegramSettings
from harness.stack import REDIS_URL, forget_redis_prefix


def test_a_message_with_buttons_is_one_message_with_an_inline_keyboard():
    [message] = render_message({"text": "确认要退保吗？", "buttons": [
        {"title": "确认", "payload": "确认"}, {"title": "不退了", "payload": "/deny"}]})
    assert message.text == "确认要退保吗？"
    markup = message.reply_markup().to_dict()
    assert markup == {"inline_keyboard": [[{"text": "确认", "callback_data": "确认"},
                                           {"text": "不退了", "callback_data": "/deny"}]]}


def test_a_payload_past_64_bytes_falls_back_to_the_title():
    long_payload = '/inform{"policy_number": "SBX1000000000012", "reason": "不想要了不想要了"}'
    [message] = render_message({"text": "选一个", "buttons": [
        {"title": "就是这张", "payload": long_payload}]})
    assert message.buttons == (("就是这张", "就是这张"),)


def test_short_texts_are_never_split():
    text = "退" * MAX_MESSAGE_CHARS
    assert split_text(text) == [text]


def test_long_texts_are_cut_after_sentences_within_4096():
    sentences = [f"第{i}条：退保后保障立即终止，之后发生的事故不再赔付。" for i in range(400)]
    text = "".join(sentences)
    assert telegram_length(text) > 2 * MAX_MESSAGE_CHARS
    pieces = split_text(text)
    assert len(pieces) == 3
    assert all(telegram_length(p) <= MAX_MESSAGE_CHARS for p in pieces)
    assert all(p.endswith("。") for p in pieces)  # every cut after a full stop
    assert "".join(pieces) == text


def test_emoji_count_twice_as_telegram_counts_them():
    text = "😀" * 3000  # 6000 UTF-16 units
    pieces = split_text(text)
    assert [telegram_length(p) for p in pieces] == [4096, 1904]
    assert "".join(pieces) == text


def test_a_sentence_longer_than_the_limit_is_cut_after_a_clause():
    clause = "退保金额按未满期保费计算，"
    text = clause * 400 + "完。"
    pieces = split_text(text)
    assert all(telegram_length(p) <= MAX_MESSAGE_CHARS for p in pieces)
    assert all(p.endswith("，") for p in pieces[:-1]) and "".join(pieces) == text


def test_buttons_go_with_the_last_piece():
    messages = render_message({"text": "很长的说明。" * 1000, "buttons": [
        {"title": "确认", "payload": "确认"}]})
    assert len(messages) == 2
    assert messages[0].buttons == () and messages[1].buttons == (("确认", "确认"),)


def test_settings_come_from_credentials_then_environment():
    settings = TelegramSettings.from_sources(
        {"bot_token": "42:from-credentials", "secret_token": "cred-secret"},
        {"TELEGRAM_SECRET_TOKEN": "env-secret", "TELEGRAM_MAX_RETRY_AFTER_S": "12"})
    assert (settings.bot_token, settings.secret_token, settings.max_retry_after_s) == \
        ("42:from-credentials", "env-secret", 12.0)
    assert TelegramSettings.from_sources({}, {}).secret_token == "tuibao-demo-telegram-secret"
    for bad in ({"TELEGRAM_SECRET_TOKEN": "has space"}, {"TELEGRAM_BOT_TOKEN": "no-colon"}):
        with pytest.raises(ValueError):
            TelegramSettings.from_sources({}, bad)


class FakeBotApi:
    """Answers 429 ``retry_after`` for the first ``floods`` calls, then succeeds."""

    def __init__(self, floods: int, retry_after: int) -> None:
        self.floods, self.retry_after = floods, retry_after
        self.calls = []

    async def call(self, text):
        self.calls.append((time.monotonic(), text))
        if len(self.calls) <= self.floods:
            raise RetryAfter(self.retry_after)
        return {"ok": True}


def _send(limiter: FloodControl, api: FakeBotApi, text: str, chat_id: int = 7):
    return limiter.process_request(api.call, (text,), {}, "sendMessage", {"chat_id": chat_id},
                                   None)


def test_a_429_is_waited_out_and_the_message_sent_once():
    async def scenario():
        api = FakeBotApi(floods=1, retry_after=1)
        result = await _send(FloodControl(MemoryUpdateStore(), max_retry_after_s=5), api, "你好")
        return result, api.calls

    result, calls = asyncio.run(scenario())
    assert result == {"ok": True} and len(calls) == 2
    assert calls[1][0] - calls[0][0] >= 1.0


def test_a_pause_longer_than_allowed_is_not_waited():
    async def scenario():
        api = FakeBotApi(floods=5, retry_after=120)
        started = time.monotonic()
        with pytest.raises(RetryAfter):
            await _send(FloodControl(MemoryUpdateStore(), max_retry_after_s=5), api, "你好")
        return time.monotonic() - started, len(api.calls)

    elapsed, calls = asyncio.run(scenario())
    assert elapsed < 1 and calls == 1


def test_retries_are_bounded():
    async def scenario():
        api = FakeBotApi(floods=100, retry_after=1)
        with pytest.raises(RetryAfter):
            await _send(FloodControl(MemoryUpdateStore(), max_retry_after_s=5, max_retries=2),
                        api, "你好")
        return len(api.calls)

    assert asyncio.run(scenario()) == 3


def test_a_429_seen_by_one_process_pauses_the_other_redis():
    """Flood control is the bot's: a replica that did not get the 429 waits too."""
    prefix = f"tuibao-test:{uuid.uuid4().hex[:12]}"

    async def scenario():
        one, other = RedisUpdateStore(REDIS_URL, prefix), RedisUpdateStore(REDIS_URL, prefix)
        try:
            flooded = FakeBotApi(floods=1, retry_after=2)
            first = asyncio.ensure_future(_send(FloodControl(one, 10), flooded, "甲"))
            await asyncio.sleep(0.3)  # the 429 has been seen and recorded
            bystander = FakeBotApi(floods=0, retry_after=0)
            started = time.monotonic()
            await _send(FloodControl(other, 10), bystander, "乙", chat_id=8)
            waited = time.monotonic() - started
            await first
            claims = [await one.claim(99), await other.claim(99)]
            return waited, claims
        finally:
            await one.close()
            await other.close()

    try:
        waited, claims = asyncio.run(scenario())
    finally:
        forget_redis_prefix(prefix)
    assert waited >= 1.5
    assert claims == [True, False]  # one update id, one process runs it


def test_memory_store_claims_an_update_once():
    store = MemoryUpdateStore()
    assert [asyncio.run(store.claim(5)), asyncio.run(store.claim(5)),
            asyncio.run(store.claim(6))] == [True, False, True]
