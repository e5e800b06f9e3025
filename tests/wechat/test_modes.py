"""The account's one encryption mode, request by request (no server needed: the protocol
object the channel uses, fed exactly what WeChat would post). Over HTTP the same refusals are
shown in test_downgrade_and_nonce_reuse.py."""
from __future__ import annotations

import asyncio

import pytest
import xmltodict

from connectors.wechat.dedupe import MemoryDedupeStore
from connectors.wechat.protocol import (CallbackQuery, MalformedMessage, ReplayedRequest,
                                        WeChatProtocol, WrongMode)
from connectors.wechat.settings import WeChatSettings
from harness.wechat_caller import WeChatCaller, new_openid, text_xml


def request(kind: str, xml: str):
    """(query, body) as WeChat posts ``xml`` in plaintext, safe or compatible mode."""
    if kind == "plaintext":
        query, body = WeChatCaller("", aes_key=None).signed_request(xml)
    else:
        query, body = WeChatCaller("").signed_request(xml)
        if kind == "compatible":  # the plaintext fields beside the ciphertext
            encrypted = xmltodict.parse(body)["xml"]["Encrypt"]
            body = (xml[:-len("</xml>")] + f"<Encrypt><![CDATA[{encrypted}]]></Encrypt></xml>"
                    ).encode("utf-8")
    return CallbackQuery.from_args(query), body


def protocol(mode: str) -> WeChatProtocol:
    return WeChatProtocol(WeChatSettings.from_sources({"encrypt_mode": mode}, environ={}))


@pytest.mark.parametrize("mode, kind, accepted", [
    ("safe", "safe", True), ("safe", "compatible", True), ("safe", "plaintext", False),
    ("compatible", "compatible", True), ("compatible", "safe", True),
    ("compatible", "plaintext", False),
    ("plaintext", "plaintext", True), ("plaintext", "safe", False),
    ("plaintext", "compatible", False),
])
def test_each_mode_takes_only_what_wechat_sends_in_it(mode, kind, accepted):
    xml = text_xml(new_openid(), "我要退保")
    query, body = request(kind, xml)
    if accepted:
        assert protocol(mode).open(query, body).message.content == "我要退保"
    else:
        with pytest.raises(WrongMode):
            protocol(mode).open(query, body)


def test_compatible_mode_reads_the_signed_ciphertext_not_the_plaintext_copy():
    openid = new_openid()
    query, body = request("compatible", text_xml(openid, "你好"))
    tampered = body.replace("你好".encode(), "确认".encode(), 1)  # only the unsigned copy
    assert protocol("compatible").open(query, tampered).message.content == "你好"


def test_unknown_mode_or_safe_mode_without_a_key_is_a_configuration_error():
    with pytest.raises(ValueError):
        WeChatSettings.from_sources({"encrypt_mode": "aes"}, environ={})
    with pytest.raises(ValueError):
        WeChatSettings(encrypt_mode="safe", encoding_aes_key=None)
    assert WeChatSettings.from_sources({}, environ={"WECHAT_ENCRYPT_MODE": "Plaintext"}
                                       ).encrypt_mode == "plaintext"


@pytest.mark.parametrize("openid", ["oAbc\nx", "oAbc def", "rest:me", "o" * 65, "oAbc.x"])
def test_openids_not_of_wechats_shape_are_malformed(openid):
    query, body = request("safe", text_xml(openid, "你好"))
    with pytest.raises(MalformedMessage):
        protocol("safe").open(query, body)


def test_one_timestamp_and_nonce_carry_one_message():
    store, safe = MemoryDedupeStore(), protocol("safe")
    openid = new_openid()
    caller = WeChatCaller("")
    first = safe.open(*_parsed(caller.signed_request(text_xml(openid, "谢谢", msg_id=1),
                                                     timestamp=1, nonce="77")))
    resent = safe.open(*_parsed(caller.signed_request(text_xml(openid, "谢谢", msg_id=1),
                                                      timestamp=1, nonce="77")))
    other = safe.open(*_parsed(caller.signed_request(text_xml(openid, "确认", msg_id=2),
                                                     timestamp=1, nonce="77")))

    async def scenario():
        await safe.check_replay(store, first)
        await safe.check_replay(store, resent)  # the same message, freshly encrypted
        with pytest.raises(ReplayedRequest):
            await safe.check_replay(store, other)

    asyncio.run(scenario())


def _parsed(signed):
    query, body = signed
    return CallbackQuery.from_args(query), body


def test_a_nonce_taken_on_one_replica_is_taken_on_every_replica(redis_prefix):
    """Two Rasa replicas share the nonces through Redis: the second message under one
    timestamp+nonce is refused by the other replica too (real Redis)."""
    from connectors.wechat.dedupe import RedisDedupeStore
    from harness.stack import REDIS_URL

    safe, caller, openid = protocol("safe"), WeChatCaller(""), new_openid()
    first = safe.open(*_parsed(caller.signed_request(text_xml(openid, "谢谢", msg_id=1),
                                                     timestamp=5, nonce="88")))
    other = safe.open(*_parsed(caller.signed_request(text_xml(openid, "确认", msg_id=2),
                                                     timestamp=5, nonce="88")))

    async def scenario():
        one, two = (RedisDedupeStore(REDIS_URL, prefix=redis_prefix) for _ in range(2))
        try:
            await safe.check_replay(one, first)
            await safe.check_replay(two, first)  # the same message: WeChat resending it
            with pytest.raises(ReplayedRequest):
                await safe.check_replay(two, other)
        finally:
            await one.close()
            await two.close()

    asyncio.run(scenario())
