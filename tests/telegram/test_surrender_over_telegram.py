"""A whole surrender of seed policy 2 (李娜) as a Telegram user lives it: /start, the inline
button, typed answers, the read-back and the case number, all arriving through the Bot API
stand-in; every tap answered (the spinner stops) and its keyboard taken away."""
from __future__ import annotations

import re

POLICY_2, SUFFIX_2, PHONE_2 = "SBX1000000000023", "150028", "13900139000"


def test_surrender_of_policy_2_through_buttons_and_typed_answers(stack, telegram, chat):
    start = telegram.start(chat)
    assert "您好" in start.text
    offer = start.keyboard_message
    assert offer["reply_markup"]["inline_keyboard"][0][0]["text"] == "我要退保"

    asked = telegram.tap(chat, offer, "我要退保")
    assert "保单号" in asked.text
    assert [m["method"] for m in asked.sent].count("answerCallbackQuery") == 1
    removed = [m for m in asked.sent if m["method"] == "editMessageReplyMarkup"]
    assert [(m["message_id"], m["reply_markup"]) for m in removed] == [(offer["message_id"], None)]

    assert "身份证" in telegram.say(chat, POLICY_2).text
    assert "139****9000" in telegram.say(chat, SUFFIX_2).text
    quote = telegram.say(chat, stack.sms_code(PHONE_2))
    # Read back before any confirmation: figures, deductions, route, dates, end of cover.
    for figure in ("¥299.00", "¥135.16", "−¥47.30", "¥87.86", "工商银行 尾号1234", "2026年12月1日",
                   "2026年12月25日", "保障立即终止"):
        assert figure in quote.text, figure
    confirm = quote.keyboard_message
    titles = [b["text"] for row in confirm["reply_markup"]["inline_keyboard"] for b in row]
    # The surrender's button names what it does (issue 19.1: a withdrawal's reads 确认撤销申请)
    assert titles == ["确认退保", "不退了"]

    submitted = telegram.tap(chat, confirm, "确认退保")
    [case] = re.findall(r"TB20261125\d{6}", submitted.text)
    assert "¥87.86" in submitted.text and "2026年12月25日" in submitted.text
    assert any(m["method"] == "answerCallbackQuery" for m in submitted.sent)

    # A typed second confirmation (double tap, network retry) never makes a second case.
    again = telegram.say(chat, "确认")
    assert re.findall(r"TB\d{14}", again.text) in ([], [case])
    # The insurer, asked as a separate client with its own identity check (not the bot's word
    # for it), holds exactly one case submitted today for the policy: the one the user was told.
    at_insurer = stack.cases_at_insurer(POLICY_2, SUFFIX_2, PHONE_2)
    assert [c for c in at_insurer if c.startswith("TB20261125")] == [case], at_insurer
    # The whole conversation went out through the Bot API, in order, to this chat only.
    outbox = stack.telegram_outbox(chat)
    assert all(m["chat_id"] == chat for m in outbox)
    texts = [m["text"] for m in outbox if m["method"] == "sendMessage"]
    assert texts.index(next(t for t in texts if "¥87.86" in t)) < \
        texts.index(next(t for t in texts if case in t))
    # The conversation is Telegram's own, named by the chat.
    intents = [e["parse_data"]["intent"]["name"] for e in stack.user_turns(f"telegram:{chat}")]
    assert intents[:2] == ["greet", "request_surrender"]


def test_status_of_a_case_in_a_new_telegram_chat(stack, telegram, chat):
    """Status works later, from another chat, after the same identity check."""
    # Policy 7 has an open case from the seed data (submitted two days ago).
    assert "案件号" in telegram.say(chat, "我的退保申请到哪一步了").text
    assert "身份证" in telegram.say(chat, "SBX2000000000079").text
    assert "137****7000" in telegram.say(chat, "01001X").text
    status = telegram.say(chat, stack.sms_code("13700137000")).text
    assert re.search(r"TB\d{14}", status) and "审核" in status, status
