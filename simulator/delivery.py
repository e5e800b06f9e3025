"""Pushing a follower's messages and events to the account's webhook the way WeChat does.

The XML is signed and, in safe mode, AES-encrypted with wechatpy's ``WeChatCrypto``. Each call
is cut after 5 s and tried 3 times in all with the same MsgId and CreateTime (new timestamp,
nonce and signatures per try, as WeChat sends them); when every try fails the user sees
该公众号暂时无法提供服务，请稍后再试.
"""
from __future__ import annotations

import asyncio
import hashlib
import logging
import secrets
import time
from dataclasses import dataclass, field
from typing import Dict, List, Optional

import aiohttp
import xmltodict
from wechatpy.crypto import WeChatCrypto
from wechatpy.exceptions import InvalidAppIdException, InvalidSignatureException

from redaction import mask_openid
from simulator.settings import SimulatorSettings

logger = logging.getLogger(__name__)

SERVICE_UNAVAILABLE = "该公众号暂时无法提供服务，请稍后再试"


@dataclass(frozen=True)
class InboundMessage:
    """What a follower did, as WeChat forwards it: a text or an event."""

    openid: str
    create_time: int
    msg_type: str  # "text" or "event"
    content: str = ""
    msg_id: Optional[int] = None
    event: str = ""  # subscribe, unsubscribe, CLICK, VIEW, kf_create_session…
    event_key: str = ""
    bizmsgmenuid: Optional[str] = None
    kf_account: str = ""


@dataclass
class PassiveReply:
    msg_type: str
    content: str = ""


@dataclass
class DeliveryOutcome:
    """How the webhook answered: the passive reply if any, or that WeChat gave up."""

    attempts: int = 0
    answered: bool = False
    reply: Optional[PassiveReply] = None
    problems: List[str] = field(default_factory=list)


def _cdata(value: str) -> str:
    # "]]>" cannot sit inside one CDATA section: split it across two.
    return "<![CDATA[" + value.replace("]]>", "]]]]><![CDATA[>") + "]]>"


def render_inbound_xml(account_id: str, message: InboundMessage) -> str:
    """The plaintext XML WeChat would build for this message."""
    parts = [f"<ToUserName>{_cdata(account_id)}</ToUserName>",
             f"<FromUserName>{_cdata(message.openid)}</FromUserName>",
             f"<CreateTime>{message.create_time}</CreateTime>",
             f"<MsgType>{_cdata(message.msg_type)}</MsgType>"]
    if message.msg_type == "text":
        parts.append(f"<Content>{_cdata(message.content)}</Content>")
        parts.append(f"<MsgId>{message.msg_id}</MsgId>")
        if message.bizmsgmenuid:
            parts.append(f"<bizmsgmenuid>{message.bizmsgmenuid}</bizmsgmenuid>")
    else:
        parts.append(f"<Event>{_cdata(message.event)}</Event>")
        if message.event in ("CLICK", "VIEW") or message.event_key:
            parts.append(f"<EventKey>{_cdata(message.event_key)}</EventKey>")
        if message.kf_account:
            parts.append(f"<KfAccount>{_cdata(message.kf_account)}</KfAccount>")
    return "<xml>" + "".join(parts) + "</xml>"


def _sha1_signature(*values: str) -> str:
    return hashlib.sha1("".join(sorted(values)).encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class SignedRequest:
    params: Dict[str, str]
    body: str


class WebhookSigner:
    """Signs and encrypts inbound XML and decrypts the account's replies."""

    def __init__(self, settings: SimulatorSettings):
        self.settings = settings
        self.crypto = WeChatCrypto(settings.token, settings.encoding_aes_key, settings.app_id)

    def sign(self, message: InboundMessage, timestamp: str, nonce: str) -> SignedRequest:
        plain = render_inbound_xml(self.settings.account_id, message)
        params = {"signature": _sha1_signature(self.settings.token, timestamp, nonce),
                  "timestamp": timestamp, "nonce": nonce, "openid": message.openid}
        if self.settings.encrypt_mode == "plain":
            return SignedRequest(params, plain)
        envelope = xmltodict.parse(self.crypto.encrypt_message(plain, nonce, timestamp))["xml"]
        encrypt = envelope["Encrypt"]
        params.update(encrypt_type="aes", msg_signature=envelope["MsgSignature"])
        if self.settings.encrypt_mode == "safe":
            body = (f"<xml><ToUserName>{_cdata(self.settings.account_id)}</ToUserName>"
                    f"<Encrypt>{_cdata(encrypt)}</Encrypt></xml>")
        else:  # compatible mode: the plaintext fields and the ciphertext side by side
            body = plain[:-len("</xml>")] + f"<Encrypt>{_cdata(encrypt)}</Encrypt></xml>"
        return SignedRequest(params, body)

    def read_reply(self, body: str) -> PassiveReply:
        """Parse (and in safe mode decrypt and verify) a passive reply; ValueError if bad."""
        try:
            doc = xmltodict.parse(body)["xml"]
        except Exception as exc:  # xmltodict raises expat errors of several kinds
            raise ValueError("回复不是合法的 XML") from exc
        if "Encrypt" in doc:
            try:
                plain = self.crypto.decrypt_message(body, doc.get("MsgSignature", ""),
                                                    doc.get("TimeStamp", ""),
                                                    doc.get("Nonce", ""))
            except (InvalidSignatureException, InvalidAppIdException) as exc:
                raise ValueError("回复的签名或 AppID 校验失败") from exc
            except Exception as exc:  # bad padding, bad base64: an unreadable ciphertext
                raise ValueError("回复无法解密") from exc
            doc = xmltodict.parse(plain)["xml"]
        elif self.settings.encrypt_mode == "safe":
            raise ValueError("安全模式下回复必须加密")
        return PassiveReply(msg_type=str(doc.get("MsgType") or ""),
                            content=str(doc.get("Content") or ""))


class WebhookDelivery:
    """Posts inbound messages to the webhook with WeChat's deadline and retries."""

    def __init__(self, settings: SimulatorSettings, session: aiohttp.ClientSession):
        self.settings = settings
        self.signer = WebhookSigner(settings)
        self.session = session

    async def deliver(self, message: InboundMessage) -> DeliveryOutcome:
        outcome = DeliveryOutcome()
        for attempt in range(1, self.settings.delivery_attempts + 1):
            outcome.attempts = attempt
            timestamp, nonce = str(int(time.time())), str(secrets.randbelow(10**10))
            signed = self.signer.sign(message, timestamp, nonce)
            try:
                async with self.session.post(
                        self.settings.webhook_url, params=signed.params,
                        data=signed.body.encode("utf-8"),
                        headers={"Content-Type": "text/xml; charset=utf-8"},
                        timeout=aiohttp.ClientTimeout(
                            total=self.settings.reply_timeout_seconds)) as response:
                    body = await response.text()
                    status = response.status
            except asyncio.TimeoutError:
                outcome.problems.append(f"第{attempt}次：{self.settings.reply_timeout_seconds:g} 秒内无响应")
                continue
            except aiohttp.ClientError as exc:
                outcome.problems.append(f"第{attempt}次：连接失败（{type(exc).__name__}）")
                continue
            if status != 200:
                outcome.problems.append(f"第{attempt}次：HTTP {status}")
                continue
            outcome.answered = True
            stripped = body.strip()
            if stripped and stripped != "success":
                try:
                    outcome.reply = self.signer.read_reply(stripped)
                except ValueError as exc:
                    # An answer WeChat cannot read is not retried: the user sees the error.
                    outcome.answered = False
                    outcome.problems.append(f"第{attempt}次：{exc}")
            break
        logger.info("delivered %s to %s: attempts=%d answered=%s reply=%s problems=%s",
                    message.event or message.msg_type, mask_openid(message.openid),
                    outcome.attempts,
                    outcome.answered, outcome.reply.msg_type if outcome.reply else None,
                    outcome.problems)
        return outcome
