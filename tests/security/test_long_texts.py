"""Issue 7, hole 5: long texts must not stall everyone. Six 13,800-character messages in flight
(the probe's) made an ordinary "你好" wait 5.7 s, past WeChat's deadline. A text longer than
WeChat's own limit is answered without reaching NLU, and a short message answers within 1 s
while six of the longest messages that still reach NLU are being handled (shown: they had not
been answered yet when 你好 was); six of the probe's are each refused at once.
Real signed, encrypted callbacks over HTTP against the running stack."""
from __future__ import annotations

import pytest

from connectors.limits import MAX_TEXT_CHARS
from harness.long_texts import (IN_FLIGHT, PROBE_CHARS, long_text,
                                short_reply_time_with_long_messages_in_flight)
from harness.wechat_caller import WeChatCaller, new_openid

SHORT_REPLY_WITHIN_S = 1.0
ROUNDS = 3


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


def test_a_short_message_answers_within_1s_while_six_maximal_messages_are_in_flight(
        stack, wechat):
    """The longest texts that still reach NLU: six of them are being handled when 你好 is
    answered, and 你好 does not wait for them."""
    warm_up(wechat)
    # The median of three bursts: the test machine is shared, and one scheduling hiccup of
    # another process must not decide it. Before the fix every burst took 5 s or more.
    bursts = [short_reply_time_with_long_messages_in_flight(wechat, MAX_TEXT_CHARS)[:2]
              for _ in range(ROUNDS)]
    print(f"{MAX_TEXT_CHARS} chars: (你好 s, long turns still running) per burst: {bursts}")
    # Every burst tested what it claims: when 你好 was answered, long turns were still being
    # handled (at least half of them; all six on an idle machine), so 你好 did not merely come
    # after them.
    assert all(running >= IN_FLIGHT // 2 for _, running in bursts), bursts
    elapsed = sorted(seconds for seconds, _ in bursts)
    assert elapsed[ROUNDS // 2] < SHORT_REPLY_WITHIN_S, \
        "你好 took " + ", ".join(f"{e:.2f}" for e in elapsed) + " s"


def test_six_probe_size_messages_are_each_refused_at_once_and_do_not_delay_a_short_one(
        stack, wechat):
    """The probe's 13,800-character texts are over WeChat's limit: each is answered at once,
    without NLU (so they are over before 你好 is, unlike the maximal ones above), and 你好 still
    answers within 1 s."""
    warm_up(wechat)
    elapsed = []
    for _ in range(ROUNDS):
        seconds, _, longs = short_reply_time_with_long_messages_in_flight(wechat, PROBE_CHARS)
        elapsed.append(seconds)
        assert all(str(MAX_TEXT_CHARS) in (d.reply_text or "") for d in longs), longs
        assert sorted(d.elapsed for d in longs)[IN_FLIGHT // 2] < SHORT_REPLY_WITHIN_S, longs
    assert sorted(elapsed)[ROUNDS // 2] < SHORT_REPLY_WITHIN_S, elapsed
