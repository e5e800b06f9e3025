"""Issue 7, hole 5: long texts must not stall everyone. Six 13,800-character messages in flight
(the probe's) made an ordinary "你好" wait 5.7 s, past WeChat's deadline. A text longer than
WeChat's own limit is answered without reaching NLU, and a short message answers within 1 s
while six maximal messages (the probe's, and the longest that still reaches NLU) are in flight.
Real signed, encrypted callbacks over HTTP against the running stack."""
from __future__ import annotations

import threading
import time
from typing import List

import pytest

from connectors.limits import MAX_TEXT_CHARS
from tests.wechat.wechat_caller import Delivery, WeChatCaller, new_openid, text_xml

PROBE_CHARS = 13_800
IN_FLIGHT = 6
SHORT_REPLY_WITHIN_S = 1.0
ROUNDS = 3
FILLER = "我想咨询一下退保的事情，保单号SBX1000000000012，请问能退多少钱，多久到账？"


def long_text(chars: int) -> str:
    return (FILLER * (chars // len(FILLER) + 1))[:chars]


def short_reply_time_with_long_messages_in_flight(wechat: WeChatCaller, chars: int) -> float:
    """Start ``IN_FLIGHT`` messages of ``chars`` characters from as many users, then time a
    "你好" from another user while they are being handled."""
    results: List[Delivery] = []
    started = threading.Barrier(IN_FLIGHT + 1)

    def send_long() -> None:
        xml = text_xml(new_openid(), long_text(chars))
        query_body = wechat.signed_request(xml)
        started.wait()
        results.append(wechat.post(*query_body))

    threads = [threading.Thread(target=send_long) for _ in range(IN_FLIGHT)]
    for thread in threads:
        thread.start()
    started.wait()
    time.sleep(0.05)  # the long messages are on the wire first
    short = wechat.say(new_openid(), "你好")
    for thread in threads:
        thread.join(timeout=30)
    assert short.status == 200 and short.reply_text, short
    assert len(results) == IN_FLIGHT and all(r.status == 200 for r in results)
    return short.elapsed


def warm_up(wechat: WeChatCaller) -> None:
    for _ in range(2):
        assert wechat.say(new_openid(), "你好").reply_text


def test_a_text_over_the_limit_is_answered_without_reaching_nlu(stack, wechat):
    openid = new_openid()
    too_long = wechat.say(openid, long_text(MAX_TEXT_CHARS + 1))
    assert too_long.status == 200 and str(MAX_TEXT_CHARS) in too_long.reply_text
    assert "分几条" in too_long.reply_text
    assert stack.user_turns(openid) == []  # NLU never saw it
    at_limit = wechat.say(openid, long_text(MAX_TEXT_CHARS))
    assert at_limit.status == 200 and at_limit.reply_text
    assert [len(t["text"]) for t in stack.user_turns(openid)] == [MAX_TEXT_CHARS]


@pytest.mark.parametrize("chars", [PROBE_CHARS, MAX_TEXT_CHARS],
                         ids=["probe-13800-chars", "longest-reaching-nlu"])
def test_a_short_message_answers_within_1s_while_six_maximal_messages_are_in_flight(
        stack, wechat, chars):
    warm_up(wechat)
    # The median of three bursts: the test machine is shared, and one scheduling hiccup of
    # another process must not decide it. Before the fix every burst took 5 s or more.
    elapsed = sorted(short_reply_time_with_long_messages_in_flight(wechat, chars)
                     for _ in range(ROUNDS))
    assert elapsed[ROUNDS // 2] < SHORT_REPLY_WITHIN_S, \
        "你好 took " + ", ".join(f"{e:.2f}" for e in elapsed) + " s"
