"""The REST channel as Tuibao runs it (credentials.yml key ``connectors.rest.RestInput``).

Rasa's stock ``rest`` channel uses the posted ``sender`` as the conversation id, so a sender
that equals a WeChat openid continues that WeChat user's verified conversation (and could
confirm their surrender). Channels own their users: here every conversation id is
``rest:<sender>``, which no WeChat openid (``^[A-Za-z0-9_-]{1,64}$``) or Telegram id can be.
The caller cannot pick the input channel or the metadata either. Every message goes through
``connectors.turns.TurnPipeline`` like every channel's: a message longer than
``connectors.limits.MAX_TEXT_CHARS`` is answered without reaching NLU, long ones pass the
heavy-turn gate, a failed turn is answered ``TURN_FAILED``. Unlike WeChat and Telegram, REST
keeps Rasa's convention that a client sends a button's payload back as text
(``/intent{…}``): its answers carry the buttons' payloads and it has no other way to tap one.

This is a development channel: production configuration (deploy/credentials.prod.yml) leaves
it out. Mounted at ``/webhooks/rest/webhook`` like Rasa's, with the same request and answer.
"""
from __future__ import annotations

import logging
from typing import Any, Awaitable, Callable, Dict, Optional, Text

from rasa.core.channels.channel import CollectingOutputChannel, UserMessage
from rasa.core.channels.rest import RestInput as RasaRestInput
from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse

from connectors.limits import MAX_TEXT_CHARS
from connectors.turns import TurnPipeline
from ground.conversation_ids import PREFIXES, REST, REST_SENDER as SENDER, \
    rest_conversation as conversation_id
from observability.metrics import turn as observe_turn

logger = logging.getLogger(__name__)

CONVERSATION_PREFIX = PREFIXES[REST]


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
        self.pipeline = TurnPipeline(self.name(), max_text_chars=max_text_chars,
                                     typed_commands=True)

    def blueprint(self, on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> Blueprint:
        webhook = Blueprint(f"tuibao_rest_webhook_{id(self)}", __name__)

        @webhook.route("/", methods=["GET"])
        async def health(_: Request) -> HTTPResponse:
            return response.json({"status": "ok"})

        @webhook.route("/webhook", methods=["POST"])
        async def receive(request: Request) -> HTTPResponse:
            try:
                payload = request.json
            except (Exception, RecursionError):  # not JSON, or nested too deep to read
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
            self.pipeline.log_message("message", recipient, text)
            collector = CollectingOutputChannel()
            # input_channel and metadata are ours to say, not the caller's.
            with observe_turn(self.name()):  # tuibao_turns_total, tuibao_turn_seconds
                instead = await self.pipeline.run(on_new_message, collector, recipient, text,
                                                  agent=getattr(request.app.ctx, "agent", None))
            if instead is not None:  # too long, or the turn failed
                collector.messages.append({"recipient_id": recipient, "text": instead})
            return response.json(collector.messages)

        return webhook
