"""Telegram's webhook protocol against the running Rasa server: who is let in, what is
refused, what is answered how, and that refused or ignored updates leave the conversation and
the chat untouched."""
from __future__ import annotations

import json
import time

from connectors.telegram import wording
from harness.telegram_caller import (callback_update, edited_update, media_update,
                                            text_update)
from harness.wechat_caller import WeChatCaller, text_xml

SETTLE_S = 1.5  # long enough for a wrongly accepted update to reach the tracker or the chat


def started(stack, telegram, chat):
    """A user who already talked once: (their tracker's event count, their outbox length)."""
    assert "您好" in telegram.say(chat, "你好").text
    return len(stack.tracker(f"telegram:{chat}")["events"]), len(stack.telegram_outbox(chat))


def assert_untouched(stack, chat, before):
    time.sleep(SETTLE_S)
    assert (len(stack.tracker(f"telegram:{chat}")["events"]),
            len(stack.telegram_outbox(chat))) == before


def test_missing_or_wrong_secret_token_refused_and_nothing_written(stack, telegram, chat):
    before = started(stack, telegram, chat)
    update = text_update(chat, "我要退保")
    assert telegram.post(update, secret=None).status_code == 401
    for wrong in ("tuibao-demo-telegram-secreT", "tuibao-demo-telegram-secret-", "", "x"):
        assert telegram.post(update, secret=wrong).status_code == 403, wrong
    assert_untouched(stack, chat, before)
    # The update was not claimed by the refused attempts: Telegram's own delivery still runs.
    assert "保单号" in telegram.send(update).text


def test_duplicate_update_id_runs_one_turn(stack, telegram, chat):
    started(stack, telegram, chat)
    update = text_update(chat, "我要退保")
    first = telegram.send(update)
    assert "保单号" in first.text
    turns = len(stack.user_turns(f"telegram:{chat}"))
    for _ in range(3):  # Telegram redelivers when it missed our answer
        again = telegram.post(update)
        assert again.status_code == 200 and again.json()["duplicate"] is True
    time.sleep(SETTLE_S)
    assert len(stack.user_turns(f"telegram:{chat}")) == turns
    assert sum("保单号" in (m["text"] or "") for m in stack.telegram_outbox(chat)) == 1


def test_concurrent_deliveries_of_one_update_make_one_turn(stack, telegram, chat):
    from concurrent.futures import ThreadPoolExecutor

    update = text_update(chat, "我要退保")
    with ThreadPoolExecutor(max_workers=5) as pool:
        answers = list(pool.map(lambda _: telegram.post(update), range(5)))
    assert [a.status_code for a in answers] == [200] * 5
    assert sorted(a.json()["handled"] for a in answers) == [False] * 4 + [True]
    time.sleep(SETTLE_S * 2)
    assert [t["text"] for t in stack.user_turns(f"telegram:{chat}")] == ["我要退保"]


def test_one_chats_updates_run_in_order_and_the_webhook_does_not_wait(stack, telegram, chat):
    texts = ["我要退保", "SBX1000000000012", "钱多久能到账", "不退了"]
    updates = [text_update(chat, t) for t in texts]
    answers = [telegram.post(u) for u in updates]  # posted back to back, no waiting
    assert all(a.status_code == 200 for a in answers)
    assert max(a.elapsed.total_seconds() for a in answers) < 0.5  # no turn in the answer
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not telegram.turn_done(chat, updates[-1]["update_id"]):
        time.sleep(0.2)
    assert [t["text"] for t in stack.user_turns(f"telegram:{chat}")] == texts
    sent = [m["text"] for m in stack.telegram_outbox(chat)]
    first_of = [next(i for i, t in enumerate(sent) if marker in t)
                for marker in ("保单号", "身份证", "工作日", "没有提交")]
    assert first_of == sorted(first_of), sent  # answers in the order of the questions


def test_malformed_bodies_answered_safely(stack, telegram, chat):
    before = started(stack, telegram, chat)
    for raw in (b"{not json", b"[]", b'"update"', b"{}", b'{"update_id": "12"}',
                b'{"update_id": -1}', "退保".encode("gbk"), b""):
        answer = telegram.post(None, raw=raw)
        assert answer.status_code == 400, raw
        assert "Traceback" not in answer.text
    # A Telegram-shaped envelope with an unreadable inside: acknowledged, nothing run.
    odd = {"update_id": 10**9 + 7, "message": {"message_id": "x", "chat": "nope"}}
    assert telegram.post(odd).status_code == 200
    assert telegram.post(None, raw=b"{" + b'"a":1,' * 60000 + b'"update_id":1}').status_code == 413
    assert_untouched(stack, chat, before)
    assert "不客气" in telegram.say(chat, "谢谢").text  # the server is still fine


def test_unknown_update_types_answered_with_nothing_run(stack, telegram, chat):
    before = started(stack, telegram, chat)
    user = {"id": chat, "is_bot": False, "first_name": "测试"}
    others = [
        {"my_chat_member": {"chat": {"id": chat, "type": "private", "first_name": "测试"},
                            "from": user, "date": int(time.time()),
                            "old_chat_member": {"status": "member", "user": user},
                            "new_chat_member": {"status": "kicked", "user": user,
                                                "until_date": 0}}},
        {"inline_query": {"id": "77", "from": user, "query": "退保", "offset": ""}},
        {"channel_post": {"message_id": 5, "date": int(time.time()), "text": "我要退保",
                          "chat": {"id": -1001234, "type": "channel", "title": "频道"}}},
        {"some_future_update": {"anything": [1, 2, 3]}},
    ]
    for index, body in enumerate(others):
        answer = telegram.post({"update_id": 2 * 10**9 + chat % 1000 * 10 + index, **body})
        assert answer.status_code == 200 and answer.json()["handled"] is False, body
    assert_untouched(stack, chat, before)


def test_photos_stickers_voice_and_files_get_a_polite_answer(stack, telegram, chat):
    for kind in ("photo", "sticker", "voice", "document", "location", "contact"):
        turn = telegram.send(media_update(chat, kind), turn=False,
                             until=lambda sent: len(sent) == 1)
        assert turn.text == wording.NOT_TEXT, kind
    time.sleep(SETTLE_S)
    assert stack.user_turns(f"telegram:{chat}") == []  # none reached the dialogue


def test_edited_message_is_not_a_new_turn(stack, telegram, chat):
    started(stack, telegram, chat)
    turns = len(stack.user_turns(f"telegram:{chat}"))
    edited = telegram.send(edited_update(chat, "我要退保"), turn=False,
                           until=lambda sent: len(sent) == 1)
    assert edited.text == wording.EDITED_NOT_PROCESSED
    time.sleep(SETTLE_S)
    assert len(stack.user_turns(f"telegram:{chat}")) == turns


def test_commands_other_than_start_never_reach_the_dialogue_as_intents(stack, telegram, chat):
    helped = telegram.send(text_update(chat, "/help"), turn=False,
                           until=lambda sent: len(sent) == 1)
    assert helped.text == wording.HELP and helped.keyboard_message
    for typed in ("/affirm", '/inform{"policy_number":"SBX1000000000012"}', "/start@other_bot x"):
        # "/start@other_bot" is still /start (addressed to a bot by name); the rest are unknown.
        expected = 2 if typed.startswith("/start") else 1
        turn = telegram.send(text_update(chat, typed), turn=expected == 2,
                             until=lambda sent, n=expected: len(sent) >= n)
        if expected == 1:
            assert turn.text == wording.UNKNOWN_COMMAND, typed
    assert [t["parse_data"]["intent"]["name"] for t in stack.user_turns(f"telegram:{chat}")] \
        == ["greet"]


def test_a_tap_on_a_button_the_bot_never_offered_runs_nothing(stack, telegram, chat):
    before = started(stack, telegram, chat)
    bot_message = {"message_id": 1, "text": "确认要退保吗？",
                   "reply_markup": {"inline_keyboard": [[{"text": "确认", "callback_data": "确认"}]]}}
    forged = callback_update(chat, bot_message, '/inform{"policy_number":"SBX1000000000012"}')
    assert telegram.post(forged).status_code == 200
    no_keyboard = callback_update(chat, {**bot_message, "reply_markup": None}, "确认")
    assert telegram.post(no_keyboard).status_code == 200
    time.sleep(SETTLE_S)
    assert len(stack.tracker(f"telegram:{chat}")["events"]) == before[0]


def test_group_chats_are_pointed_to_the_private_chat(stack, telegram):
    group = telegram.open_chat(-1009876543210)
    turn = telegram.send(text_update(group, "/start", chat_type="supergroup"), turn=False,
                         until=lambda sent: len(sent) == 1)
    assert turn.text == wording.PRIVATE_CHAT_ONLY
    # Ordinary group chatter is not the bot's business: acknowledged, no answer.
    assert telegram.post(text_update(group, "SBX1000000000012", chat_type="group")).status_code \
        == 200
    time.sleep(SETTLE_S)
    assert len(stack.telegram_outbox(group)) == 1
    assert stack.user_turns(f"telegram:{group}") == []


def test_telegram_and_wechat_never_share_a_conversation(stack, telegram, chat):
    """Channels own their users: a Telegram chat and a WeChat openid spelled like its id, or
    like its conversation id, are different users (or refused)."""
    assert "保单号" in telegram.say(chat, "我要退保").text
    wechat = WeChatCaller(stack.webhook_url)
    as_digits = wechat.say(str(chat), "你好")
    assert as_digits.status == 200 and "您好" in as_digits.reply_text
    assert [t["text"] for t in stack.user_turns(str(chat))] == ["你好"]
    as_conversation = wechat.say(f"telegram:{chat}", "SBX1000000000012")
    assert as_conversation.status == 400  # not an openid
    assert [t["text"] for t in stack.user_turns(f"telegram:{chat}")] == ["我要退保"]
    # …and the Telegram chat never heard the WeChat user's conversation.
    assert not any("您好" in (m["text"] or "") for m in stack.telegram_outbox(chat))
    user = stack.user_turns(f"telegram:{chat}")[0]
    assert user["input_channel"] == "telegram"
    assert json.dumps(user["metadata"]).find("wechat") == -1


def test_wechat_callbacks_from_non_openids_are_refused(stack):
    wechat = WeChatCaller(stack.webhook_url)
    for sender in ("telegram:123", "rest:someone", "a" * 65, "o/../x"):
        assert wechat.send(text_xml(sender, "我要退保")).status == 400, sender
