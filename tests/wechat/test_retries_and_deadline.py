"""WeChat's 5-second rule and its retries, against the running stack: a retry never runs a
turn twice, and a slow turn is answered "success" in time and pushed when ready, or, when
WeChat refuses the push, brought along with the user's next message."""
from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from connectors.wechat.channel import LATE_ANSWER_HEADER
from harness.wechat_caller import new_openid, text_xml

INSURER_LATENCY_MS = 6000


def test_five_concurrent_deliveries_of_one_msgid_make_one_turn(stack, wechat):
    openid = new_openid()
    wechat.say(openid, "你好")
    turns_before = len(stack.user_turns(openid))
    xml = text_xml(openid, "我要退保")  # one MsgId, delivered five times at once
    with ThreadPoolExecutor(max_workers=5) as pool:
        deliveries = list(pool.map(lambda _: wechat.send(xml), range(5)))
    assert all(d.status == 200 and d.elapsed < 5 for d in deliveries)
    answered = {d.reply_text for d in deliveries}
    assert len(answered) == 1 and "保单号" in answered.pop()  # one answer, whichever WeChat keeps
    time.sleep(1)
    turns = stack.user_turns(openid)
    assert len(turns) - turns_before == 1 and turns[-1]["text"] == "我要退保"


def test_same_msgid_from_two_users_are_two_turns(stack, wechat):
    """MsgIds have collided across users: dedupe is per (openid, MsgId)."""
    alice, bob = new_openid(), new_openid()
    for openid in (alice, bob):
        delivery = wechat.send(text_xml(openid, "我要退保", msg_id=777000111))
        assert delivery.reply_text
    assert len(stack.user_turns(alice)) == len(stack.user_turns(bob)) == 1


@pytest.fixture
def slow_insurer(stack):
    yield lambda: stack.set_insurer_latency(INSURER_LATENCY_MS)
    stack.set_insurer_latency(0)


def test_slow_insurer_quote_arrives_by_push_and_every_answer_is_in_time(stack, wechat,
                                                                        slow_insurer):
    openid = new_openid()
    stack.follow(openid)  # WeChat pushes only to followers, within their 48-hour window
    deliveries = []

    def say(text: str):
        delivery = wechat.say(openid, text)
        deliveries.append(delivery)
        assert delivery.status == 200
        return delivery

    say("我要退保")
    # Seed policy 2 (policy 1 is surrendered by another test of this session).
    say("SBX1000000000023")
    assert "139****9000" in (say("150028").reply_text or "")
    slow_insurer()
    pushed_before = len(stack.outbox(openid))
    code = stack.sms_code("13900139000")
    code_turn = say(code)  # code check + quote: two slow insurer calls
    assert code_turn.body == "success" and code_turn.reply_text is None

    deadline = time.monotonic() + 40
    quote = None
    while time.monotonic() < deadline and quote is None:
        for item in stack.outbox(openid)[pushed_before:]:
            if "87.86" in item["content"]:
                quote = item
        time.sleep(0.5)
    assert quote is not None, stack.outbox(openid)
    assert quote["msgtype"] == "text" and "2026年12月1日" in quote["content"]
    assert max(d.elapsed for d in deliveries) < 5.0, [round(d.elapsed, 2) for d in deliveries]
    time.sleep(1)
    assert [t["text"] for t in stack.user_turns(openid)].count(code) == 1  # ran once


def test_slow_answer_wechat_refuses_to_push_comes_with_the_next_message(stack, wechat,
                                                                        slow_insurer):
    openid = new_openid()  # not a follower: WeChat refuses pushes to them (43004)
    assert "保单号" in wechat.say(openid, "我要退保").reply_text
    assert "身份证" in wechat.say(openid, "SBX1000000000023").reply_text
    slow_insurer()
    slow = wechat.say(openid, "150028")  # one slow insurer call, past the deadline
    assert slow.status == 200 and slow.elapsed < 5.0 and slow.body == "success"
    time.sleep(3)  # the turn ends and its push is refused
    stack.set_insurer_latency(0)

    collected = wechat.say(openid, "在吗")
    assert collected.elapsed < 5.0
    assert collected.reply_text.startswith(LATE_ANSWER_HEADER), collected.reply_text
    assert "139****9000" in collected.reply_text  # the answer to 150028, not lost
    assert stack.outbox(openid) == []
    again = wechat.say(openid, "在吗")
    assert LATE_ANSWER_HEADER not in again.reply_text  # delivered once
