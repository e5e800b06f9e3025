"""The console's HTTP app: the contract's JSON API, server-sent events, the page.

``create_app`` wires the stores and the checks every route shares (who is asking, which chat,
the audit log) and includes the routers by concern: pages and session
(``console.routes_session``), the supervisors' (``console.routes_supervisor``), the figures page
(``console.figures``), the trainers' review queue (``console.routes_review``) and the calls the
trainer and supervisor pages add (``console.routes_ui``); the desk's chat routes and the live
updates are here.

Every call but sign-in needs a session (401), every state change the session's CSRF token in
``X-CSRF-Token`` (403), and a role that may do it (403). Every access to a chat is written to
the audit log. Chats are only those in the handoff queue: the console cannot open any other
conversation of any channel.
"""
from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import re
from pathlib import Path
from typing import Any, AsyncIterator, Dict, Literal, Optional

from fastapi import Depends, FastAPI, Header, HTTPException, Query, Request
from fastapi.responses import StreamingResponse
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel, Field

from console import routes_review, routes_session, routes_supervisor, routes_ui, transcript, wording
from console.auth import COOKIE, Authenticator, Session
from console import figures as figures_page
from console.delivery import (DeliveryRouter, NoPushDelivery, TelegramDelivery,
                              wechat_delivery_from_env)
from console.rasa_api import RasaApi, RasaUnavailable
from console.routes_review import LabelChoices, review_json, review_ref
from console.routes_session import error
from console.routes_supervisor import DESK_ROLES
from console.settings import ROOT, ConsoleSettings
from observability.web import TraceAndMetrics
from handoff.desk import Desk
from handoff.store import CHAT_ID, ChatState, HandoffChat, HandoffStore, Role, run_sync
from training.review import ReviewQueue, flag_agent_reply

log = logging.getLogger(__name__)
STATIC = Path(__file__).parent / "static"
SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; "
                               "frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
}


class AgentText(BaseModel):
    text: str = Field(min_length=1, max_length=2000)


class FlagReply(BaseModel):
    at: str = Field(min_length=1, max_length=64)  # the agent turn's time, as the transcript has it


def create_app(settings: Optional[ConsoleSettings] = None, *,
               rasa: Optional[RasaApi] = None,
               delivery: Optional[DeliveryRouter] = None) -> FastAPI:
    """The app; ``rasa`` and ``delivery`` default to the configured Rasa server and channels."""
    settings = settings or ConsoleSettings.from_env()
    store = HandoffStore(settings.handoff.db_url)
    auth = Authenticator(store, session_ttl_s=settings.session_ttl_s,
                         max_failures=settings.max_failures,
                         failure_window_s=settings.failure_window_s,
                         lockout_s=settings.lockout_s,
                         max_source_failures=settings.max_source_failures,
                         source_throttle_s=settings.source_throttle_s)
    desk = Desk.from_settings(settings.handoff)
    state: Dict[str, Any] = {}

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI):
        await run_sync(lambda: store.engine)  # tables and triggers, before the first request
        state["review"] = await run_sync(lambda: ReviewQueue(settings.review_db_url))
        state["rasa"] = rasa or RasaApi(settings.rasa_url, settings.rasa_token)
        state["delivery"] = delivery or DeliveryRouter({
            "wechat": wechat_delivery_from_env(settings.handoff.wechat_kf_account),
            "rest": NoPushDelivery("REST"),
            "telegram": TelegramDelivery(),
        })
        sweeper = asyncio.create_task(_sweep_unattended())
        try:
            yield
        finally:
            sweeper.cancel()
            with contextlib.suppress(BaseException):
                await sweeper
            if rasa is None:
                await state["rasa"].aclose()

    app = FastAPI(title="Tuibao agent console", lifespan=lifespan, docs_url=None,
                  redoc_url=None, openapi_url=None)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    app.add_middleware(TraceAndMetrics)  # GET /metrics, X-Request-ID on every log line

    @app.middleware("http")
    async def security_headers(request: Request, call_next):
        answer = await call_next(request)
        for name, value in SECURITY_HEADERS.items():
            answer.headers.setdefault(name, value)
        return answer

    # ------------------------------------------------------------------ who is asking
    async def session_of(request: Request) -> Session:
        found = await run_sync(lambda: auth.session(request.cookies.get(COOKIE)))
        if found is None:
            raise HTTPException(401, "请先登录")
        return found

    async def changing(request: Request, session: Session = Depends(session_of),
                       x_csrf_token: Optional[str] = Header(default=None)) -> Session:
        if not auth.csrf_ok(session, x_csrf_token):
            raise HTTPException(403, "请求缺少有效的 X-CSRF-Token")
        return session

    def require_role(session: Session, *roles: str) -> None:
        if session.user.role not in roles:
            raise HTTPException(403, "您的角色不能做这个操作")

    def chat_id_ok(chat_id: str) -> str:
        if not CHAT_ID.match(chat_id):
            raise HTTPException(404, "没有这个对话")
        return chat_id

    async def known_chat(chat_id: str) -> HandoffChat:
        chat = await run_sync(lambda: store.latest_chat(chat_id_ok(chat_id)))
        if chat is None:  # never in the queue: not the console's to open
            raise HTTPException(404, "没有这个对话")
        return chat

    async def audit(session: Session, action: str, chat_id: Optional[str] = None,
                    detail: Optional[str] = None) -> None:
        await run_sync(lambda: store.audit(session.user.name, session.user.role, action,
                                           chat_id, detail))

    def may_read(session: Session, chat: HandoffChat) -> None:
        """Who reads a chat: a supervisor any; an agent a waiting one (to decide whether to take
        it), the one they have, and, once closed, only the one they had."""
        require_role(session, *DESK_ROLES)
        if session.user.role == Role.SUPERVISOR.value:
            return
        if chat.state == ChatState.WAITING.value or chat.assignee == session.user.name:
            return
        raise HTTPException(403, f"这个对话由 {chat.assignee} 处理" if chat.assignee
                            else "这个对话已经结束")

    def readable(session: Session, chat: HandoffChat) -> bool:
        try:
            may_read(session, chat)
        except HTTPException:
            return False
        return True

    def may_act(session: Session, chat: HandoffChat) -> None:
        """Only the agent who has the chat (or a supervisor) acts on it."""
        require_role(session, *DESK_ROLES)
        if chat.state != ChatState.TAKEN.value:
            raise HTTPException(409, "这个对话现在没有人工接手")
        if chat.assignee != session.user.name and session.user.role != Role.SUPERVISOR.value:
            raise HTTPException(403, f"这个对话由 {chat.assignee} 处理")

    # ------------------------------------------------------------------ pages and session
    app.include_router(routes_session.router(
        auth=auth, settings=settings, static_dir=STATIC, session_of=session_of,
        changing=changing, audit=audit))

    # ------------------------------------------------------------------ chats
    @app.get("/api/v1/chats")
    async def list_chats(state: Literal["waiting", "mine", "all"] = "waiting",
                         session: Session = Depends(session_of)):
        require_role(session, *DESK_ROLES)
        chats = await run_sync(lambda: store.list_chats(state, session.user.name))
        return [chat.as_json() for chat in chats if readable(session, chat)]

    @app.get("/api/v1/chats/{chat_id}")
    async def open_chat(chat_id: str, session: Session = Depends(session_of)):
        chat = await known_chat(chat_id)
        may_read(session, chat)
        try:
            tracker = await state["rasa"].tracker(chat.conversation_id)
        except RasaUnavailable:
            return error(502, "暂时读不到机器人的对话记录，请稍后再试")
        turns_rows = await run_sync(lambda: store.turns(chat.conversation_id))
        turns = transcript.merged(tracker, turns_rows, until=chat.closed_at)
        last_user = next((t["text"] for t in reversed(turns) if t["who"] == "user"), None)
        if chat.state != ChatState.CLOSED.value and last_user:
            await run_sync(lambda: store.note_user_message(chat.conversation_id, last_user))
        await audit(session, "view", chat.conversation_id)
        return {"chat": chat.as_json(), "turns": turns,
                "bot_knows": transcript.bot_knowledge(tracker, until=chat.closed_at)}

    @app.post("/api/v1/chats/{chat_id}/take")
    async def take(chat_id: str, session: Session = Depends(changing)):
        require_role(session, *DESK_ROLES)
        chat = await known_chat(chat_id)
        me = session.user.name
        taken = await run_sync(lambda: store.take(chat.conversation_id, me))
        if taken is None:
            current = await run_sync(lambda: store.open_chat(chat.conversation_id))
            if current is not None and current.assignee == me:
                return {"chat": current.as_json()}
            holder = current.assignee if current else None
            await audit(session, "take_refused", chat.conversation_id)
            return error(409, f"这个对话已由 {holder} 接手" if holder else "这个对话已经结束",
                          assignee=holder)
        try:
            await state["rasa"].pause(chat.conversation_id)
        except RasaUnavailable:
            await run_sync(lambda: store.release(chat.conversation_id, me))
            return error(502, "没能暂停机器人，对话仍在排队，请重试")
        await audit(session, "take", chat.conversation_id)
        joined = await tell_user(taken, me, wording.USER_AGENT_JOINED)
        return {"chat": taken.as_json(), "delivered": joined.delivered,
                "problem": joined.problem}

    async def tell_user(chat: HandoffChat, author: str, text: str):
        """A desk notice to the user, kept in the transcript like a reply (delivered or not)."""
        result = await state["delivery"].send(chat.conversation_id, [{"text": text}])
        await run_sync(lambda: store.add_turn(chat, author, "reply", text, result.delivered,
                                              result.problem))
        return result

    @app.post("/api/v1/chats/{chat_id}/messages")
    async def reply(chat_id: str, body: AgentText, session: Session = Depends(changing)):
        chat = await known_chat(chat_id)
        may_act(session, chat)
        text = body.text.strip()
        if not text:
            raise HTTPException(422, "回复不能为空")
        result = await state["delivery"].send(chat.conversation_id, [{"text": text}])
        turn = await run_sync(lambda: store.add_turn(chat, session.user.name, "reply", text,
                                                     result.delivered, result.problem))
        await audit(session, "reply", chat.conversation_id,
                    None if result.delivered else f"undelivered:{result.code}")
        if not result.delivered:
            return error(502, result.problem or wording.DELIVERY_FAILED, code=result.code,
                          delivered=False)
        return {"delivered": True, "turn_id": turn["id"]}

    @app.post("/api/v1/chats/{chat_id}/flag")
    async def flag_reply(chat_id: str, body: FlagReply, session: Session = Depends(changing)):
        """An agent's reply as an example for the trainers: the user's message it answered goes
        to the review queue (docs/insurers.md, step 1)."""
        chat = await known_chat(chat_id)
        may_read(session, chat)  # only who may read the chat flags its replies
        try:
            tracker = await state["rasa"].tracker(chat.conversation_id)
        except RasaUnavailable:
            return error(502, "暂时读不到机器人的对话记录，请稍后再试")
        rows = await run_sync(lambda: store.turns(chat.conversation_id))
        turns = transcript.merged(tracker, rows)
        try:
            item = await run_sync(lambda: flag_agent_reply(state["review"], turns, body.at))
        except ValueError:
            raise HTTPException(422, "这条回复前没有用户的消息，不能作为训练样本")
        await audit(session, "review_flag", chat.conversation_id, review_ref(item))
        return {"item": review_json(item)}

    @app.post("/api/v1/chats/{chat_id}/notes")
    async def note(chat_id: str, body: AgentText, session: Session = Depends(changing)):
        """Notes: by the agent who has the chat while it is open; a supervisor's on any."""
        chat = await known_chat(chat_id)
        if session.user.role != Role.SUPERVISOR.value:
            may_act(session, chat)
        turn = await run_sync(lambda: store.add_turn(chat, session.user.name, "note",
                                                     body.text.strip(), False))
        await audit(session, "note", chat.conversation_id)
        return {"turn_id": turn["id"]}

    async def give_back(chat: HandoffChat, session: Session, outcome: str):
        try:
            await state["rasa"].resume(chat.conversation_id)
            said = (await state["rasa"].execute(chat.conversation_id, "action_handback")
                    if outcome == "handback" else [])
        except RasaUnavailable:
            return error(502, "没能恢复机器人，请重试")
        if said:
            result = await state["delivery"].send(chat.conversation_id, said)
        else:  # closed by the desk: the user hears that the person has left
            result = await tell_user(chat, session.user.name, wording.USER_AGENT_LEFT)
        closed = await run_sync(lambda: store.close(chat.conversation_id, outcome))
        await audit(session, outcome, chat.conversation_id,
                    None if result is None or result.delivered else f"undelivered:{result.code}")
        answer: Dict[str, Any] = {"chat": closed.as_json() if closed else None}
        if result is not None:
            answer.update(delivered=result.delivered, problem=result.problem)
        return answer

    @app.post("/api/v1/chats/{chat_id}/handback")
    async def handback(chat_id: str, session: Session = Depends(changing)):
        chat = await known_chat(chat_id)
        may_act(session, chat)
        return await give_back(chat, session, "handback")

    @app.post("/api/v1/chats/{chat_id}/close")
    async def close(chat_id: str, session: Session = Depends(changing)):
        chat = await known_chat(chat_id)
        if chat.state == ChatState.WAITING.value:
            require_role(session, Role.SUPERVISOR.value)
            closed = await run_sync(lambda: store.close(chat.conversation_id, "closed"))
            await audit(session, "closed", chat.conversation_id)
            return {"chat": closed.as_json() if closed else None}
        may_act(session, chat)
        return await give_back(chat, session, "closed")

    @app.get("/api/v1/canned")
    async def canned(session: Session = Depends(session_of)):
        require_role(session, *DESK_ROLES)
        return list(wording.CANNED_REPLIES)

    # ------------------------------------------------------------------ supervisors
    app.include_router(routes_supervisor.router(
        store=store, auth=auth, desk=desk, rasa=lambda: state["rasa"], session_of=session_of,
        changing=changing, require_role=require_role, known_chat=known_chat, audit=audit))
    # The supervisor's figures page (funnel, handoffs, not understood): console/figures.py
    app.include_router(figures_page.router(
        static_dir=STATIC, handoff_db_url=settings.handoff.db_url, session_of=session_of,
        changing=changing, require_role=require_role, review_queue=lambda: state["review"],
        audit=audit))

    # ------------------------------------------------------------------ review (trainers)
    choices = LabelChoices(ROOT)
    app.include_router(routes_review.router(
        session_of=session_of, changing=changing, require_role=require_role, audit=audit,
        review_queue=lambda: state["review"], choices=choices))

    routes_ui.register(app, store=store, state=state, session_of=session_of, changing=changing,
                       require_role=require_role, audit=audit, choices=choices)

    # ------------------------------------------------------------------ live updates
    @app.get("/api/v1/stream")
    async def stream(request: Request, chat_id: Optional[str] = Query(default=None),
                     session: Session = Depends(session_of)):
        """Server-sent events: ``queue`` when any chat changes, ``chat`` when the open chat's
        transcript grows. Polls the shared database, so every console behind a load balancer
        sees every change."""
        require_role(session, *DESK_ROLES)
        watched = chat_id_ok(chat_id) if chat_id else None
        if watched:
            may_read(session, await known_chat(watched))
        token = request.cookies.get(COOKIE)

        def visible(changes: list) -> list:
            """A supervisor sees every change; an agent those of chats they may read now,
            and that a waiting chat left the queue (taken, closed: its row goes)."""
            if session.user.role == Role.SUPERVISOR.value:
                return changes
            shown = []
            for change in changes:
                chat = store.latest_chat(change["chat_id"])
                if chat is not None and (readable(session, chat) or change["kind"] in (
                        "taken", "reassigned", "closed", "handback")):
                    shown.append(change)
            return shown

        async def events() -> AsyncIterator[str]:
            head = await run_sync(store.feed_head)
            seen_events = -1
            tick = 0
            yield "retry: 1000\n\n"
            while not await request.is_disconnected():
                # Signed out (or expired) ends the stream within a second.
                if tick % 3 == 2 and await run_sync(lambda: auth.session(token)) is None:
                    yield "event: signed_out\ndata: {}\n\n"
                    return
                changes = await run_sync(lambda: store.feed_since(head))
                if changes:
                    head = changes[-1]["id"]
                    changes = await run_sync(lambda: visible(changes))
                if changes:
                    yield f"event: queue\ndata: {json.dumps(changes, ensure_ascii=False)}\n\n"
                if watched and tick % 3 == 0:
                    latest = await run_sync(lambda: store.latest_chat(watched))
                    if latest is None or not readable(session, latest):
                        yield "event: chat_gone\ndata: {}\n\n"
                        return
                    with contextlib.suppress(RasaUnavailable):
                        count = len((await state["rasa"].tracker(watched)).get("events") or [])
                        if count != seen_events:
                            if seen_events >= 0:
                                yield f"event: chat\ndata: {json.dumps({'chat_id': watched})}\n\n"
                            seen_events = count
                if tick % 50 == 49:
                    yield ": keep-alive\n\n"
                tick += 1
                await asyncio.sleep(0.3)

        return StreamingResponse(events(), media_type="text/event-stream",
                                 headers={"X-Accel-Buffering": "no"})

    # ------------------------------------------------------------------ unattended chats
    async def _sweep_unattended() -> None:
        while True:
            await asyncio.sleep(settings.sweep_every_s)
            try:
                if not desk.is_open():
                    continue
                for chat in await run_sync(
                        lambda: store.claim_unattended(settings.handoff.unattended_after_s)):
                    said = await state["rasa"].execute(chat.conversation_id,
                                                       "action_handoff_unattended")
                    result = await state["delivery"].send(chat.conversation_id, said)
                    log.info("unattended chat %s told (%s)", chat.id,
                             "delivered" if result.delivered else result.code)
            except asyncio.CancelledError:
                raise
            except Exception:  # the next sweep tries again
                log.exception("sweep of unattended chats failed")

    return app
