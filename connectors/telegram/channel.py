"""The Rasa channel of a Telegram bot: ``connectors.telegram.TelegramInput``.

Mounted at ``/webhooks/telegram/webhook``. Telegram posts each update once it is on the
webhook, and again when the answer was not a 2xx. The webhook checks the secret token, claims
the update_id in the shared store and answers 200 at once; the update is then handled in the
background, one chat's updates one after another in update_id order, and everything the bot
says goes out through the Bot API (``sendMessage``) as the turn produces it.

What every channel does to a message (the 600-character limit, the heavy-turn gate that keeps
long texts off the event loop, masked logs, the failed-turn answer) is
``connectors.turns.TurnPipeline``'s; a tapped button runs its payload while the tracker records
the button's words.
"""
from __future__ import annotations

import asyncio
import heapq
import itertools
import logging
from typing import Any, Awaitable, Callable, Dict, List, Optional, Text, Tuple

from rasa.core.channels.channel import InputChannel, OutputChannel, UserMessage
from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse

from connectors.telegram import wording
from connectors.telegram.client import SendOutcome, TelegramApi
from connectors.telegram.dedupe import UpdateStore, update_store_for
from connectors.telegram.protocol import (SECRET_HEADER, InboundUpdate, ProtocolError,
                                          UpdateKind, chat_id_of, check_chat, check_secret,
                                          classify, read_update)
from connectors.telegram.render import OutgoingMessage, render_message
from connectors.telegram.settings import TelegramSettings
from connectors.turns import TurnPipeline
from observability.metrics import turn as observe_turn

logger = logging.getLogger(__name__)

# Commands a user may type; anything else starting with "/" is not passed to Rasa (which would
# read it as an intent name, with entities, from the user's own text).
COMMAND_TURNS = {"start": "/greet"}


class TelegramOutput(OutputChannel):
    """Sends each bot message of a turn (and anything sent outside a turn: trigger_intent,
    reminders) through the Bot API as soon as Rasa produces it."""

    def __init__(self, api: TelegramApi) -> None:
        self._api = api
        self.outcomes: List[SendOutcome] = []

    @classmethod
    def name(cls) -> Text:
        return "telegram"

    async def send_response(self, recipient_id: Text, message: Dict[Text, Any]) -> None:
        chat_id = chat_id_of(recipient_id)
        for outgoing in render_message(message):
            self.outcomes.append(await self._api.send(chat_id, outgoing))

    async def send_text_message(self, recipient_id: Text, text: Text, **kwargs: Any) -> None:
        await self.send_response(recipient_id, {"text": text})


OnNewMessage = Callable[[UserMessage], Awaitable[Any]]


class TelegramInput(InputChannel):
    """Telegram webhook (secret token, update dedupe, per-chat order, Bot API replies)."""

    @classmethod
    def name(cls) -> Text:
        return "telegram"

    @classmethod
    def from_credentials(cls, credentials: Optional[Dict[Text, Any]]) -> "InputChannel":
        return cls(TelegramSettings.from_sources(credentials))

    def __init__(self, settings: Optional[TelegramSettings] = None) -> None:
        self.settings = settings or TelegramSettings.from_sources()
        # Created on first use, inside the server's event loop (no I/O at construction).
        self._store: Optional[UpdateStore] = None
        self._api: Optional[TelegramApi] = None
        self._queues: Dict[int, List[Tuple[int, int, InboundUpdate]]] = {}
        self._workers: Dict[int, asyncio.Task] = {}
        self._arrivals = itertools.count()
        self._tasks: set = set()
        self.pipeline = TurnPipeline(self.name())

    @property
    def store(self) -> UpdateStore:
        if self._store is None:
            self._store = update_store_for(self.settings.dedupe_redis_url,
                                           self.settings.redis_prefix)
        return self._store

    @property
    def api(self) -> TelegramApi:
        if self._api is None:
            self._api = TelegramApi(self.settings, self.store)
        return self._api

    def get_output_channel(self) -> Optional[OutputChannel]:
        return TelegramOutput(self.api)

    # ------------------------------------------------------------------ HTTP
    def blueprint(self, on_new_message: OnNewMessage) -> Blueprint:
        webhook = Blueprint(f"telegram_webhook_{id(self)}", __name__)

        @webhook.route("/", methods=["GET"])
        async def health(_: Request) -> HTTPResponse:
            return response.json({"status": "ok"})

        @webhook.route("/webhook", methods=["POST"])
        async def receive(request: Request) -> HTTPResponse:
            try:
                return await self._receive(request, on_new_message)
            except ProtocolError as error:
                logger.warning("telegram update refused: %s", error.reason)
                return response.json({"ok": False, "error": error.reason}, status=error.status)
            except Exception:
                # Not acknowledged: Telegram redelivers, and the claim was not made or the
                # update is a duplicate by then. Never a stack trace in the answer.
                logger.exception("telegram update failed")
                return response.json({"ok": False, "error": "internal error"}, status=500)

        return webhook

    async def _receive(self, request: Request, on_new_message: OnNewMessage) -> HTTPResponse:
        check_secret(self.settings.secret_token, request.headers.get(SECRET_HEADER))
        update = read_update(request.body or b"", None)
        if update is None:
            return response.json({"ok": True, "handled": False})
        inbound = classify(update)
        check_chat(inbound)
        if inbound.kind is UpdateKind.IGNORED or inbound.chat_id is None:
            logger.info("telegram update %s ignored", inbound.update_id)
            return response.json({"ok": True, "handled": False})
        if not await self.store.claim(inbound.update_id):
            logger.info("telegram update %s is a redelivery: not run again", inbound.update_id)
            return response.json({"ok": True, "handled": False, "duplicate": True})
        self.pipeline.log_message(f"update {inbound.update_id} ({inbound.kind.value})",
                                  inbound.conversation_id, inbound.words or inbound.text)
        if inbound.callback_query_id is not None:
            # The spinner stops now, not after the chat's earlier turns.
            notice = wording.STALE_BUTTON if inbound.kind is UpdateKind.STALE_BUTTON else None
            self._background(self.api.answer_callback(inbound.callback_query_id, notice))
        if inbound.kind is not UpdateKind.STALE_BUTTON:
            self._enqueue(inbound, on_new_message, getattr(request.app.ctx, "agent", None))
        return response.json({"ok": True, "handled": True})

    def _background(self, work: Awaitable[Any]) -> None:
        task = asyncio.ensure_future(work)
        self._tasks.add(task)  # keep a reference until it ends
        task.add_done_callback(self._tasks.discard)

    # ------------------------------------------------------------------ per-chat order
    def _enqueue(self, inbound: InboundUpdate, on_new_message: OnNewMessage,
                 agent: Any = None) -> None:
        """Queue the update behind its chat's earlier ones; start the chat's worker if idle."""
        chat_id = inbound.chat_id
        queue = self._queues.setdefault(chat_id, [])
        heapq.heappush(queue, (inbound.update_id, next(self._arrivals), inbound))
        if chat_id not in self._workers:
            task = asyncio.ensure_future(self._drain(chat_id, on_new_message, agent))
            self._workers[chat_id] = task

    async def _drain(self, chat_id: int, on_new_message: OnNewMessage,
                     agent: Any = None) -> None:
        try:
            await asyncio.sleep(0)  # updates posted together are all queued before the first runs
            while self._queues.get(chat_id):
                _, _, inbound = heapq.heappop(self._queues[chat_id])
                try:
                    await self._handle(inbound, on_new_message, agent)
                except Exception:
                    logger.exception("telegram update %s failed", inbound.update_id)
        finally:
            # No await between the last empty check and here: nothing can be queued unseen.
            self._queues.pop(chat_id, None)
            self._workers.pop(chat_id, None)

    # ------------------------------------------------------------------ one update
    async def _say(self, chat_id: int, text: str,
                   buttons: Tuple[Tuple[str, str], ...] = ()) -> None:
        await self.api.send(chat_id, OutgoingMessage(text, buttons))

    async def _handle(self, inbound: InboundUpdate, on_new_message: OnNewMessage,
                      agent: Any = None) -> None:
        chat_id, kind = inbound.chat_id, inbound.kind
        if kind is UpdateKind.BUTTON:
            # The keyboard goes before the (slower) turn: its choice is made.
            if inbound.message_id is not None:
                await self.api.remove_keyboard(chat_id, inbound.message_id)
            await self._run_turn(inbound, inbound.words or inbound.text, on_new_message, agent,
                                 payload=inbound.text)
        elif kind is UpdateKind.TEXT:
            await self._run_turn(inbound, inbound.text, on_new_message, agent)
        elif kind is UpdateKind.COMMAND:
            turn = COMMAND_TURNS.get(inbound.text)
            if turn:
                await self._run_turn(inbound, turn, on_new_message, agent, command=True)
                await self._say(chat_id, wording.START_OFFER, (wording.START_BUTTON,))
            elif inbound.text == "help":
                await self._say(chat_id, wording.HELP, (wording.START_BUTTON,))
            else:
                await self._say(chat_id, wording.UNKNOWN_COMMAND)
        elif kind is UpdateKind.MEDIA:
            await self._say(chat_id, wording.NOT_TEXT)
        elif kind is UpdateKind.EDITED:
            await self._say(chat_id, wording.EDITED_NOT_PROCESSED)
        elif kind is UpdateKind.GROUP:
            await self._say(chat_id, wording.PRIVATE_CHAT_ONLY)

    async def _run_turn(self, inbound: InboundUpdate, text: str, on_new_message: OnNewMessage,
                        agent: Any = None, payload: Optional[str] = None,
                        command: bool = False) -> None:
        # The chat's worker serves several updates: each turn gets its own trace id.
        with observe_turn(self.name(), new_trace=True):
            instead = await self.pipeline.run(
                on_new_message, TelegramOutput(self.api), inbound.conversation_id, text,
                payload=payload, command=command, agent=agent,
                message_id=f"telegram-update-{inbound.update_id}",
                metadata={"telegram": {"update_id": inbound.update_id,
                                       "kind": inbound.kind.value}})
        if instead is not None:  # too long, or the turn failed
            await self._say(inbound.chat_id, instead)

    async def close(self) -> None:
        """Wait for running turns, then release the store and the bot's connections."""
        await asyncio.gather(*self._workers.values(), *self._tasks, return_exceptions=True)
        if self._api is not None:
            await self._api.close()
        if self._store is not None:
            await self._store.close()
