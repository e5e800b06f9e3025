"""The console's HTTP app: the contract's JSON API, server-sent events, the page.

``create_app`` wires the stores and the checks every route shares (who is asking, which chat,
who may read or act on it, the audit log) and includes the routers by concern: pages and
session (``console.routes_session``), the supervisors' (``console.routes_supervisor``), the
figures page (``console.figures``), the trainers' review queue (``console.routes_review``), the calls the
trainer and supervisor pages add (``console.routes_ui``) and the desk's chats with their live
updates (``console.routes_desk``). The sweep of unattended chats runs here, beside the app.

Every call but sign-in needs a session (401), every state change the session's CSRF token in
``X-CSRF-Token`` (403), and a role that may do it (403). Every access to a chat is written to
the audit log. Chats are only those in the handoff queue: the console cannot open any other
conversation of any channel.
"""
from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from pathlib import Path
from typing import Any, Dict, Optional

from fastapi import Depends, FastAPI, Header, HTTPException, Request
from fastapi.staticfiles import StaticFiles

from console import routes_desk, routes_review, routes_session, routes_supervisor, routes_ui
from console.auth import COOKIE, Authenticator, Session
from console import figures as figures_page
from console.delivery import (DeliveryRouter, NoPushDelivery, TelegramDelivery,
                              wechat_delivery_from_env)
from console.rasa_api import RasaApi
from console.routes_desk import DESK_ROLES
from console.routes_review import LabelChoices
from console.settings import ROOT, ConsoleSettings
from observability.web import TraceAndMetrics
from handoff.desk import Desk
from handoff.store import CHAT_ID, ChatState, HandoffChat, HandoffStore, Role, run_sync
from training.review import ReviewQueue

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

    # ------------------------------------------------------------------ the desk: chats, live updates
    app.include_router(routes_desk.router(
        store=store, auth=auth, state=state, session_of=session_of, changing=changing,
        require_role=require_role, chat_id_ok=chat_id_ok, known_chat=known_chat,
        may_read=may_read, readable=readable, may_act=may_act, audit=audit))

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

    # ------------------------------------------------------------------ unattended chats
    async def _sweep_unattended() -> None:
        while True:
            await asyncio.sleep(settings.sweep_every_s)
            try:
                if not desk.is_open() and not await run_sync(
                        lambda: store.people_at_desk(settings.handoff.presence_window_s)):
                    continue  # nobody to take a chat: "客服都在忙" would not be true
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
