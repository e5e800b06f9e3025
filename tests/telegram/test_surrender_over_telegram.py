"""A whole surrender of seed policy 2 (李娜) as a Telegram user lives it: /start, the inline
button, typed answers, the read-back and the case number, all arriving through the Bot API
stand-in; every button tap answered and its keyboard taken away."""
from __future__ import annotations

import re

from tests.telegram.telegram_caller import callback_update, new_chat_id

POLICY_2, SUFFIX_2, PHONE_2 = "SBX1000000000023", "150028", "13900139000"


def test_surrender_of_policy_2_through_buttons_and_typed_answers(stack, telegram):
    chat = new_chat_id()
    start = telegram.start(chat)
    print(start)
    offer = start.keyboard_message
    assert offer is not None, start.sent
    asked = telegram.tap(chat, offer, "我要退保")
    print(asked)
    assert "保单号" in asked.text
    print(telegram.say(chat, POLICY_2))
    print(telegram.say(chat, SUFFIX_2))
    quote = telegram.say(chat, stack.sms_code(PHONE_2))
    print(quote)
    confirm = quote.keyboard_message
    done = telegram.tap(chat, confirm, "确认")
    print(done)
    assert False
