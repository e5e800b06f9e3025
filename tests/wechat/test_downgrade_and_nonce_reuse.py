"""Issue 7, holes 1 and 2, against the running stack: a plaintext POST to the safe-mode account
is refused however it is signed, and one timestamp+nonce carries one message. A refused request
writes nothing: no tracker event (HTTP API), no delivery key in the shared store (Redis)."""
from __future__ import annotations

import time

import pytest
import redis
import requests

from connectors.wechat.dedupe import delivery_key
from connectors.wechat.protocol import sign
from harness.stack import REDIS_URL
from tests.wechat.test_protocol import assert_untouched, started_conversation
from harness.wechat_caller import _msg_ids, new_openid, text_xml


def delivery_written(stack, openid: str, msg_id: int) -> bool:
    """Whether the channel's store holds anything for this message (claim or attempt count)."""
    key = delivery_key(("msg", openid, str(msg_id)))
    prefix = stack.wechat_env["WECHAT_REDIS_PREFIX"]
    client = redis.Redis.from_url(REDIS_URL, socket_timeout=5)
    try:
        return bool(client.exists(f"{prefix}:claim:{key}", f"{prefix}:attempts:{key}"))
    finally:
        client.close()


def url_signature(token: str) -> dict:
    timestamp, nonce = str(int(time.time())), str(next(_msg_ids))
    return {"signature": sign(token, timestamp, nonce), "timestamp": timestamp, "nonce": nonce}


def test_plaintext_to_the_safe_account_is_refused_however_it_is_signed(stack, wechat,
                                                                       attacker_plain):
    openid, before = started_conversation(stack, wechat)
    msg_id = next(_msg_ids)
    confirm = text_xml(openid, "确认", msg_id=msg_id).encode("utf-8")
    query, _ = attacker_plain.signed_request("")
    for extra in ({}, {"encrypt_type": "raw"}, {"msg_signature": "f" * 40}):
        answer = attacker_plain.post({**query, **extra}, confirm)
        assert answer.status == 403, extra
        assert answer.reply_text is None and "确认" not in answer.body
    assert_untouched(stack, openid, before)
    assert not delivery_written(stack, openid, msg_id)
    # The check can fail: the genuine (encrypted) message is kept.
    genuine = next(_msg_ids)
    assert wechat.send(text_xml(openid, "谢谢", msg_id=genuine)).reply_text
    assert delivery_written(stack, openid, genuine)


def test_the_verification_url_signs_no_post(stack, wechat, wechat_plain):
    """The GET that verifies the server URL shows a valid signature, timestamp and nonce to
    whoever sees the URL (a proxy log): neither account takes a POST under it."""
    openid, before = started_conversation(stack, wechat_plain)
    query = {**url_signature(wechat.token), "echostr": "5837397749581"}
    for url in (stack.webhook_url, stack.plain_webhook_url):
        assert requests.get(url, params=query, timeout=10).text == "5837397749581"
    msg_id = next(_msg_ids)
    body = text_xml(openid, "我要退保", msg_id=msg_id).encode("utf-8")
    post_query = {k: v for k, v in query.items() if k != "echostr"}
    assert wechat_plain.post(post_query, body).status == 403  # plaintext account: nonce taken
    assert wechat_plain.post({**post_query, "openid": openid}, body).status == 403
    assert requests.post(stack.webhook_url, params=post_query, data=body,
                         timeout=10).status_code == 403  # safe account: plaintext refused
    assert_untouched(stack, openid, before)
    assert not delivery_written(stack, openid, msg_id)


def test_one_nonce_carries_one_message_even_with_a_made_up_msg_signature(stack, wechat_plain):
    """Plaintext mode: the URL signature does not cover the body, and ``msg_signature`` is not
    checked when nothing is encrypted, so it must not make a captured nonce new again."""
    openid, _ = started_conversation(stack, wechat_plain)
    query, body = wechat_plain.signed_request(text_xml(openid, "谢谢"))
    assert wechat_plain.post(query, body).status == 200
    before = len(stack.tracker(openid)["events"])
    msg_id = next(_msg_ids)
    forged = text_xml(openid, "我要退保", msg_id=msg_id).encode("utf-8")
    for made_up in ("f" * 40, "0" * 40):
        assert wechat_plain.post({**query, "msg_signature": made_up}, forged).status == 403
    assert_untouched(stack, openid, before)
    assert not delivery_written(stack, openid, msg_id)


def test_one_nonce_carries_one_message_in_safe_mode_too(stack, wechat):
    """Each encrypted body has its own msg_signature; the nonce still carries one message."""
    openid, _ = started_conversation(stack, wechat)
    timestamp, nonce = int(time.time()), str(next(_msg_ids))
    first = wechat.send(text_xml(openid, "谢谢"), timestamp=timestamp, nonce=nonce)
    assert first.status == 200 and first.reply_text
    before = len(stack.tracker(openid)["events"])
    msg_id = next(_msg_ids)
    second = wechat.send(text_xml(openid, "我要退保", msg_id=msg_id), timestamp=timestamp,
                         nonce=nonce)
    assert second.status == 403 and second.reply_text is None
    assert_untouched(stack, openid, before)
    assert not delivery_written(stack, openid, msg_id)


def test_the_same_message_resent_under_its_nonce_gets_its_reply_once(stack, wechat):
    """WeChat resending one message (same MsgId) under the same timestamp+nonce, freshly
    encrypted: every delivery gets the in-time reply, and the turn runs once."""
    openid, _ = started_conversation(stack, wechat)
    xml = text_xml(openid, "我要退保")
    timestamp, nonce = int(time.time()), str(next(_msg_ids))
    first = wechat.send(xml, timestamp=timestamp, nonce=nonce)
    turns = len(stack.user_turns(openid))
    again = wechat.send(xml, timestamp=timestamp, nonce=nonce)  # another ciphertext
    assert first.status == again.status == 200
    assert first.reply_text and again.reply_text == first.reply_text
    time.sleep(1.0)
    assert len(stack.user_turns(openid)) == turns


@pytest.mark.parametrize("openid", ["rest:live-user-1", "telegram:42", "o" * 65, "oAbc def",
                                    "oAbc.x", "oAbc\u200bdef"])
def test_only_openids_of_wechats_shape_reach_a_conversation(stack, wechat, openid):
    """An id of another channel's shape (or no id WeChat would issue) is refused: the WeChat
    channel can never name a REST or Telegram conversation."""
    answer = wechat.say(openid, "你好")
    assert answer.status == 400 and answer.reply_text is None
    time.sleep(0.3)
    assert stack.user_turns(openid) == []
