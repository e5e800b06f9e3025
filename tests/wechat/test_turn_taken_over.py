"""A turn taken over from a process that stopped answering (its lease lapsed) is not run twice
when that process had stored it: the tracker store holds the user's message with its WeChat
MsgId and the bot's answer after it, and the answer is read back from there (the cluster's
replica-kill test found the code turn run again: the user was answered "您想办理退保…"
instead of their quote). A turn that was never stored runs normally."""
from __future__ import annotations

import asyncio

from rasa.core.tracker_store import InMemoryTrackerStore
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import ActionExecuted, BotUttered, UserUttered
from rasa.shared.core.trackers import DialogueStateTracker

from connectors.wechat.channel import WeChatInput
from connectors.wechat.dedupe import MemoryDedupeStore, delivery_key
from connectors.wechat.protocol import InboundMessage
from connectors.wechat.settings import WeChatSettings

OPENID = "oTestTakeOver0000000000000001"
QUOTE = "保单：一年期意外险 … 实际退款：¥47.19"


class Agent:
    def __init__(self, tracker_store) -> None:
        self.tracker_store = tracker_store


def _channel() -> WeChatInput:
    channel = WeChatInput(WeChatSettings.from_sources({}))
    channel._store = MemoryDedupeStore()
    return channel


def _message(msg_id: int) -> InboundMessage:
    return InboundMessage(openid=OPENID, account="gh_test", msg_type="text", create_time=1,
                          msg_id=msg_id, content="482913")


def _stored(msg_id: int) -> InMemoryTrackerStore:
    store = InMemoryTrackerStore(Domain.empty())
    tracker = DialogueStateTracker.from_events(OPENID, [
        ActionExecuted("action_listen"),
        UserUttered("******", {"name": "inform"}, message_id=str(msg_id)),
        BotUttered(QUOTE), BotUttered("确认要退保吗？", {"buttons": [
            {"title": "确认退保", "payload": "确认退保"}, {"title": "不退了", "payload": "不退了"}]}),
        ActionExecuted("action_listen")])
    asyncio.run(store.save(tracker))
    return store


def _run(channel: WeChatInput, message: InboundMessage, agent, taken_over: bool):
    ran = []

    async def on_new_message(user_message) -> None:
        ran.append(user_message.text)
        await user_message.output_channel.send_response(OPENID, {"text": "您想办理退保、查询进度，还是有问题想问？"})

    async def turn():
        key = delivery_key(message.dedupe_key)
        await channel._run_turn_in_order(key, message, "482913", None, False, on_new_message,
                                         agent, taken_over)
        return await channel.store.get_result(key)

    return ran, asyncio.run(turn())


def test_a_taken_over_turn_that_was_stored_is_read_back_not_run_again():
    ran, answer = _run(_channel(), _message(42), Agent(_stored(42)), taken_over=True)
    assert ran == []
    assert QUOTE in answer and "确认退保" in answer and "您想办理" not in answer


def test_a_taken_over_turn_that_was_never_stored_runs():
    ran, answer = _run(_channel(), _message(43), Agent(_stored(42)), taken_over=True)
    assert ran == ["482913"] and "您想办理" in answer


def test_a_first_run_never_looks_back():
    ran, _ = _run(_channel(), _message(42), Agent(_stored(42)), taken_over=False)
    assert ran == ["482913"]
