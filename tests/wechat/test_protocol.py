"""WeChat's callback protocol against the running Rasa server: who is let in, what is refused,
and that refused requests leave the conversation untouched."""
from __future__ import annotations

import time

import requests
from wechatpy.crypto import WeChatCrypto

from connectors.wechat.protocol import sign
from tests.wechat.conftest import PREVIOUS_AES_KEY
from harness.wechat_caller import (WeChatCaller, event_xml, new_openid, other_xml,
                                        text_xml, voice_xml)

SETTLE_S = 1.0  # long enough for a wrongly accepted message to reach the tracker


def started_conversation(stack, wechat):
    """A user who already talked once, and their tracker's event count."""
    openid = new_openid()
    assert wechat.say(openid, "你好").reply_text
    return openid, len(stack.tracker(openid)["events"])


def assert_untouched(stack, openid, events_before):
    time.sleep(SETTLE_S)
    assert len(stack.tracker(openid)["events"]) == events_before


def test_server_verification_echoes_echostr(stack, wechat):
    timestamp, nonce = str(int(time.time())), "135792468"
    query = {"signature": sign(wechat.token, timestamp, nonce), "timestamp": timestamp,
             "nonce": nonce, "echostr": "7458921605563041"}
    answer = requests.get(stack.webhook_url, params=query, timeout=10)
    assert (answer.status_code, answer.text) == (200, "7458921605563041")
    query["signature"] = "0" * 40
    refused = requests.get(stack.webhook_url, params=query, timeout=10)
    assert refused.status_code == 403 and "7458921605563041" not in refused.text


def test_each_account_answers_in_its_own_mode(wechat, wechat_plain):
    openid = new_openid()
    encrypted = wechat.say(openid, "你好")
    assert encrypted.status == 200 and "<Encrypt>" in encrypted.body
    assert encrypted.reply_text  # decrypts with the account's key and its signature checks
    plain = wechat_plain.say(openid, "你好")
    assert plain.status == 200 and "<Encrypt>" not in plain.body and plain.reply_text


def test_ciphertext_to_the_plaintext_account_is_refused(stack, wechat, wechat_plain):
    openid, before = started_conversation(stack, wechat_plain)
    to_plain_account = WeChatCaller(stack.plain_webhook_url)  # encrypts, like the safe caller
    assert to_plain_account.say(openid, "我要退保").status == 403
    assert_untouched(stack, openid, before)


def test_previous_aes_key_still_opens_messages(stack):
    """During key rotation WeChat may still encrypt with the previous key."""
    old_key_caller = WeChatCaller(stack.webhook_url, aes_key=PREVIOUS_AES_KEY)
    delivery = old_key_caller.say(new_openid(), "你好")
    assert delivery.status == 200 and delivery.reply_text  # reply readable with the old key


def test_bad_signature_refused_and_nothing_processed(stack, wechat):
    openid, before = started_conversation(stack, wechat)
    query, body = wechat.signed_request(text_xml(openid, "我要退保"))
    query["signature"] = sign("someone-elses-token", query["timestamp"], query["nonce"])
    assert wechat.post(query, body).status == 403
    query, body = wechat.signed_request(text_xml(openid, "我要退保"))
    query["msg_signature"] = "f" * 40  # URL signed right, encrypted body not
    assert wechat.post(query, body).status == 403
    assert_untouched(stack, openid, before)


def test_stale_request_refused_and_nothing_processed(stack, wechat):
    openid, before = started_conversation(stack, wechat)
    stale = wechat.send(text_xml(openid, "我要退保"), timestamp=int(time.time()) - 3600)
    assert stale.status == 403
    assert_untouched(stack, openid, before)


def test_replayed_signature_with_another_body_refused(stack, wechat_plain):
    """Plaintext mode does not sign the body: a captured signature must not carry a new one."""
    openid, before = started_conversation(stack, wechat_plain)
    query, body = wechat_plain.signed_request(text_xml(openid, "谢谢"))
    assert wechat_plain.post(query, body).status == 200
    before = len(stack.tracker(openid)["events"])
    forged = wechat_plain.post(query, text_xml(openid, "我要退保").encode("utf-8"))
    assert forged.status == 403
    assert_untouched(stack, openid, before)


def test_exact_resend_is_answered_without_a_second_turn(stack, wechat):
    openid, _ = started_conversation(stack, wechat)
    query, body = wechat.signed_request(text_xml(openid, "谢谢"))
    first = wechat.post(query, body)
    turns = len(stack.user_turns(openid))
    again = wechat.post(query, body)
    assert first.status == again.status == 200
    time.sleep(SETTLE_S)
    assert len(stack.user_turns(openid)) == turns


def test_malformed_and_oversized_bodies_answered_safely(stack, wechat_plain):
    openid, before = started_conversation(stack, wechat_plain)
    for body in ("<xml><ToUserName>", "not xml at all", "<xml></xml>",
                 '<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]>'
                 "<xml><Content>&e;</Content></xml>"):
        answer = wechat_plain.send(body)
        assert 400 <= answer.status < 500, body
        assert "passwd" not in answer.body and "root:" not in answer.body
    huge = "<xml>" + "退" * (1024 * 1024 // 3) + "</xml>"  # about 1 MB
    assert wechat_plain.send(huge).status == 413
    assert_untouched(stack, openid, before)
    assert wechat_plain.say(openid, "你好").reply_text  # the server is still fine


def test_unknown_types_and_events_get_a_polite_answer(stack, wechat):
    openid = new_openid()
    for msg_type in ("image", "location", "video", "shortvideo", "link", "wxfancy"):
        delivery = wechat.send(other_xml(openid, msg_type))
        assert delivery.status == 200
        assert "文字" in delivery.reply_text, msg_type
    view = wechat.send(event_xml(openid, "VIEW", "https://example.invalid/"))
    assert view.status == 200 and view.reply_text is None
    unknown_menu = wechat.send(event_xml(openid, "CLICK", "NO_SUCH_KEY"))
    assert unknown_menu.status == 200 and unknown_menu.reply_text
    assert stack.user_turns(openid) == []  # none of these reached the dialogue


def test_subscribe_greets_and_shows_how_to_surrender(stack, wechat):
    openid = new_openid()
    delivery = wechat.send(event_xml(openid, "subscribe"))
    assert delivery.status == 200 and "我要退保" in delivery.reply_text and "下方菜单" in delivery.reply_text
    assert [e["parse_data"]["intent"]["name"] for e in stack.user_turns(openid)] == ["greet"]
    # The greeting the agent's console shows (the tracker's) is the whole one the user read.
    said = [e["text"] for e in stack.tracker(openid)["events"] if e.get("event") == "bot"]
    assert "\n\n".join(said) == delivery.reply_text


def test_menu_click_starts_the_matching_intent(stack, wechat):
    openid = new_openid()
    for key, intent in (("SURRENDER", "request_surrender"), ("HUMAN", "request_human")):
        delivery = wechat.send(event_xml(openid, "CLICK", key))
        assert delivery.status == 200 and delivery.reply_text
        assert stack.user_turns(openid)[-1]["parse_data"]["intent"]["name"] == intent


def test_voice_is_understood_through_its_recognition(stack, wechat):
    openid = new_openid()
    delivery = wechat.send(voice_xml(openid, "我要退保"))
    assert delivery.status == 200 and delivery.reply_text
    turn = stack.user_turns(openid)[-1]
    assert turn["text"] == "我要退保"
    assert turn["parse_data"]["intent"]["name"] == "request_surrender"
    assert turn["metadata"]["wechat"]["msg_type"] == "voice"


def test_sender_is_the_openid_not_the_msgid(stack, wechat):
    openid = new_openid()
    wechat.say(openid, "你好")
    wechat.say(openid, "我要退保")
    assert [t["text"] for t in stack.user_turns(openid)] == ["你好", "我要退保"]
