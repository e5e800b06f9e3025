"""Delivering what an agent (or the bot, on the console's behalf) says to the user, through the
user's own channel. One small interface per channel, chosen by the conversation id's prefix:
no prefix = WeChat (customer-service messages), ``rest:`` = the development REST channel (no
way to push: the agent is told), ``telegram:`` = the Bot API through the Telegram connector.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any, Dict, List, Optional, Protocol

from console import wording
from ground.conversation_ids import channel_of

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DeliveryResult:
    """Whether the user got the message; when not, a sentence for the agent and a code."""

    delivered: bool
    problem: Optional[str] = None
    code: Optional[str] = None


class ReplyDelivery(Protocol):
    """Sends one turn (Rasa's messages, ``{"text", "buttons"?}``) to a conversation's user."""

    async def send(self, conversation_id: str, messages: List[Dict[str, Any]]) -> DeliveryResult:
        ...


class WeChatDelivery:
    """WeChat customer-service messages (``message/custom/send``), signed with the kf account
    when one is configured. The 48-hour window (45015) and the per-user quota (45047) are
    WeChat's: a refused reply is reported to the agent, never retried behind their back."""

    def __init__(self, api, kf_account: Optional[str] = None) -> None:
        self.api = api
        self.kf_account = kf_account

    async def send(self, conversation_id: str, messages: List[Dict[str, Any]]) -> DeliveryResult:
        from connectors.wechat.client import PushOutcome

        # One push per turn, as the channel's passive replies: the quota counts messages. Its
        # choices show and send words, their payloads kept for the channel (shared store).
        text = await self.api.render(conversation_id, messages)
        outcome, errcode = await self.api.send_customer_service_text(
            conversation_id, text, kf_account=self.kf_account, trust_known_closure=False)
        if outcome is PushOutcome.SENT:
            return DeliveryResult(True)
        if errcode == 45015:
            return DeliveryResult(False, wording.WECHAT_WINDOW_CLOSED, "45015")
        if errcode == 45047:
            return DeliveryResult(False, wording.WECHAT_QUOTA_USED, "45047")
        if errcode == 43004:
            return DeliveryResult(False, wording.WECHAT_UNSUBSCRIBED, "43004")
        if outcome is PushOutcome.RATE_LIMITED:
            return DeliveryResult(False, wording.WECHAT_RATE_LIMITED, "rate_limited")
        return DeliveryResult(False, wording.DELIVERY_FAILED, "failed")


class NoPushDelivery:
    """A channel that cannot push (Rasa's REST channel answers only in the HTTP response)."""

    def __init__(self, channel: str) -> None:
        self.channel = channel

    async def send(self, conversation_id: str, messages: List[Dict[str, Any]]) -> DeliveryResult:
        return DeliveryResult(False, wording.CHANNEL_CANNOT_PUSH.format(channel=self.channel),
                              "no_push")


class DeliveryRouter:
    """The delivery of each channel; a channel without one is reported, not guessed."""

    def __init__(self, deliveries: Dict[str, ReplyDelivery]) -> None:
        self.deliveries = dict(deliveries)

    def register(self, channel: str, delivery: ReplyDelivery) -> None:
        self.deliveries[channel] = delivery

    async def send(self, conversation_id: str, messages: List[Dict[str, Any]]) -> DeliveryResult:
        channel = channel_of(conversation_id)
        delivery = self.deliveries.get(channel)
        if delivery is None:
            return DeliveryResult(False, wording.CHANNEL_CANNOT_PUSH.format(channel=channel),
                                  "no_channel")
        try:
            return await delivery.send(conversation_id.split(":", 1)[-1] if channel != "wechat"
                                       else conversation_id, messages)
        except Exception:  # the agent must hear that the user did not get it
            log.exception("delivery over %s failed", channel)
            return DeliveryResult(False, wording.DELIVERY_FAILED, "failed")


class TelegramDelivery:
    """Telegram's Bot API (``sendMessage``) through the connector's own delivery function, with
    its rate limits and 429 handling; a user who blocked the bot is reported to the agent."""

    async def send(self, conversation_id: str, messages: List[Dict[str, Any]]) -> DeliveryResult:
        from connectors.telegram.client import SendOutcome
        from connectors.telegram.delivery import deliver_text

        text = "\n\n".join(m["text"] for m in messages if m.get("text"))
        # The router hands over the chat id; the connector wants the conversation id.
        outcome = await deliver_text(f"telegram:{conversation_id}", text)
        if outcome is SendOutcome.SENT:
            return DeliveryResult(True)
        if outcome is SendOutcome.BLOCKED:
            return DeliveryResult(False, wording.TELEGRAM_BLOCKED, "blocked")
        if outcome is SendOutcome.RATE_LIMITED:
            return DeliveryResult(False, wording.TELEGRAM_RATE_LIMITED, "rate_limited")
        return DeliveryResult(False, wording.DELIVERY_FAILED, "failed")


def wechat_delivery_from_env(kf_account: Optional[str]) -> WeChatDelivery:
    """The WeChat delivery with the channel's own settings (``WECHAT_*``), Redis shared with the
    Rasa processes when configured."""
    from connectors.wechat.client import WeChatApi
    from connectors.wechat.dedupe import RedisDedupeStore
    from connectors.wechat.settings import WeChatSettings

    settings = WeChatSettings.from_sources({})
    store = (RedisDedupeStore(settings.dedupe_redis_url, prefix=settings.redis_prefix)
             if settings.dedupe_redis_url else None)
    return WeChatDelivery(WeChatApi(settings, store=store), kf_account)
