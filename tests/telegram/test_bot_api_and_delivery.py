"""The bot's side of the Bot API against the running stand-in: Telegram's 429 flood control
waited out with the message sent once, the agent-reply delivery function, texts past 4096
characters, the webhook command, and the stand-in delivering only with the right secret."""
from __future__ import annotations

import asyncio
import datetime as dt
import os
import subprocess
import time

import pytest
import requests

from connectors.telegram.client import SendOutcome
from connectors.telegram.delivery import deliver_text, is_telegram_conversation
from connectors.telegram.render import MAX_MESSAGE_CHARS, telegram_length
from connectors.telegram.settings import TelegramSettings
from harness.services import PYTHON, ROOT


def settings_of(stack) -> TelegramSettings:
    return TelegramSettings.from_sources({}, stack.telegram_env)


def sim(stack, method: str, path: str, **kwargs):
    answer = requests.request(method, f"{stack.simulator_url}{path}", timeout=30, **kwargs)
    answer.raise_for_status()
    return answer.json()


def test_flood_control_retry_after_is_honoured_and_nothing_lost(stack, telegram, chat):
    sim(stack, "POST", "/sim/telegram/flood", json={"retry_after": 2, "count": 1})
    flooded_at = time.time()
    turn = telegram.say(chat, "我要退保")  # the webhook still answers at once
    assert turn.elapsed < 0.5
    sent = [m for m in turn.sent if m["method"] == "sendMessage"]
    assert len(sent) == 2 and "保单号" in sent[-1]["text"]  # each message exactly once
    refused = [r for r in sim(stack, "GET", "/sim/telegram/rejections")
               if r["chat_id"] == chat and r["at"] >= flooded_at - 1]
    assert len(refused) == 1 and refused[0]["retry_after"] == 2  # no hammering in the pause
    first_sent = dt.datetime.fromisoformat(sent[0]["sent_at"]).timestamp()
    assert first_sent - refused[0]["at"] >= 1.9  # waited as told


def test_agent_reply_reaches_a_telegram_user(stack, chat):
    outcome = asyncio.run(deliver_text(f"telegram:{chat}", "您好，我是人工客服，您的退保申请我来跟进。",
                                       settings_of(stack)))
    assert outcome is SendOutcome.SENT
    [sent] = stack.telegram_outbox(chat)
    assert (sent["method"], sent["text"]) == ("sendMessage", "您好，我是人工客服，您的退保申请我来跟进。")


def test_agent_reply_to_a_user_who_blocked_the_bot_is_reported(stack, chat):
    sim(stack, "POST", "/sim/telegram/blocks", json={"chat_id": chat, "blocked": True})
    outcome = asyncio.run(deliver_text(f"telegram:{chat}", "您好", settings_of(stack)))
    assert outcome is SendOutcome.BLOCKED and stack.telegram_outbox(chat) == []


def test_delivery_refuses_other_channels_conversations(stack):
    for other in ("oWeChatOpenid123", "rest:someone", "telegram:", "telegram:12a"):
        assert not is_telegram_conversation(other)
        with pytest.raises(ValueError):
            asyncio.run(deliver_text(other, "您好", settings_of(stack)))


def test_a_text_past_4096_characters_arrives_in_sentence_pieces(stack, chat):
    text = "".join(f"第{i}项：退保后保障立即终止，之后发生的事故不再赔付。" for i in range(200))
    assert telegram_length(text) > MAX_MESSAGE_CHARS
    assert asyncio.run(deliver_text(f"telegram:{chat}", text, settings_of(stack))) \
        is SendOutcome.SENT
    pieces = [m["text"] for m in stack.telegram_outbox(chat)]
    assert len(pieces) == 2 and "".join(pieces) == text
    assert all(telegram_length(p) <= MAX_MESSAGE_CHARS and p.endswith("。") for p in pieces)


def run_webhook_command(stack, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, **stack.telegram_env, "PYTHONWARNINGS": "ignore"}
    return subprocess.run([PYTHON, "-m", "connectors.telegram.webhook", *args], cwd=ROOT,
                          env=env, capture_output=True, text=True, timeout=60)


def test_webhook_command_registers_and_removes_the_webhook(stack, telegram, chat):
    try:
        done = run_webhook_command(stack, "set", "--url", "https://bot.example.invalid/hook")
        assert done.returncode == 0, done.stderr
        registered = sim(stack, "GET", "/sim/telegram/webhook")
        assert registered == {"url": "https://bot.example.invalid/hook", "has_secret_token": True,
                              "allowed_updates": ["message", "edited_message", "callback_query"]}
        assert "tuibao-demo-telegram" not in done.stdout + done.stderr  # neither token shown
        info = run_webhook_command(stack, "info")
        assert "https://bot.example.invalid/hook" in info.stdout
        assert run_webhook_command(stack, "delete").returncode == 0
        assert sim(stack, "GET", "/sim/telegram/webhook") == {"url": None}
        # Without a webhook, Telegram keeps what users send.
        kept = sim(stack, "POST", "/sim/telegram/messages",
                   json={"chat_id": chat, "text": "你好", "wait": True})
        assert kept["delivered"] is False
    finally:
        restored = run_webhook_command(stack, "set")  # TELEGRAM_WEBHOOK_URL: the stack's Rasa
        assert restored.returncode == 0, restored.stderr
    delivered = sim(stack, "POST", "/sim/telegram/messages",
                    json={"chat_id": chat, "text": "你好", "wait": True})
    assert delivered["delivered"] is True


def test_webhook_command_with_a_wrong_bot_token_fails_without_showing_it(stack):
    env_token = "999:not-the-bot"
    done = subprocess.run([PYTHON, "-m", "connectors.telegram.webhook", "info"], cwd=ROOT,
                          env={**os.environ, **stack.telegram_env, "TELEGRAM_BOT_TOKEN": env_token,
                               "PYTHONWARNINGS": "ignore"},
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 1 and "refused the bot token" in done.stderr
    assert env_token not in done.stdout + done.stderr


def test_stand_in_delivers_with_the_registered_secret_only(stack, chat):
    """The tab's path: the stand-in posts to the registered webhook with its secret; an
    update signed with another secret is refused by the bot and never becomes a turn."""
    update = sim(stack, "POST", "/sim/telegram/messages",
                 json={"chat_id": chat, "text": "我要退保", "wait": True})
    assert update["delivered"] is True and update["attempts"] == 1
    deadline = time.monotonic() + 30
    asked = False
    while time.monotonic() < deadline and not asked:
        asked = any("保单号" in (m["text"] or "") for m in stack.telegram_outbox(chat))
        time.sleep(0.2)
    assert asked, stack.telegram_outbox(chat)
    try:
        done = run_webhook_command(stack, "set")
        assert done.returncode == 0
        env = {**stack.telegram_env, "TELEGRAM_SECRET_TOKEN": "someone-elses-secret"}
        forged = subprocess.run([PYTHON, "-m", "connectors.telegram.webhook", "set"], cwd=ROOT,
                                env={**os.environ, **env, "PYTHONWARNINGS": "ignore"},
                                capture_output=True, text=True, timeout=60)
        assert forged.returncode == 0
        turns = len(stack.user_turns(f"telegram:{chat}"))
        refused = sim(stack, "POST", "/sim/telegram/messages",
                      json={"chat_id": chat, "text": "SBX1000000000012", "wait": True})
        assert refused["delivered"] is False and "HTTP 403" in refused["problems"][0]
        time.sleep(1)
        assert len(stack.user_turns(f"telegram:{chat}")) == turns
    finally:
        assert run_webhook_command(stack, "set").returncode == 0


def test_rasa_trigger_intent_reaches_the_telegram_user(stack, chat):
    """Rasa's own out-of-turn path (reminders, an agent's tooling) through our output channel."""
    answer = requests.post(f"{stack.rasa_url}/conversations/telegram:{chat}/trigger_intent",
                           params={"token": stack.api_token, "output_channel": "telegram"},
                           json={"name": "greet"}, timeout=60)
    assert answer.status_code == 200, answer.text
    [sent] = stack.telegram_outbox(chat)
    assert "您好" in sent["text"] and sent["method"] == "sendMessage"
