"""WeChat's callback protocol: who may call us, and how an inbound request becomes a message.

Signature check (constant-time), timestamp freshness and replay refusal, plaintext and safe
(AES) mode with the previous EncodingAESKey kept for rotation, size-capped XML parsing with
entities refused, and rendering/encryption of the passive reply. Pure and synchronous except
``check_replay``, which needs the shared dedupe store.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import re
import time
from dataclasses import dataclass, field
from typing import Any, Dict, List, Mapping, Optional, Tuple

import xmltodict
from wechatpy import parse_message
from wechatpy.crypto import PrpCrypto
from wechatpy.replies import TextReply
from wechatpy.utils import random_string
from xml.parsers.expat import ExpatError

from connectors.wechat.settings import WeChatSettings

logger = logging.getLogger(__name__)

MAX_BODY_BYTES = 64 * 1024
# Shared design decision: WeChat conversations are raw openids, and only these; so a WeChat
# sender can never name another channel's conversation ("telegram:…", "rest:…").
OPENID = re.compile(r"[A-Za-z0-9_-]{1,64}")


class ProtocolError(Exception):
    """An inbound request we refuse; ``status`` is the HTTP answer, ``reason`` a short code
    that never carries the request's content (it may hold personal data)."""

    status = 400
    reason = "bad_request"

    def __init__(self, reason: Optional[str] = None) -> None:
        super().__init__(reason or self.reason)
        if reason:
            self.reason = reason


class BadSignature(ProtocolError):
    status = 403
    reason = "bad_signature"


class StaleRequest(ProtocolError):
    status = 403
    reason = "stale_timestamp"


class ReplayedRequest(ProtocolError):
    status = 403
    reason = "replayed"


class BodyTooLarge(ProtocolError):
    status = 413
    reason = "body_too_large"


class MalformedMessage(ProtocolError):
    status = 400
    reason = "malformed_xml"


@dataclass(frozen=True)
class CallbackQuery:
    """The query string WeChat adds to every callback."""

    signature: str
    timestamp: str
    nonce: str
    encrypt_type: str = "raw"
    msg_signature: str = ""
    echostr: str = ""

    @classmethod
    def from_args(cls, args: Mapping[str, Any]) -> "CallbackQuery":
        def one(name: str) -> str:
            value = args.get(name, "")
            if isinstance(value, (list, tuple)):  # sanic's request.args holds lists
                value = value[0] if value else ""
            return str(value or "")

        return cls(
            signature=one("signature"),
            timestamp=one("timestamp"),
            nonce=one("nonce"),
            encrypt_type=(one("encrypt_type") or "raw").lower(),
            msg_signature=one("msg_signature"),
            echostr=one("echostr"),
        )

    @property
    def encrypted(self) -> bool:
        return self.encrypt_type == "aes"


@dataclass(frozen=True)
class InboundMessage:
    """One message or event from a user, validated; ``openid`` is the conversation id."""

    openid: str
    account: str  # ToUserName: the official account's original id
    msg_type: str  # text, voice, image, ..., or event
    create_time: int
    msg_id: Optional[int] = None  # messages only
    content: str = ""  # text content, or voice recognition
    event: str = ""  # lower-cased: subscribe, click, view, ...
    event_key: str = ""
    raw_fields: Dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @property
    def is_event(self) -> bool:
        return self.msg_type == "event"

    @property
    def dedupe_key(self) -> Tuple[str, ...]:
        """Messages by (openid, MsgId) — MsgIds have collided across users; events by
        (openid, CreateTime, Event, EventKey), as WeChat advises."""
        if self.is_event or self.msg_id is None:
            return ("event", self.openid, str(self.create_time), self.event, self.event_key)
        return ("msg", self.openid, str(self.msg_id))


@dataclass(frozen=True)
class OpenedRequest:
    """A verified, decrypted and parsed POST; ``aes_key`` encrypts the reply (None: plaintext)."""

    message: InboundMessage
    aes_key: Optional[str]
    query: CallbackQuery


def sign(*parts: str) -> str:
    """WeChat's signature: SHA-1 of the sorted, concatenated parts."""
    return hashlib.sha1("".join(sorted(str(p) for p in parts)).encode("utf-8")).hexdigest()


def _same(expected: str, given: str) -> bool:
    return hmac.compare_digest(expected.encode("ascii"), given.encode("ascii", "replace"))


def _aes_key_bytes(encoding_aes_key: str) -> bytes:
    key = base64.b64decode(encoding_aes_key + "=")
    if len(key) != 32:
        raise ValueError("EncodingAESKey must be 43 characters of base64 (32 bytes)")
    return key


def safe_xml_dict(text: str) -> Dict[str, Any]:
    """Parse WeChat's flat ``<xml>…</xml>``; DTDs and entities are refused (XXE, billion
    laughs), and anything that is not such a document is ``MalformedMessage``."""
    if len(text.encode("utf-8")) > MAX_BODY_BYTES:
        raise BodyTooLarge()
    if "<!DOCTYPE" in text.upper() or "<!ENTITY" in text.upper():
        raise MalformedMessage("dtd_refused")
    try:
        parsed = xmltodict.parse(text, disable_entities=True)
    except (ExpatError, ValueError, TypeError):
        raise MalformedMessage() from None
    root = parsed.get("xml") if isinstance(parsed, dict) else None
    if not isinstance(root, dict):
        raise MalformedMessage("no_xml_root")
    return root


class WeChatProtocol:
    """Verifies and opens callbacks for one official account."""

    def __init__(self, settings: WeChatSettings, clock=time.time) -> None:
        self.settings = settings
        self._clock = clock
        self._keys = [(k, _aes_key_bytes(k)) for k in settings.aes_keys]

    # ------------------------------------------------------------------ who is calling
    def verify_query(self, query: CallbackQuery) -> None:
        """Raise unless the URL signature is WeChat's and the timestamp is fresh."""
        if not (query.signature and query.timestamp and query.nonce):
            raise BadSignature("missing_signature")
        expected = sign(self.settings.token, query.timestamp, query.nonce)
        if not _same(expected, query.signature):
            raise BadSignature()
        try:
            sent_at = int(query.timestamp)
        except ValueError:
            raise StaleRequest("bad_timestamp") from None
        if abs(self._clock() - sent_at) > self.settings.max_timestamp_skew_s:
            raise StaleRequest()

    @staticmethod
    def replay_fingerprint(query: CallbackQuery, body: bytes) -> Tuple[str, str]:
        """(key, body digest): one signature+nonce may carry only one body. WeChat's own
        retries resend the same request, which the dedupe store then answers; a captured
        signature reused for another body (plaintext mode does not sign the body) is refused."""
        key = f"{query.signature}:{query.nonce}:{query.msg_signature}"
        return key, hashlib.sha256(body).hexdigest()

    async def check_replay(self, store, query: CallbackQuery, body: bytes) -> None:
        """Refuse a signature+nonce seen with a different body within the freshness window."""
        key, digest = self.replay_fingerprint(query, body)
        first_digest = await store.remember_nonce(
            key, digest, ttl_s=2 * self.settings.max_timestamp_skew_s
        )
        if first_digest != digest:
            raise ReplayedRequest()

    # ------------------------------------------------------------------ what was sent
    def open(self, query: CallbackQuery, body: bytes) -> OpenedRequest:
        """Decrypt (safe mode) and parse a verified POST body into an ``InboundMessage``."""
        if len(body) > MAX_BODY_BYTES:
            raise BodyTooLarge()
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError:
            raise MalformedMessage("not_utf8") from None
        envelope = safe_xml_dict(text)
        aes_key = None
        if query.encrypted or "Encrypt" in envelope:
            text, aes_key = self._decrypt(query, envelope)
            envelope = safe_xml_dict(text)
        return OpenedRequest(message=self._to_message(text, envelope), aes_key=aes_key,
                             query=query)

    def _decrypt(self, query: CallbackQuery, envelope: Dict[str, Any]) -> Tuple[str, str]:
        encrypted = envelope.get("Encrypt")
        if not isinstance(encrypted, str) or not encrypted:
            raise MalformedMessage("no_encrypt")
        if not self._keys:
            raise MalformedMessage("aes_not_configured")
        expected = sign(self.settings.token, query.timestamp, query.nonce, encrypted)
        if not _same(expected, query.msg_signature):
            raise BadSignature("bad_msg_signature")
        for name, key in self._keys:  # current key first, then the previous one (rotation)
            try:
                return PrpCrypto(key).decrypt(encrypted, self.settings.app_id), name
            except Exception:  # wrong key: bad padding, wrong app id, garbage lengths
                continue
        raise MalformedMessage("undecryptable")

    @staticmethod
    def _to_message(text: str, fields_: Dict[str, Any]) -> InboundMessage:
        def text_of(name: str) -> str:
            value = fields_.get(name)
            return value if isinstance(value, str) else ""

        openid, account = text_of("FromUserName"), text_of("ToUserName")
        msg_type = text_of("MsgType").lower()
        if not openid or not msg_type or len(openid) > 128:
            raise MalformedMessage("missing_fields")
        if not OPENID.fullmatch(openid):
            raise MalformedMessage("bad_openid")
        try:
            create_time = int(text_of("CreateTime") or 0)
            msg_id = int(text_of("MsgId")) if text_of("MsgId") else None
        except ValueError:
            raise MalformedMessage("bad_number") from None
        try:
            parsed = parse_message(text)  # wechatpy's view: event names, qrscene_ keys
        except Exception:
            raise MalformedMessage() from None
        content = ""
        if msg_type == "text":
            content = text_of("Content")
        elif msg_type == "voice":
            content = text_of("Recognition")
        event = event_key = ""
        if msg_type == "event":
            event = str(getattr(parsed, "event", "") or text_of("Event")).lower()
            event_key = text_of("EventKey")
        return InboundMessage(openid=openid, account=account, msg_type=msg_type,
                              create_time=create_time, msg_id=msg_id, content=content,
                              event=event, event_key=event_key, raw_fields=dict(fields_))

    # ------------------------------------------------------------------ what we answer
    def render_reply(self, opened: OpenedRequest, content: str) -> str:
        """The passive text reply, encrypted with the key the request came in with."""
        message = opened.message
        reply = TextReply(source=message.account, target=message.openid,
                          content=cdata_safe(content), time=int(self._clock()))
        xml = reply.render()
        if opened.aes_key is None:
            return xml
        return self.encrypt(xml, opened.aes_key, opened.query.nonce or random_string(10))

    def encrypt(self, xml: str, aes_key: str, nonce: str) -> str:
        timestamp = str(int(self._clock()))
        encrypted = PrpCrypto(_aes_key_bytes(aes_key)).encrypt(xml, self.settings.app_id)
        encrypted = encrypted.decode("ascii") if isinstance(encrypted, bytes) else encrypted
        signature = sign(self.settings.token, timestamp, nonce, encrypted)
        return (
            "<xml>\n"
            f"<Encrypt><![CDATA[{encrypted}]]></Encrypt>\n"
            f"<MsgSignature><![CDATA[{signature}]]></MsgSignature>\n"
            f"<TimeStamp>{timestamp}</TimeStamp>\n"
            f"<Nonce><![CDATA[{nonce}]]></Nonce>\n"
            "</xml>"
        )


def cdata_safe(content: str) -> str:
    """wechatpy wraps text in CDATA without escaping ``]]>``: split it across two sections."""
    return content.replace("]]>", "]]]]><![CDATA[>")
