"""The REST channel as Tuibao runs it (credentials.yml key ``connectors.rest.RestInput``).

Rasa's stock ``rest`` channel uses the posted ``sender`` as the conversation id, so a sender
that equals a WeChat openid continues that WeChat user's verified conversation (and could
confirm their surrender). Channels own their users: here every conversation id is
``rest:<sender>``, which no WeChat openid (``^[A-Za-z0-9_-]{1,64}$``) or Telegram id can be.
The caller cannot pick the input channel or the metadata either, and a message longer than
``connectors.limits.MAX_TEXT_CHARS`` is answered without reaching NLU.

This is a development channel: production configuration (deploy/credentials.prod.yml) leaves
it out. Mounted at ``/webhooks/rest/webhook`` like Rasa's, with the same request and answer.
"""
from __future__ import annotations

import logging
import re
from typing import Any, Awaitable, Callable, Dict, Optional, Text

from rasa.core.channels.channel import CollectingOutputChannel, UserMessage
from rasa.core.channels.rest import RestInput as RasaRestInput
from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse

from connectors.limits import MAX_TEXT_CHARS, HeavyTurnGate, too_long_answer
from observability.metrics import turn as observe_turn

logger = logging.getLogger(__name__)

CONVERSATION_PREFIX = "rest:"
# The part after "rest:": printable, no whitespace, bounded (it is a key in every store).
SENDER = re.compile(r"[^\s\x00-\x1f]{1,128}")  # whole sender: fullmatch


def conversation_id(sender: str) -> str:
    """The conversation a REST ``sender`` owns."""
    return CONVERSATION_PREFIX + sender


class RestInput(RasaRestInput):
    """Rasa's REST channel with conversations of its own (``rest:<sender>``)."""

    @classmethod
    def name(cls) -> Text:
        return "rest"

    @classmethod
    def from_credentials(cls, credentials: Optional[Dict[Text, Any]]) -> "RestInput":
        limit = (credentials or {}).get("max_text_chars") or MAX_TEXT_CHARS
        return cls(max_text_chars=int(limit))

    def __init__(self, max_text_chars: int = MAX_TEXT_CHARS) -> None:
        self.max_text_chars = max_text_chars
        self._heavy_turns = HeavyTurnGate()

    def blueprint(self, on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> Blueprint:
        webhook = Blueprint(f"tuibao_rest_webhook_{id(self)}", __name__)

        @webhook.route("/", methods=["GET"])
        async def health(_: Request) -> HTTPResponse:
            return response.json({"status": "ok"})

        @webhook.route("/webhook", methods=["POST"])
        async def receive(request: Request) -> HTTPResponse:
            try:
                payload = request.json
            except Exception:  # sanic raises InvalidUsage on a body that is not JSON
                payload = None
            if not isinstance(payload, dict):
                return response.json({"error": "body must be a JSON object with sender and "
                                               "message"}, status=400)
            sender, text = payload.get("sender"), payload.get("message")
            if not isinstance(sender, str) or not SENDER.fullmatch(sender):
                return response.json({"error": "sender must be 1-128 visible characters"},
                                     status=400)
            if not isinstance(text, str) or not text.strip():
                return response.json({"error": "message must be a non-empty string"},
                                     status=400)
            recipient = conversation_id(sender)
            if len(text) > self.max_text_chars:
                return response.json([{"recipient_id": recipient,
                                       "text": too_long_answer(len(text), self.max_text_chars)}])
            collector = CollectingOutputChannel()
            with observe_turn(self.name()):  # tuibao_turns_total, tuibao_turn_seconds
                try:
                    # input_channel and metadata are ours to say, not the caller's.
                    async with self._heavy_turns.admit(text):
                        parse_data = await self._heavy_turns.parse(
                            getattr(request.app.ctx, "agent", None), text)
                        await on_new_message(UserMessage(text, collector, recipient,
                                                         input_channel=self.name(),
                                                         metadata={"channel": self.name()},
                                                         parse_data=parse_data))
                except Exception:
                    logger.exception("rest turn failed")
            return response.json(collector.messages)

        return webhook
