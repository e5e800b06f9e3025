"""Plays WeChat's server towards our webhook: builds real signed (and AES-encrypted) callback
XML with wechatpy's crypto, posts it over HTTP, and opens the reply as WeChat would."""
from __future__ import annotations

import html
import itertools
import random
import re
import string
import time
from dataclasses import dataclass
from typing import Dict, List, Optional, Tuple
from urllib.parse import unquote

import requests
import xmltodict
from wechatpy.crypto import WeChatCrypto

from connectors.wechat.protocol import sign
from connectors.wechat.settings import DEMO_APP_ID, DEMO_ENCODING_AES_KEY, DEMO_TOKEN

ACCOUNT = "gh_tuibao_demo"
WECHAT_CUT_S = 5.0  # WeChat hangs up on a callback that has not answered by then
WECHAT_TRIES = 3  # and delivers it at most this often
_msg_ids = itertools.count(int(time.time() * 1000) * 1000)


def new_openid() -> str:
    """A fresh user, so tests never share a conversation."""
    return "oTest" + "".join(random.choices(string.ascii_letters + string.digits, k=23))


def _envelope(openid: str, msg_type: str, fields: str, create_time: Optional[int] = None) -> str:
    """A callback as WeChat sends it: the account, the user, the time, the type, then ``fields``."""
    return (f"<xml><ToUserName><![CDATA[{ACCOUNT}]]></ToUserName>"
            f"<FromUserName><![CDATA[{openid}]]></FromUserName>"
            f"<CreateTime>{create_time or int(time.time())}</CreateTime>"
            f"<MsgType><![CDATA[{msg_type}]]></MsgType>{fields}</xml>")


def text_xml(openid: str, content: str, msg_id: Optional[int] = None,
             create_time: Optional[int] = None) -> str:
    return _envelope(openid, "text", f"<Content><![CDATA[{content}]]></Content>"
                     f"<MsgId>{msg_id or next(_msg_ids)}</MsgId>", create_time)


def tap_xml(openid: str, content: str, menu_id: str, msg_id: Optional[int] = None) -> str:
    """A tap on a ``weixin://bizmsgmenu`` link, as WeChat sends it: a text message whose
    Content is the link's msgmenucontent, with the link's msgmenuid as ``<bizmsgmenuid>``."""
    return _envelope(openid, "text", f"<Content><![CDATA[{content}]]></Content>"
                     f"<MsgId>{msg_id or next(_msg_ids)}</MsgId>"
                     f"<bizmsgmenuid>{menu_id}</bizmsgmenuid>")


_MENU_LINK = re.compile(r'<a href="weixin://bizmsgmenu\?msgmenucontent=([^"]*?)&(?:amp;)?'
                        r'msgmenuid=([^"]*)">(.*?)</a>')


@dataclass(frozen=True)
class MenuChoice:
    """One tappable choice of a reply: its label, what a tap sends and its menu id."""

    label: str
    content: str
    menu_id: str


def menu_choices(reply_text: Optional[str]) -> List[MenuChoice]:
    """The ``weixin://bizmsgmenu`` links of a reply, in order."""
    return [MenuChoice(html.unescape(label), unquote(html.unescape(content)),
                       html.unescape(menu_id))
            for content, menu_id, label in _MENU_LINK.findall(reply_text or "")]


def voice_xml(openid: str, recognition: str) -> str:
    return _envelope(openid, "voice", "<MediaId><![CDATA[media1]]></MediaId><Format><![CDATA[amr]]></Format>"
                     f"<Recognition><![CDATA[{recognition}]]></Recognition>"
                     f"<MsgId>{next(_msg_ids)}</MsgId>")


def event_xml(openid: str, event: str, key: str = "", create_time: Optional[int] = None) -> str:
    return _envelope(openid, "event", f"<Event><![CDATA[{event}]]></Event>"
                     f"<EventKey><![CDATA[{key}]]></EventKey>", create_time)


def other_xml(openid: str, msg_type: str) -> str:
    return _envelope(openid, msg_type, "<PicUrl><![CDATA[http://example.invalid/a.jpg]]></PicUrl>"
                     f"<MsgId>{next(_msg_ids)}</MsgId>")


@dataclass
class Delivery:
    """What WeChat would see: status, elapsed seconds and the reply text (decrypted)."""

    status: int
    elapsed: float
    body: str
    reply_text: Optional[str]


@dataclass
class Try:
    """One of WeChat's deliveries of a message: ``delivery`` is None when WeChat hung up."""

    started: float  # seconds after the first try began
    delivery: Optional[Delivery]


@dataclass
class WeChatCaller:
    """Signs like WeChat (``token``) and encrypts in safe mode (``aes_key``, or plaintext)."""

    webhook_url: str
    token: str = DEMO_TOKEN
    app_id: str = DEMO_APP_ID
    aes_key: Optional[str] = DEMO_ENCODING_AES_KEY
    timeout: float = 15.0

    def signed_request(self, xml: str, timestamp: Optional[int] = None,
                       nonce: Optional[str] = None) -> Tuple[Dict[str, str], bytes]:
        """(query, body) for ``xml`` exactly as WeChat would send it."""
        timestamp = str(timestamp if timestamp is not None else int(time.time()))
        nonce = nonce or str(random.randint(10**8, 10**9))
        query = {"signature": sign(self.token, timestamp, nonce), "timestamp": timestamp,
                 "nonce": nonce, "openid": "x"}
        if not self.aes_key:
            return query, xml.encode("utf-8")
        crypto = WeChatCrypto(self.token, self.aes_key, self.app_id)
        envelope = xmltodict.parse(crypto.encrypt_message(xml, nonce, timestamp))["xml"]
        encrypted = envelope["Encrypt"]
        query.update(encrypt_type="aes",
                     msg_signature=sign(self.token, timestamp, nonce, encrypted))
        body = (f"<xml><ToUserName><![CDATA[{ACCOUNT}]]></ToUserName>"
                f"<Encrypt><![CDATA[{encrypted}]]></Encrypt></xml>")
        return query, body.encode("utf-8")

    def post(self, query: Dict[str, str], body: bytes) -> Delivery:
        started = time.monotonic()
        answer = requests.post(self.webhook_url, params=query, data=body, timeout=self.timeout,
                               headers={"Content-Type": "text/xml"})
        elapsed = time.monotonic() - started
        return Delivery(answer.status_code, elapsed, answer.text,
                        self.open_reply(answer.text, query) if answer.ok else None)

    def send(self, xml: str, **sign_kwargs) -> Delivery:
        return self.post(*self.signed_request(xml, **sign_kwargs))

    def say(self, openid: str, content: str) -> Delivery:
        return self.send(text_xml(openid, content))

    def tap(self, openid: str, reply_text: Optional[str], label: str) -> Delivery:
        """Tap the choice labelled ``label`` in ``reply_text``, exactly as WeChat sends it."""
        found = [c for c in menu_choices(reply_text) if c.label == label]
        assert found, f"no choice {label!r} in {reply_text!r}"
        return self.send(tap_xml(openid, found[-1].content, found[-1].menu_id))

    def deliver_like_wechat(self, xml: str, cut_s: float = WECHAT_CUT_S,
                            tries: int = WECHAT_TRIES) -> List[Try]:
        """Deliver ``xml`` as WeChat does: a try without an answer after ``cut_s`` is dropped
        (the connection closed) and the same message (same MsgId and CreateTime) is sent again
        at once under a new nonce and signature, ``tries`` times in all. Any HTTP answer ends
        it, as WeChat takes whatever came back in time as the reply."""
        first = time.monotonic()
        made: List[Try] = []
        for _ in range(tries):
            query, body = self.signed_request(xml)
            started = time.monotonic() - first
            try:
                answer = requests.post(self.webhook_url, params=query, data=body,
                                       timeout=cut_s, headers={"Content-Type": "text/xml"})
            except requests.Timeout:
                made.append(Try(started, None))
                continue
            elapsed = time.monotonic() - first - started
            made.append(Try(started, Delivery(
                answer.status_code, elapsed, answer.text,
                self.open_reply(answer.text, query) if answer.ok else None)))
            break
        return made

    def open_reply(self, body: str, query: Dict[str, str]) -> Optional[str]:
        """The reply's text content, checking the reply's signature in safe mode."""
        if not body or body == "success" or not body.lstrip().startswith("<xml"):
            return None
        reply = xmltodict.parse(body)["xml"]
        if "Encrypt" in reply:
            crypto = WeChatCrypto(self.token, self.aes_key, self.app_id)
            reply = xmltodict.parse(crypto.decrypt_message(
                body, reply["MsgSignature"], reply["TimeStamp"], reply["Nonce"]))["xml"]
        assert reply["MsgType"] == "text"
        return reply["Content"]
