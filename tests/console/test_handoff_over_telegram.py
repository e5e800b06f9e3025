"""The desk is channel-neutral: a Telegram user asks for a person, an agent takes the chat at the
console, the agent's reply arrives through the Bot API (the stand-in's outbox), the user's next
message reaches the agent while the bot says nothing, and the hand-back brings the bot back."""
from __future__ import annotations

import time

from tests.console.support import signed_in
from harness.telegram_caller import TelegramCaller, new_chat_id, text_update


def test_a_telegram_chat_taken_answered_and_handed_back(desk):
    telegram = TelegramCaller(desk)
    chat_id = telegram.open_chat(new_chat_id())
    conversation = f"telegram:{chat_id}"
    queued = telegram.say(chat_id, "转人工")
    assert "排在第" in queued.text, queued.text

    agent = signed_in(desk.console_url, "agent1")
    waiting = [c for c in agent.get("/api/v1/chats?state=waiting").json()
               if c["chat_id"] == conversation]
    assert len(waiting) == 1 and waiting[0]["channel"] == "telegram"

    chat = f"/api/v1/chats/{conversation}"
    assert agent.post(f"{chat}/take").status_code == 200
    before = len(desk.telegram_outbox(chat_id))
    sent = agent.post(f"{chat}/messages", {"text": "您好，我是人工客服小李。"})
    assert sent.status_code == 200 and sent.json().get("delivered", True) is not False, sent.text
    pushed = desk.telegram_outbox(chat_id)[before:]
    assert any("人工客服小李" in (m["text"] or "") for m in pushed), pushed

    # While the agent has the chat the user's words reach the agent and the bot stays silent.
    before = len(desk.telegram_outbox(chat_id))
    assert telegram.post(text_update(chat_id, "我想问问退保要扣多少钱")).status_code == 200
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        turns = agent.get(chat).json()["turns"]
        if any(t["who"] == "user" and "扣多少钱" in t["text"] for t in turns):
            break
        time.sleep(0.3)
    else:
        events = [(e.get("event"), e.get("text"), e.get("name")) for e in desk.tracker(conversation)["events"]]
        raise AssertionError(f"the Telegram user's message never reached the agent: {events[-12:]}")
    time.sleep(2)
    assert desk.telegram_outbox(chat_id)[before:] == []

    back = agent.post(f"{chat}/handback")
    assert back.status_code == 200, back.text
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        said = "\n".join(m["text"] or "" for m in desk.telegram_outbox(chat_id)[before:])
        if "回来" in said:
            break
        time.sleep(0.3)
    else:
        raise AssertionError(f"the bot never said it was back: {said!r}")
