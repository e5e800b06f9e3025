"""Issue 18, hole 2: Telegram had no length limit, and a 4,096-character text was parsed on the
event loop: a WeChat 你好 took 1.8 s beside twelve of them (4.85 s beside sixty; WeChat gives up
at 5 s). Through the one turn pipeline Telegram now has WeChat's rules: a text over 600
characters is answered without reaching NLU, and the long texts that do reach it pass one at a
time with their NLU in a worker thread. So while a dozen 4,096-character texts and a dozen
600-character texts (the longest that reaches NLU) are in flight over Telegram, a WeChat 你好
answers within 1.5 s (14.9 s before), and the long turns are shown to be still running when it
does."""
from __future__ import annotations

import threading
import time
from typing import Dict, List

from connectors.limits import MAX_TEXT_CHARS
from harness.telegram_caller import TelegramCaller, new_chat_id, text_update
from harness.wechat_caller import WeChatCaller, new_openid

TELEGRAM_MAX = 4096
IN_FLIGHT = 12
ROUNDS = 3
# Before the fix the first round's 你好 took 14.9 s (WeChat gives up at 5 s); now about 0.5-1 s
# on the shared 2-core test machine. 1.5 s leaves room for the machine's other load and is still
# below what the probe saw beside only twelve texts (1.8 s).
SHORT_REPLY_WITHIN_S = 1.5
FILLER = "我想咨询一下退保的事情，保单号SBX1000000000012，请问能退多少钱，多久到账？"


def long_text(chars: int) -> str:
    return (FILLER * (chars // len(FILLER) + 1))[:chars]


def answered(stack, chats: List[int]) -> Dict[int, str]:
    """The chats the bot has written to, with what it wrote."""
    said = {}
    for chat in chats:
        texts = [m["text"] or "" for m in stack.telegram_outbox(chat)
                 if m["method"] == "sendMessage"]
        if texts:
            said[chat] = "\n".join(texts)
    return said


def one_round(stack, telegram: TelegramCaller, wechat: WeChatCaller):
    """Post a dozen texts of each length from as many Telegram users at once, then time a
    WeChat 你好; (seconds, 600-character chats answered by then, every chat's answer)."""
    over = [telegram.open_chat(new_chat_id()) for _ in range(IN_FLIGHT)]
    heavy = [telegram.open_chat(new_chat_id()) for _ in range(IN_FLIGHT)]
    updates = [text_update(chat, long_text(TELEGRAM_MAX)) for chat in over] + \
        [text_update(chat, long_text(MAX_TEXT_CHARS)) for chat in heavy]
    go = threading.Barrier(len(updates) + 1)
    statuses: List[int] = []

    def post(update) -> None:
        go.wait()
        statuses.append(telegram.post(update).status_code)

    threads = [threading.Thread(target=post, args=(u,)) for u in updates]
    for thread in threads:
        thread.start()
    go.wait()
    time.sleep(0.3)  # the Telegram updates are in before the 你好
    hello = wechat.say(new_openid(), "你好")
    running_then = IN_FLIGHT - len(answered(stack, heavy))
    for thread in threads:
        thread.join(timeout=60)
    assert hello.status == 200 and "您好" in (hello.reply_text or ""), hello
    assert statuses == [200] * len(updates)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and len(answered(stack, over + heavy)) < len(updates):
        time.sleep(0.5)
    said = answered(stack, over + heavy)
    assert len(said) == len(updates), f"{len(said)} of {len(updates)} chats answered"
    for chat in over:  # over the limit: the limit's answer, and NLU never saw the text
        assert f"您的消息有 {TELEGRAM_MAX} 个字" in said[chat], said[chat]
        assert stack.user_turns(f"telegram:{chat}") == []
    for chat in heavy:  # the longest that passes: a real turn
        assert "您的消息有" not in said[chat]
        assert [len(t["text"]) for t in stack.user_turns(f"telegram:{chat}")] == [MAX_TEXT_CHARS]
    return hello.elapsed, running_then


def test_a_wechat_hello_answers_fast_beside_two_dozen_long_telegram_texts(stack, telegram):
    wechat = WeChatCaller(stack.webhook_url)
    alone = []
    for _ in range(3):  # warm up both channels; 你好 alone is the baseline
        hello = wechat.say(new_openid(), "你好")
        assert hello.reply_text
        alone.append(hello.elapsed)
        assert telegram.say(telegram.open_chat(new_chat_id()), "你好").text
    rounds = [one_round(stack, telegram, wechat) for _ in range(ROUNDS)]
    elapsed = sorted(seconds for seconds, _ in rounds)
    report = f"你好 alone {sorted(alone)[1]:.2f} s; beside them: " + "; ".join(
        f"{s:.2f} s with {r} of {IN_FLIGHT} long turns still running" for s, r in rounds)
    print(report)
    # The median of three rounds: the machine is shared, one hiccup must not decide it.
    assert elapsed[ROUNDS // 2] < SHORT_REPLY_WITHIN_S, report
    # The long turns were really in flight: most had not been answered when 你好 was.
    assert all(running > 0 for _, running in rounds), report
