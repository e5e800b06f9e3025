"""The Rasa channel of a WeChat official account: ``connectors.wechat.WeChatInput``.

Mounted at ``/webhooks/wechat/webhook``. Each verified message runs one Rasa turn, once, even
when WeChat delivers it several times. WeChat waits 5 s for the passive reply: a turn that
finishes within ``reply_deadline_s`` is answered passively; a slower one is answered
``success`` and delivered through the customer-service API when ready, or, for accounts
without that API, held across WeChat's retries (each attempt left open until WeChat gives up
on it, so WeChat tries again) and answered on the retry that finds it ready; when the third
attempt comes too, it answers ``STILL_WORKING`` and the turn's answer waits for the user's next
message, whose passive reply carries it ahead of that message's own answer. Whatever cannot be
pushed (no API, or WeChat refused) waits the same way.

What every channel does to a message (length limit, typed ``/intent`` syntax refused, the
heavy-turn gate, masked logs, the failed-turn answer) is ``connectors.turns.TurnPipeline``'s.
A tapped choice (a ``weixin://bizmsgmenu`` link the bot offered this user) comes back as its
words with ``<bizmsgmenuid>``; the id finds the payload the choice runs (``offer_choices`` in the
shared store), and the tracker records the words.
"""
from __future__ import annotations

import asyncio
import hashlib
import logging
import weakref
from typing import Any, Awaitable, Callable, Dict, List, Optional, Text, Tuple

from rasa.core.channels.channel import InputChannel, OutputChannel, UserMessage
from rasa.shared.core.events import BotUttered, UserUttered
from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse

from connectors.turns import TurnPipeline
from connectors.wording import TURN_FAILED
from connectors.wechat.client import PushOutcome, WeChatApi, mask_openid
from connectors.wechat.dedupe import (CLAIM_LEASE_S, DEFAULT_TTL_S, DedupeStore, delivery_key,
                                      dedupe_store_for)
from connectors.wechat.protocol import MAX_BODY_BYTES, BodyTooLarge, CallbackQuery, \
    InboundMessage, OpenedRequest, ProtocolError, WeChatProtocol
from connectors.wechat.render import fit_passive_reply, menu_link, render_offered, render_turn
from connectors.wechat.settings import WeChatSettings
from observability.metrics import turn as observe_turn
from redaction.logs import install as install_log_redaction

logger = logging.getLogger(__name__)

# Menu CLICK keys and the intent each one starts (the menu is created with these keys).
MENU_INTENTS = {
    "SURRENDER": "request_surrender",
    "STATUS": "check_surrender_status",
    "WITHDRAW": "withdraw_surrender",
    "FEE": "ask_surrender_fee",
    "REFUND_TIME": "ask_refund_time",
    "HUMAN": "request_human",
}

NOT_UNDERSTOOD_TYPE = "抱歉，我目前只能看懂文字和语音。想退保，请直接发送“我要退保”，或点击下方菜单。"
VOICE_NOT_RECOGNISED = "抱歉，没能听清这段语音，请再说一次，或直接打字告诉我。"
UNKNOWN_MENU = "抱歉，这个菜单暂时不可用。想退保，请直接发送“我要退保”。"
STILL_WORKING = "正在为您查询，请稍候。查询完成后，发送任意消息即可看到结果。"
LATE_ANSWER_HEADER = "您之前的问题，结果如下："
MORE_TO_COLLECT = "（内容较长，发送任意消息查看后续部分。）"
# The message that collects a waiting answer is not interpreted: the user was asked to send
# "anything", and a "好的" must never be read as agreeing to a quote not yet seen.
COLLECTED_NOT_PROCESSED = "（您刚才发的这条消息用来取回上面的结果，没有另作处理；如果还有问题，请看完后再发一次。）"
# FAQ menu: tapping a question sends it as the user's text, so NLU answers it in context.
FAQ_QUESTIONS = ("什么是犹豫期", "退保能退多少钱", "退保需要什么材料", "谁可以申请退保", "退保后还有保障吗")
FAQ_MENU = "常见问题，点一下即可提问：\n" + "\n".join(
    menu_link(question, question, 100 + index) for index, question in enumerate(FAQ_QUESTIONS))

WECHAT_ATTEMPTS = 3  # WeChat delivers a callback at most three times
HOLD_PAST_DEADLINE_S = 1.0  # without the push API: keep an attempt open past WeChat's 5 s
POLL_INTERVAL_S = 0.1  # how often a waiting delivery looks for a result from another process

class WeChatTurnCollector(OutputChannel):
    """Collects one turn's bot messages unchanged (Rasa's collector splits texts)."""

    def __init__(self) -> None:
        self.messages: List[Dict[str, Any]] = []

    @classmethod
    def name(cls) -> Text:
        return "wechat"

    async def send_response(self, recipient_id: Text, message: Dict[Text, Any]) -> None:
        self.messages.append(dict(message))


DeliverLater = Callable[[str, str], Awaitable[None]]
Render = Callable[[str, List[Dict[str, Any]]], Awaitable[str]]


class WeChatOutput(OutputChannel):
    """Messages outside a passive reply (trigger_intent, reminders, agents): pushed through
    the customer-service API, or kept for the user's next message when that is not possible."""

    def __init__(self, deliver: DeliverLater, render: Optional[Render] = None) -> None:
        self._deliver = deliver
        self._render = render

    @classmethod
    def name(cls) -> Text:
        return "wechat"

    async def send_response(self, recipient_id: Text, message: Dict[Text, Any]) -> None:
        text = (await self._render(recipient_id, [message]) if self._render is not None
                else render_turn([message]))
        if text:
            await self._deliver(recipient_id, text)


OnNewMessage = Callable[[UserMessage], Awaitable[Any]]


class WeChatInput(InputChannel):
    """WeChat official-account webhook (signature, AES, dedupe, the 5-second rule)."""

    @classmethod
    def name(cls) -> Text:
        return "wechat"

    @classmethod
    def from_credentials(cls, credentials: Optional[Dict[Text, Any]]) -> "InputChannel":
        install_log_redaction()  # the Rasa server's logs: nothing personal in clear
        return cls(WeChatSettings.from_sources(credentials))

    def __init__(self, settings: Optional[WeChatSettings] = None) -> None:
        self.settings = settings or WeChatSettings.from_sources()
        self.protocol = WeChatProtocol(self.settings)
        # Created on first use, inside the server's event loop (no I/O at construction).
        self._store: Optional[DedupeStore] = None
        self._api: Optional[WeChatApi] = None
        self._user_locks: "weakref.WeakValueDictionary[str, asyncio.Lock]" = \
            weakref.WeakValueDictionary()
        self._turn_done: Dict[str, asyncio.Event] = {}
        self._tasks: set = set()
        self.pipeline = TurnPipeline(self.name(), max_text_chars=self.settings.max_text_chars)

    # ------------------------------------------------------------------ shared resources
    @property
    def store(self) -> DedupeStore:
        if self._store is None:
            self._store = dedupe_store_for(self.settings.dedupe_redis_url,
                                           self.settings.redis_prefix)
        return self._store

    @property
    def api(self) -> WeChatApi:
        if self._api is None:
            self._api = WeChatApi(self.settings, store=self.store)
        return self._api

    def get_output_channel(self) -> Optional[OutputChannel]:
        return WeChatOutput(self.deliver_out_of_band, self.render)

    async def render(self, openid: str, messages: List[Dict[str, Any]]) -> str:
        """A turn's messages as one WeChat text whose choices are this user's own: each shows
        and sends its words, under a menu id kept with its payload."""
        return await render_offered(self.store, openid, messages)
    async def deliver_out_of_band(self, openid: str, text: str) -> None:
        """Deliver ``text`` outside a passive reply: push it when the account has the
        customer-service API and WeChat accepts; otherwise keep it for the user's next
        message (it is never dropped)."""
        if not await self._push(openid, text):
            await self._keep_for_next_message(openid, [text])

    async def _push(self, openid: str, text: str) -> bool:
        if not self.settings.customer_service_api:
            return False
        outcome = await self.api.send_text(openid, text)
        logger.info("wechat late answer to %s pushed: %s", mask_openid(openid), outcome.value)
        return outcome is PushOutcome.SENT

    async def _keep_for_next_message(self, openid: str, answers: List[str]) -> None:
        for answer in answers:
            await self.store.add_late_answer(openid, answer)
        logger.info("wechat late answer to %s kept for their next message",
                    mask_openid(openid))

    # ------------------------------------------------------------------ HTTP
    def blueprint(self, on_new_message: OnNewMessage) -> Blueprint:
        webhook = Blueprint(f"wechat_webhook_{id(self)}", __name__)

        @webhook.route("/", methods=["GET"])
        async def health(_: Request) -> HTTPResponse:
            return response.json({"status": "ok"})

        @webhook.route("/webhook", methods=["GET"])
        async def verify(request: Request) -> HTTPResponse:
            query = CallbackQuery.from_args(request.args)
            try:
                self.protocol.verify_query(query)
                await self.protocol.claim_nonce(self.store, query, "verification:"
                                                + hashlib.sha256(query.echostr.encode()).hexdigest())
            except ProtocolError as error:
                logger.warning("wechat GET refused: %s", error.reason)
                return response.text(error.reason, status=error.status)
            return response.text(query.echostr)  # unchanged, never encrypted

        @webhook.route("/webhook", methods=["POST"])
        async def receive(request: Request) -> HTTPResponse:
            arrived = asyncio.get_running_loop().time()
            opened: List[OpenedRequest] = []  # the message, once it is read
            try:
                return await self._receive(request, on_new_message, arrived, opened)
            except ProtocolError as error:
                logger.warning("wechat POST refused: %s", error.reason)
                return response.text(error.reason, status=error.status)
            except Exception:  # never let WeChat see a stack trace
                logger.exception("wechat POST failed")
                if opened:
                    # Read but not taken in (a shared store down longer than its clients
                    # wait): say so, rather than a silent "success" that loses the message.
                    return self._passive(opened[0], TURN_FAILED)
                return response.text("success")

        return webhook

    async def _receive(self, request: Request, on_new_message: OnNewMessage,
                       arrived: float, read: List[OpenedRequest]) -> HTTPResponse:
        body = request.body or b""
        if len(body) > MAX_BODY_BYTES:  # before any parsing
            raise BodyTooLarge()
        query = CallbackQuery.from_args(request.args)
        self.protocol.verify_query(query)
        opened = self.protocol.open(query, body)  # mode, msg_signature, XML: nothing kept yet
        read.append(opened)  # signed by WeChat: from here on a failure is answered, not silent
        await self.protocol.check_replay(self.store, opened)
        message = opened.message
        self.pipeline.log_message(message.event or message.msg_type, message.openid,
                                  message.content)

        if self.settings.customer_service_api and (
                not message.is_event or message.event in ("subscribe", "subscribe_scan", "click")):
            # The user acted: WeChat's window reopens, for every replica.
            await self.api.reopen_window(message.openid)
        user_text, canned, command = self._user_text(message)
        if user_text is None and canned is None:
            return response.text("success")

        # Canned answers go the same way as turns: an answer waiting for this user rides
        # along with whatever they send next, and a retry must not lose it.
        key = delivery_key(message.dedupe_key)
        attempt = await self.store.count_attempt(key)
        agent = getattr(request.app.ctx, "agent", None)

        def start_turn(taken_over: bool = False) -> None:
            self._start_turn(key, message, user_text, canned, command, on_new_message, agent,
                             taken_over)

        if await self.store.claim(key, CLAIM_LEASE_S):
            start_turn()
        elif key not in self._turn_done:
            # Another process runs the turn; if it dies, its lease lapses and this process
            # takes the turn over (the answer then comes passively or by push).
            self._background(self._watch_turn(key, start_turn))
        deadline = arrived + self.settings.reply_deadline_s
        reply = await self._wait_for_result(key, deadline)
        if reply is not None:
            # Every delivery that finds the reply in time gets it: WeChat retries only when it
            # did not receive an answer, so an earlier passive reply may have been lost. Only
            # when a push is already promised does a retry stay silent.
            if self.settings.customer_service_api and await self.store.has_flag(key, "push"):
                return response.text("success")
            return self._passive(opened, reply)

        if self.settings.customer_service_api:
            # Too slow for a passive reply: stop WeChat's retries, push when ready, and show
            # "typing…" meanwhile so the user knows an answer is coming.
            self._background(self.api.typing(message.openid))
            return await self._hand_over(key, opened, "push", fallback="success")
        if attempt < WECHAT_ATTEMPTS:
            # No push API: keep this attempt open; WeChat gives up at 5 s and retries, and the
            # retry collects the result (the turn is not run again). A result arriving before
            # WeChat hangs up still goes out on this attempt.
            logger.info("wechat turn of %s still running: attempt %s held for WeChat's retry",
                        mask_openid(message.openid), attempt)
            reply = await self._wait_for_result(key, deadline + HOLD_PAST_DEADLINE_S)
            if reply is not None:
                return self._passive(opened, reply)
            return response.text("still working", status=503)
        logger.info("wechat turn of %s outlived WeChat's retries: answer kept for their next "
                    "message", mask_openid(message.openid))
        return await self._hand_over(key, opened, "collect", fallback=STILL_WORKING)

    async def _hand_over(self, key: str, opened: OpenedRequest, flag: str,
                         fallback: str) -> HTTPResponse:
        """Mark the turn for later delivery (push or collect). The flag is set before the
        result is looked at again, and the turn looks at the flag after storing its result,
        so exactly one of the two delivers (``delivered`` is claimed once)."""
        await self.store.set_flag(key, flag)
        reply = await self.store.get_result(key)
        if reply is not None and await self.store.set_flag(key, "delivered"):
            return self._passive(opened, reply)
        if fallback == "success":
            return response.text("success")
        return self._passive(opened, fallback)

    def _passive(self, opened: OpenedRequest, reply: str) -> HTTPResponse:
        if not reply:
            return response.text("success")  # nothing to say (e.g. a person has the chat)
        return response.text(self.protocol.render_reply(opened, reply),
                             content_type="application/xml; charset=utf-8")

    def _user_text(self, message: InboundMessage
                   ) -> Tuple[Optional[str], Optional[str], bool]:
        """(text for Rasa, None, whether it is the channel's own intent) or (None, a canned
        answer, False) or (None, None, False) for silence."""
        if message.msg_type in ("text", "voice"):
            text = message.content.strip()
            refused = self.pipeline.refusal(text)  # too long, or /intent syntax: never NLU
            if text and refused is not None:
                return None, refused, False
            if text:
                return text, None, False
            return None, (VOICE_NOT_RECOGNISED if message.msg_type == "voice"
                          else NOT_UNDERSTOOD_TYPE), False
        if not message.is_event:
            return None, NOT_UNDERSTOOD_TYPE, False
        if message.event in ("subscribe", "subscribe_scan"):
            return "/greet", None, True
        if message.event == "click" and message.event_key.upper() == "FAQ":
            return None, FAQ_MENU, False
        if message.event == "click":
            intent = MENU_INTENTS.get(message.event_key.upper())
            return (f"/{intent}", None, True) if intent else (None, UNKNOWN_MENU, False)
        # unsubscribe, view, location reports, customer-service session events: no answer.
        return None, None, False

    async def _tapped_choice(self, message: InboundMessage) -> Optional[Tuple[str, str]]:
        """(words, payload) of the offered choice this text is a tap on; None for typed text,
        or a menu id never offered to this user (its words are then read as typed)."""
        menu_id = message.raw_fields.get("bizmsgmenuid")
        if message.msg_type != "text" or not isinstance(menu_id, str) or not menu_id.strip() \
                or len(menu_id) > 32:
            return None
        menu_id = menu_id.strip()
        return await self.store.offered_choice(message.openid, menu_id)

    # ------------------------------------------------------------------ the turn
    def _background(self, work: Awaitable[Any]) -> None:
        task = asyncio.ensure_future(work)
        self._tasks.add(task)  # keep a reference until it ends
        task.add_done_callback(self._tasks.discard)

    def _start_turn(self, key: str, message: InboundMessage, text: Optional[str],
                    canned: Optional[str], command: bool, on_new_message: OnNewMessage,
                    agent: Any = None, taken_over: bool = False) -> None:
        self._turn_done.setdefault(key, asyncio.Event())
        self._background(self._run_turn(key, message, text, canned, command, on_new_message,
                                        agent, taken_over))

    async def _watch_turn(self, key: str, start_turn: Callable[[bool], None]) -> None:
        """Until the turn run elsewhere has a result: take it over if its lease lapses."""
        loop = asyncio.get_running_loop()
        give_up = loop.time() + DEFAULT_TTL_S
        try:
            while loop.time() < give_up and key not in self._turn_done:
                if await self.store.get_result(key) is not None:
                    return
                if not await self.store.claim_held(key) and \
                        await self.store.claim(key, CLAIM_LEASE_S):
                    if await self.store.get_result(key) is None:
                        logger.warning("wechat turn %s: its process stopped answering; "
                                       "taken over here", key.split(":", 1)[-1][:8])
                        start_turn(True)
                    return
                await asyncio.sleep(1.0)
        except Exception:  # the store is unreachable: the delivery still answers politely
            logger.exception("wechat turn %s not watched", key.split(":", 1)[-1][:8])

    async def _keep_claim(self, key: str) -> None:
        """Renew this process's lease on the turn while it runs."""
        while True:
            await asyncio.sleep(CLAIM_LEASE_S / 4)
            try:
                await self.store.renew_claim(key, CLAIM_LEASE_S)
            except Exception:  # next renewal tries again; the lease outlives one miss
                logger.warning("wechat turn %s: claim not renewed", key.split(":", 1)[-1][:8])

    async def _wait_for_result(self, key: str, deadline: float) -> Optional[str]:
        loop = asyncio.get_running_loop()
        done = self._turn_done.get(key)
        while True:
            reply = await self.store.get_result(key)
            if reply is not None:
                return reply
            remaining = deadline - loop.time()
            if remaining <= 0:
                return None
            # Woken at once by a turn of this process; polls for one of another process.
            pause = min(remaining, POLL_INTERVAL_S)
            if done is not None:
                try:
                    await asyncio.wait_for(done.wait(), timeout=pause)
                except asyncio.TimeoutError:
                    pass
            else:
                await asyncio.sleep(pause)

    def _lock_for(self, openid: str) -> asyncio.Lock:
        lock = self._user_locks.get(openid)
        if lock is None:
            lock = asyncio.Lock()
            self._user_locks[openid] = lock
        return lock

    async def _run_turn(self, key: str, message: InboundMessage, text: Optional[str],
                        canned: Optional[str], command: bool, on_new_message: OnNewMessage,
                        agent: Any = None, taken_over: bool = False) -> None:
        """Run the turn (or take the canned answer) in arrival order for this user, put any
        answer still waiting for the user ahead of it, keep the result for every delivery of
        this message, and deliver it out of band if the webhook already answered without it."""
        lease = asyncio.ensure_future(self._keep_claim(key))
        try:
            with observe_turn(self.name()):  # tuibao_turns_total, tuibao_turn_seconds
                await self._run_turn_in_order(key, message, text, canned, command,
                                              on_new_message, agent, taken_over)
        finally:
            lease.cancel()

    async def _run_turn_in_order(self, key: str, message: InboundMessage, text: Optional[str],
                                 canned: Optional[str], command: bool,
                                 on_new_message: OnNewMessage, agent: Any = None,
                                 taken_over: bool = False) -> None:
        openid = message.openid
        async with self._lock_for(openid):
            try:
                reply = canned or ""
                answered = (await self._answer_already_given(agent, openid, message)
                            if taken_over and text is not None else None)
                if answered is not None:
                    # The process that ran this turn stored it and died before it recorded
                    # the answer: the answer is read back, the message is not run twice.
                    reply = answered
                elif text is not None and await self.store.has_late_answers(openid):
                    # An earlier answer is waiting (it comes with this reply): this message
                    # collects it and is not run through the dialogue.
                    reply = COLLECTED_NOT_PROCESSED
                elif text is not None:
                    collector = WeChatTurnCollector()
                    choice = await self._tapped_choice(message)
                    words, payload = choice if choice is not None else (text, None)
                    instead = await self.pipeline.run(
                        on_new_message, collector, openid, words, payload=payload,
                        command=command, agent=agent,
                        message_id=str(message.msg_id) if message.msg_id else None,
                        metadata=self._metadata(message))
                    reply = instead if instead is not None else \
                        await self.render(openid, collector.messages)
            except Exception:
                logger.exception("wechat turn for %s failed", mask_openid(openid))
                reply = TURN_FAILED
            try:
                await self._finish_turn(key, openid, reply)
            except Exception:  # the store is unreachable: the deliveries time out politely
                logger.exception("wechat result of %s's turn not stored", mask_openid(openid))
            finally:
                self._wake_deliveries(key)

    async def _answer_already_given(self, agent: Any, openid: str,
                                    message: InboundMessage) -> Optional[str]:
        """The answer of this message's turn when the tracker store holds that turn already
        (its user event carries the message's id): the bot's messages after it, rendered."""
        store = getattr(agent, "tracker_store", None)
        if store is None or not message.msg_id:
            return None
        tracker = await store.retrieve(openid)
        if tracker is None:
            return None
        events = list(tracker.events)
        starts = [i for i, e in enumerate(events)
                  if isinstance(e, UserUttered) and e.message_id == str(message.msg_id)]
        if not starts:
            return None
        said: List[Dict[str, Any]] = []
        for event in events[starts[-1] + 1:]:
            if isinstance(event, UserUttered):
                break
            if isinstance(event, BotUttered):
                said.append({key: value for key, value in event.message().items()
                             if key != "timestamp" and value is not None})
        logger.warning("wechat turn of %s had run before its process stopped: its answer is "
                       "read back from the conversation, not run again", mask_openid(openid))
        return await self.render(openid, said)

    def _wake_deliveries(self, key: str) -> None:
        done = self._turn_done.pop(key, None)
        if done is not None:
            done.set()

    async def _finish_turn(self, key: str, openid: str, reply: str) -> None:
        # Taken after the turn: a slower turn of this user that ended meanwhile (here or on
        # another replica, whose turns Rasa's lock store orders) has left its answer by now.
        late = await self.store.take_late_answers(openid)
        answers = [*late, reply] if reply else late
        full = "\n\n".join([LATE_ANSWER_HEADER, *answers]) if late else reply
        passive, rest = fit_passive_reply(full, MORE_TO_COLLECT)
        await self.store.put_result(key, passive)
        await self.store.renew_claim(key, DEFAULT_TTL_S)  # answered: never taken over
        self._wake_deliveries(key)  # before any push: waiting deliveries answer at once
        if not full:
            return
        if await self.store.has_flag(key, "push") and \
                await self.store.set_flag(key, "delivered"):
            if not await self._push(openid, full):
                await self._keep_for_next_message(openid, answers)  # kept without the header
        elif await self.store.has_flag(key, "collect") and \
                await self.store.set_flag(key, "delivered"):
            await self._keep_for_next_message(openid, answers)
        elif rest:
            await self._keep_for_next_message(openid, [rest])

    def _metadata(self, message: InboundMessage) -> Dict[str, Any]:
        return {"wechat": {
            "msg_type": message.msg_type, "msg_id": message.msg_id,
            "create_time": message.create_time, "event": message.event or None,
            "event_key": message.event_key or None, "account": message.account,
            "customer_service_api": self.settings.customer_service_api}}
