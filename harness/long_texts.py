"""The long-text probe (issue 7, hole 5), for the long-text tests and bench/long_texts.py:
``IN_FLIGHT`` long messages from as many users on the wire, and the time a short "你好" from
another user takes meanwhile, over real signed, encrypted WeChat callbacks."""
from __future__ import annotations

import threading
import time
from typing import List, Tuple

from harness.wechat_caller import Delivery, WeChatCaller, new_openid, text_xml

PROBE_CHARS = 13_800
IN_FLIGHT = 6
FILLER = "我想咨询一下退保的事情，保单号SBX1000000000012，请问能退多少钱，多久到账？"


def long_text(chars: int) -> str:
    return (FILLER * (chars // len(FILLER) + 1))[:chars]


def short_reply_time_with_long_messages_in_flight(
        wechat: WeChatCaller, chars: int) -> Tuple[float, int, List[Delivery]]:
    """Start ``IN_FLIGHT`` messages of ``chars`` characters from as many users, then time a
    "你好" from another user while they are being handled. Returns the 你好's reply time, how
    many long messages had not been answered yet when it was (the burst proves something only
    if they were still running) and the long messages' deliveries."""
    results: List[Delivery] = []
    answered_at: List[float] = []
    started = threading.Barrier(IN_FLIGHT + 1)

    def send_long() -> None:
        xml = text_xml(new_openid(), long_text(chars))
        query_body = wechat.signed_request(xml)
        started.wait()
        results.append(wechat.post(*query_body))
        answered_at.append(time.monotonic())

    threads = [threading.Thread(target=send_long) for _ in range(IN_FLIGHT)]
    for thread in threads:
        thread.start()
    started.wait()
    time.sleep(0.05)  # the long messages are on the wire first
    short = wechat.say(new_openid(), "你好")
    short_answered_at = time.monotonic()
    for thread in threads:
        thread.join(timeout=30)
    assert short.status == 200 and short.reply_text, short
    assert len(results) == IN_FLIGHT and all(r.status == 200 for r in results)
    still_running = sum(at > short_answered_at for at in answered_at)
    return short.elapsed, still_running, results
