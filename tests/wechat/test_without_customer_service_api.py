"""An account without the customer-service API (an unverified subscription account): every
answer has to be a passive reply. Against a stack of its own, with the sandbox insurer slow, the
test plays WeChat's server as it behaves: it hangs up on a try after 5 s and delivers the same
message again, three tries in all. A slow turn runs once, is answered on the retry that finds it
ready, and, when all three tries pass, the user is told to send any message and gets the late
answer ahead of their new message's own answer. Nothing is ever pushed."""
from __future__ import annotations

import time
from typing import List, Tuple

import pytest

from connectors.wechat.channel import COLLECTED_NOT_PROCESSED, LATE_ANSWER_HEADER, \
    NOT_UNDERSTOOD_TYPE, STILL_WORKING
from connectors.wechat.render import render_turn
from harness.stack import Stack, tuibao_stack
from harness.wechat_caller import WECHAT_CUT_S, WeChatCaller, new_openid, other_xml, \
    text_xml

# Two insurer calls (code check, then quote) at 6 s each end within WeChat's third try; at
# 8 s each they outlast it (last try arrives at ~10 s and must answer by ~14.5 s).
INSURER_LATENCY_MS = 6000
INSURER_LATENCY_PAST_RETRIES_MS = 8000
QUOTE_FIGURES = ("87.86", "2026年12月1日")  # seed policy 2's refund and its expected date


@pytest.fixture(scope="module")
def passive_stack(tmp_path_factory):
    # Insurer read timeout 9 s, so the slow sandbox reaches the channel rather than timing out.
    with tuibao_stack(tmp_path_factory.mktemp("wechat-passive"), customer_service_api=False,
                      insurer_read_timeout_s=9.0, log_prefix="wechat-passive") as running:
        yield running


@pytest.fixture
def insurer_latency(passive_stack):
    yield passive_stack.set_insurer_latency
    passive_stack.set_insurer_latency(0)


class Follower:
    """One user writing to the account through WeChat's server, retries and all."""

    def __init__(self, stack: Stack) -> None:
        self.stack = stack
        self.openid = new_openid()
        self.wechat = WeChatCaller(stack.webhook_url)
        self.said: List[str] = []

    def send(self, xml: str) -> Tuple[str, int]:
        """(the reply the user reads, how many tries WeChat made)."""
        tries = self.wechat.deliver_like_wechat(xml)
        answered = tries[-1].delivery
        assert answered is not None, \
            f"no answer in {len(tries)} tries: the user sees 该公众号暂时无法提供服务"
        assert answered.status == 200 and answered.elapsed < WECHAT_CUT_S, answered
        assert answered.reply_text, f"empty answer: {answered.body!r}"
        assert all(t.delivery is None for t in tries[:-1])  # only hang-ups before the answer
        return answered.reply_text, len(tries)

    def say(self, text: str) -> Tuple[str, int]:
        self.said.append(text)
        return self.send(text_xml(self.openid, text))

    def last_answer_in_tracker(self) -> str:
        """What Rasa answered the latest message, rendered as the channel renders it."""
        events = self.stack.tracker(self.openid)["events"]
        last_user = max(i for i, e in enumerate(events) if e["event"] == "user")
        return render_turn([{**(e.get("data") or {}), "text": e.get("text")}
                            for e in events[last_user:] if e["event"] == "bot"])

    def start_surrender_of_policy_2(self) -> None:
        assert "保单号" in self.say("我要退保")[0]
        assert "身份证" in self.say("SBX1000000000023")[0]

    def assert_each_message_ran_once_and_nothing_was_pushed(self) -> None:
        time.sleep(1)  # a second run of a turn would have shown by now
        assert [t["text"] for t in self.stack.user_turns(self.openid)] == self.said
        assert self.stack.outbox(self.openid) == []


def test_slow_quote_is_held_across_retries_and_answered_on_one(passive_stack,
                                                               insurer_latency):
    user = Follower(passive_stack)
    user.start_surrender_of_policy_2()
    insurer_latency(INSURER_LATENCY_MS)

    reply, tries = user.say("150028")  # one slow insurer call: the second try gets it
    assert "139****9000" in reply and tries >= 2

    code = passive_stack.sms_code("13900139000")
    quote, tries = user.say(code)  # code check + quote: about 12 s, past two hang-ups
    if quote == STILL_WORKING:
        # A slow machine may push the turn past the third try too; then the user collects
        # it with their next message (the path the next test forces).
        assert tries == 3
        quote, _ = user.say("在吗")
        assert quote.startswith(LATE_ANSWER_HEADER)
    else:
        assert tries >= 2
    for figure in QUOTE_FIGURES:
        assert figure in quote, quote
    assert "确认" in quote
    user.assert_each_message_ran_once_and_nothing_was_pushed()


def test_quote_slower_than_three_tries_is_collected_by_the_next_message(passive_stack,
                                                                        insurer_latency):
    user = Follower(passive_stack)
    user.start_surrender_of_policy_2()
    assert "139****9000" in user.say("150028")[0]
    code = passive_stack.sms_code("13900139000")
    insurer_latency(INSURER_LATENCY_PAST_RETRIES_MS)

    reply, tries = user.say(code)  # about 16 s: WeChat's three tries all pass
    assert (reply, tries) == (STILL_WORKING, 3)
    insurer_latency(0)

    # Whatever the user sends next ("好的" here) brings the quote, and is not itself taken as
    # an answer: it must never agree to a quote the user has not seen.
    collected, tries = user.send(text_xml(user.openid, "好的"))  # not a turn: not in user.said
    assert tries == 1
    assert collected.startswith(LATE_ANSWER_HEADER + "\n\n"), collected
    assert collected.endswith("\n\n" + COLLECTED_NOT_PROCESSED), collected
    for figure in QUOTE_FIGURES:
        assert figure in collected, collected
    assert "好的" not in [turn["text"] for turn in passive_stack.user_turns(user.openid)]

    # Delivered once: the next message (a picture) gets only its own answer.
    assert user.send(other_xml(user.openid, "image")) == (NOT_UNDERSTOOD_TYPE, 1)
    user.assert_each_message_ran_once_and_nothing_was_pushed()
