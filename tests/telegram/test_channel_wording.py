"""Over Telegram the bot never talks as if the user were in WeChat: the responses that name
WeChat have a Telegram variation in domain.yml (``channel: telegram``, the output channel's
name), which Rasa picks for Telegram's output channel; on the same server a WeChat user still
reads the WeChat wording."""
from __future__ import annotations

from harness.wechat_caller import WeChatCaller, new_openid

GREETING = "您好，我是退保助手。"


def test_the_greeting_over_telegram_does_not_talk_about_wechat(stack, telegram, chat):
    start = telegram.start(chat)  # /start: the greeting, then the offer with its button
    assert GREETING in start.text and "微信" not in start.text, start.text
    typed = telegram.say(chat, "你好").text
    assert GREETING in typed and "我要退保" in typed and "微信" not in typed, typed

    on_wechat = WeChatCaller(stack.webhook_url).say(new_openid(), "你好")
    assert "在微信里买的保险" in on_wechat.reply_text, on_wechat.reply_text


def test_the_refund_rule_over_telegram_does_not_send_the_money_to_wechat_pay(stack, telegram, chat):
    answer = telegram.say(chat, "退保的钱多久能到账").text
    assert "4个工作日" in answer and "原路退回付款账户" in answer, answer
    assert "微信" not in answer, answer

    on_wechat = WeChatCaller(stack.webhook_url).say(new_openid(), "退保的钱多久能到账")
    assert "原路退回微信支付" in on_wechat.reply_text, on_wechat.reply_text
