"""What reaches the bot's webhook: WeChat's signed, AES-encrypted XML, its deadline and retries."""
from __future__ import annotations

import time
from typing import List

import xmltodict
from wechatpy import parse_message
from wechatpy.crypto import WeChatCrypto
from wechatpy.replies import TextReply
from wechatpy.utils import check_signature

from simulator.delivery import SERVICE_UNAVAILABLE
from tests.simulator.conftest import (DEMO_AES_KEY, DEMO_APP_ID, DEMO_TOKEN, REPLY_TIMEOUT,
                                      ReceivedCall, Simulator, WebhookReceiver)

CRYPTO = WeChatCrypto(DEMO_TOKEN, DEMO_AES_KEY, DEMO_APP_ID)


def open_call(call: ReceivedCall):
    """Verify and decrypt one webhook call exactly as the connector must."""
    q = call.query
    check_signature(DEMO_TOKEN, q["signature"], q["timestamp"], q["nonce"])
    assert q["encrypt_type"] == "aes"
    plain = CRYPTO.decrypt_message(call.body, q["msg_signature"], q["timestamp"], q["nonce"])
    return parse_message(plain)


def calls_from(webhook: WebhookReceiver, openid: str, count: int) -> List[ReceivedCall]:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        mine = [c for c in webhook.calls if c.query.get("openid") == openid]
        if len(mine) >= count:
            return mine
        time.sleep(0.05)
    raise AssertionError(f"expected {count} calls for {openid}, got {len(mine)}")


def encrypted_text_reply(call: ReceivedCall, text: str) -> str:
    message = open_call(call)
    reply = TextReply(content=text, message=message).render()
    return CRYPTO.encrypt_message(reply, call.query["nonce"], call.query["timestamp"])


def test_follow_sends_a_subscribe_event(simulator: Simulator, webhook: WebhookReceiver):
    openid = simulator.follow()
    event = open_call(calls_from(webhook, openid, 1)[0])
    assert event.type == "event" and event.event == "subscribe"
    assert event.source == openid and event.target == "gh_tuibao0demo01"


def test_text_arrives_signed_and_encrypted_in_safe_mode(simulator: Simulator,
                                                        webhook: WebhookReceiver):
    openid = simulator.follow()
    calls_from(webhook, openid, 1)
    text = "保单号SBX1000000000012 ]]> <b>不是标签</b>"
    msg_id = simulator.say(openid, text)
    call = calls_from(webhook, openid, 2)[1]
    # Safe mode: only ToUserName and the ciphertext travel in the clear.
    assert set(xmltodict.parse(call.body)["xml"]) == {"ToUserName", "Encrypt"}
    # The policy number never travels in the clear (a bare "SBX" can occur in base64 by chance).
    assert "SBX1000000000012" not in call.body and "不是标签" not in call.body
    message = open_call(call)
    assert message.type == "text" and message.content == text
    assert message.id == msg_id and message.source == openid
    assert abs(message.time - time.time()) < 3 * 86400  # CreateTime is a real epoch second


def test_passive_encrypted_reply_is_shown(simulator: Simulator, webhook: WebhookReceiver):
    openid = simulator.follow()
    calls_from(webhook, openid, 1)
    webhook.behaviour = lambda call, n: (0.0, encrypted_text_reply(call, "您好，请问要办理什么？"))
    simulator.say(openid, "你好")
    items = simulator.wait_feed(openid, lambda items: any(i["side"] == "account" for i in items))
    assert [(i["side"], i["content"]) for i in items if i["msgtype"] == "text"] == [
        ("user", "你好"), ("account", "您好，请问要办理什么？")]


def test_a_slow_webhook_gets_three_tries_with_the_same_msgid(simulator: Simulator,
                                                             webhook: WebhookReceiver):
    openid = simulator.follow()
    calls_from(webhook, openid, 1)
    webhook.behaviour = lambda call, n: (REPLY_TIMEOUT + 0.5, "success")
    msg_id = simulator.say(openid, "我要退保")
    items = simulator.wait_feed(openid, lambda items: any(
        i["content"] == SERVICE_UNAVAILABLE for i in items), timeout=15)
    tries = calls_from(webhook, openid, 4)[1:]
    assert len(tries) == 3
    opened = [open_call(c) for c in tries]
    assert {m.id for m in opened} == {msg_id} and {m.time for m in opened} == {opened[0].time}
    assert len({c.query["nonce"] for c in tries}) == 3  # each try newly signed
    gaps = [b.received_at - a.received_at for a, b in zip(tries, tries[1:])]
    assert all(g >= REPLY_TIMEOUT * 0.9 for g in gaps), gaps
    assert [i for i in items if i["side"] == "notice"][-1]["content"] == SERVICE_UNAVAILABLE


def test_an_answer_on_the_second_try_is_shown_without_error(simulator: Simulator,
                                                            webhook: WebhookReceiver):
    openid = simulator.follow()
    calls_from(webhook, openid, 1)

    def slow_then_fast(call, before):
        tries_so_far = sum(1 for c in webhook.calls[:before] if c.query.get("openid") == openid)
        if tries_so_far == 1:  # the first try of the text (after the subscribe event)
            return REPLY_TIMEOUT + 0.5, "success"
        return 0.0, encrypted_text_reply(call, "收到")

    webhook.behaviour = slow_then_fast
    simulator.say(openid, "在吗")
    items = simulator.wait_feed(openid, lambda items: any(i["side"] == "account" for i in items),
                                timeout=10)
    assert [i["content"] for i in items if i["side"] == "account"] == ["收到"]
    assert not [i for i in items if i["content"] == SERVICE_UNAVAILABLE]
    assert len(calls_from(webhook, openid, 3)) == 3


def test_a_plaintext_reply_in_safe_mode_is_not_shown(simulator: Simulator,
                                                     webhook: WebhookReceiver):
    openid = simulator.follow()
    calls_from(webhook, openid, 1)
    webhook.behaviour = lambda call, n: (0.0, TextReply(content="明文回复",
                                                        message=open_call(call)).render())
    simulator.say(openid, "你好")
    items = simulator.wait_feed(openid, lambda items: any(
        i["content"] == SERVICE_UNAVAILABLE for i in items))
    assert not [i for i in items if i["side"] == "account"]


def test_menu_click_and_msgmenu_choice_reach_the_webhook(simulator: Simulator,
                                                         webhook: WebhookReceiver):
    openid = simulator.follow()
    calls_from(webhook, openid, 1)
    assert simulator.post("/sim/clicks", {"openid": openid, "key": "SURRENDER"}).status_code == 202
    click = open_call(calls_from(webhook, openid, 2)[1])
    assert click.type == "event" and click.event == "click" and click.key == "SURRENDER"

    simulator.say(openid, "确认", bizmsgmenuid="1")
    call = calls_from(webhook, openid, 3)[2]
    q = call.query
    plain = CRYPTO.decrypt_message(call.body, q["msg_signature"], q["timestamp"], q["nonce"])
    assert parse_message(plain).content == "确认"
    assert xmltodict.parse(plain)["xml"]["bizmsgmenuid"] == "1"


def test_customer_service_session_events_reach_the_webhook(simulator: Simulator,
                                                           webhook: WebhookReceiver):
    token = simulator.token()
    openid = simulator.follow()
    calls_from(webhook, openid, 1)
    session = {"kf_account": "kf2001@gh_tuibao0demo01", "openid": openid}
    simulator.post("/customservice/kfsession/create", session, access_token=token)
    opened = open_call(calls_from(webhook, openid, 2)[1])
    simulator.post("/customservice/kfsession/close", session, access_token=token)
    closed = open_call(calls_from(webhook, openid, 3)[2])
    assert (opened.event, closed.event) == ("kf_create_session", "kf_close_session")
    assert closed.account == "kf2001@gh_tuibao0demo01"
