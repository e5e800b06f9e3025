"""Issue 16 (one turn pipeline) and issue 18, hole 2: the same abuse through every channel
(WeChat, Telegram, REST) meets the same rules, because every channel runs its messages through
``connectors.turns.TurnPipeline``: a text over 600 characters (Telegram allows 4,096) is
answered without reaching NLU, and what is logged of a message is masked by the one masker,
dictated numbers included. Real requests against the running stack (signed, encrypted WeChat
callbacks; Telegram updates with the secret header; REST posts)."""
from __future__ import annotations

import time
import uuid
from typing import Callable, Dict, List

import pytest
import requests

from connectors.limits import MAX_TEXT_CHARS
from tests.support.shared_stacks import CHANNELS_RASA_LOG
from harness.telegram_caller import TelegramCaller, new_chat_id, text_update
from harness.wechat_caller import WeChatCaller, new_openid

TELEGRAM_MAX = 4096
FILLER = "我想咨询一下退保的事情，保单号SBX1000000000012，请问能退多少钱，多久到账？"
# Dictated identifiers, as a voice input or a careful user writes them.
DICTATED = {"我的手机号是幺三八零零幺三八零零零": "幺三八零零幺三八零零零",
            "身份证后六位是三幺零零二叉": "三幺零零二叉",
            "卡号六二二五八八零一二三四五六七八九": "六二二五八八零一二三四五六七八九"}
LOG = CHANNELS_RASA_LOG


def long_text(chars: int) -> str:
    return (FILLER * (chars // len(FILLER) + 1))[:chars]


class Channel:
    """One user of one channel: send a text, read the answer and the recorded turns."""

    def __init__(self, stack, name: str) -> None:
        self.stack, self.name = stack, name
        if name == "wechat":
            self.user = new_openid()
            self.conversation = self.user
        elif name == "telegram":
            self.user = TelegramCaller(stack).open_chat(new_chat_id())
            self.conversation = f"telegram:{self.user}"
        else:
            self.user = f"abuse-{uuid.uuid4().hex[:10]}"
            self.conversation = f"rest:{self.user}"

    def say(self, text: str, turn: bool = True) -> str:
        """The answer to ``text``; ``turn``: it runs a turn (waited for until it is saved)."""
        if self.name == "wechat":
            delivery = WeChatCaller(self.stack.webhook_url).say(self.user, text)
            assert delivery.status == 200, delivery
            return delivery.reply_text or ""
        if self.name == "telegram":
            return TelegramCaller(self.stack).send(text_update(self.user, text), turn=turn,
                                                   until=lambda sent: bool(sent)).text
        answer = requests.post(self.stack.rest_url, json={"sender": self.user, "message": text},
                               timeout=60)
        assert answer.status_code == 200, answer.text
        return "\n".join(m.get("text") or "" for m in answer.json())

    def user_texts(self) -> List[str]:
        return [t["text"] for t in self.stack.user_turns(self.conversation)]


CHANNELS = ["wechat", "telegram", "rest"]


@pytest.mark.parametrize("channel", CHANNELS)
@pytest.mark.parametrize("chars", [MAX_TEXT_CHARS + 1, TELEGRAM_MAX])
def test_a_text_over_600_characters_is_answered_without_reaching_nlu(stack, channel, chars):
    user = Channel(stack, channel)
    answer = user.say(long_text(chars), turn=False)
    assert f"您的消息有 {chars} 个字" in answer and f"每条 {MAX_TEXT_CHARS} 字" in answer, answer
    assert user.user_texts() == []  # NLU never saw it
    # The longest text that passes still reaches the dialogue, in every channel.
    assert user.say(long_text(MAX_TEXT_CHARS))
    assert [len(t) for t in user.user_texts()] == [MAX_TEXT_CHARS]


@pytest.mark.parametrize("channel", CHANNELS)
def test_dictated_numbers_never_reach_the_log_in_clear(stack, channel):
    user = Channel(stack, channel)
    before = LOG.read_text(encoding="utf-8", errors="replace")
    for text in DICTATED:
        assert user.say(text)
    # The log file is written by another process: wait (bounded) until it holds every message.
    deadline = time.monotonic() + 15
    while True:
        logged = LOG.read_text(encoding="utf-8", errors="replace")[len(before):]
        # The channel logged each message (masked): the check below is not about an empty log.
        lines = [line for line in logged.splitlines() if f"{channel} " in line and " from " in line]
        if len(lines) >= len(DICTATED) or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert len(lines) >= len(DICTATED), logged[-3000:]
    assert "138****8000" in logged and "************6789" in logged
    for dictated in DICTATED.values():
        assert dictated not in logged, f"{dictated} in the log over {channel}"


def test_a_new_channel_gets_the_rules_by_construction(caplog):
    """A channel that only builds a ``TurnPipeline`` (here an imaginary one) already refuses
    long texts and typed /intent syntax, masks its log line, answers a failed turn and keeps
    the words of a tapped choice; no model needed."""
    import asyncio
    import logging

    from connectors.turns import TURN_FAILED, TYPED_COMMAND, TurnPipeline

    ran = []

    async def on_new_message(message):
        ran.append((message.text, message.sender_id, message.metadata))
        if message.text == "boom":
            raise RuntimeError("the dialogue failed")

    pipeline = TurnPipeline("line")

    async def scenario():
        return [await pipeline.run(on_new_message, None, "line:u1", text)
                for text in (long_text(MAX_TEXT_CHARS + 1), "/restart", "boom", "你好")] + \
            [await pipeline.run(on_new_message, None, "line:u1", "确认", payload="/affirm")]

    with caplog.at_level(logging.INFO, logger="connectors.turns"):
        pipeline.log_message("text", "line:u1", "我的手机号是幺三八零零幺三八零零零")
        answers = asyncio.run(scenario())
    assert answers[0].startswith(f"您的消息有 {MAX_TEXT_CHARS + 1} 个字")
    assert answers[1:] == [TYPED_COMMAND, TURN_FAILED, None, None]
    # Without a model here the payload is what Rasa reads; with one, the words (stack tests).
    assert [text for text, _, _ in ran] == ["boom", "你好", "/affirm"]
    assert ran[-1][2] == {"channel": "line", "choice": {"payload": "/affirm"}}
    assert "幺三八零零幺三八零零零" not in caplog.text and "138****8000" in caplog.text
