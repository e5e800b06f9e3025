"""Signing in and out, and the pages before and around it (``/``, ``/signin``, ``/health``),
included by ``create_app``. A session is an HttpOnly, SameSite=strict cookie; the CSRF token
every state change needs comes back in the answer to sign-in (and to ``GET /api/v1/session``,
for a page that was reloaded). Too many failures lock the account and the source out for a
while (``console.auth``)."""
from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any, Callable

from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import FileResponse, JSONResponse, RedirectResponse
from pydantic import BaseModel, Field

from console.auth import COOKIE, Authenticator, SignInLocked
from console.settings import ConsoleSettings
from handoff.store import run_sync


class SignIn(BaseModel):
    username: str = Field(min_length=1, max_length=64)
    password: str = Field(min_length=1, max_length=200)


def error(status: int, detail: str, **extra: Any) -> JSONResponse:
    """An error answer with more than FastAPI's ``detail`` (a retry time, a delivery code)."""
    return JSONResponse({"detail": detail, **extra}, status_code=status)


def router(*, auth: Authenticator, settings: ConsoleSettings, static_dir: Path,
           session_of: Callable, changing: Callable, audit: Callable) -> APIRouter:
    """The pages and the session API."""
    routes = APIRouter()

    @routes.get("/", include_in_schema=False)
    async def index(request: Request):
        if await run_sync(lambda: auth.session(request.cookies.get(COOKIE))) is None:
            return RedirectResponse("/signin", status_code=303)
        return FileResponse(static_dir / "index.html")

    @routes.get("/signin", include_in_schema=False)
    async def signin_page():
        return FileResponse(static_dir / "signin.html")

    @routes.get("/health", include_in_schema=False)
    async def health():
        return {"status": "ok"}

    @routes.post("/api/v1/session")
    async def sign_in(body: SignIn, request: Request, response: Response):
        source = request.client.host if request.client else None
        try:
            opened = await run_sync(lambda: auth.sign_in(body.username, body.password, source))
        except SignInLocked as locked:
            retry = max(1, int((locked.until - dt.datetime.now(dt.timezone.utc)).total_seconds()))
            return error(429, "登录失败次数过多，请稍后再试", retry_after_s=retry)
        if opened is None:
            return error(401, "用户名或密码不对")
        session, token = opened
        await audit(session, "sign_in")
        response.set_cookie(COOKIE, token, max_age=settings.session_ttl_s, httponly=True,
                            samesite="strict", secure=settings.cookie_secure, path="/")
        return {"csrf_token": session.csrf_token,
                "user": {"name": session.user.name, "role": session.user.role}}

    @routes.get("/api/v1/session")
    async def who_am_i(session=Depends(session_of)):
        """The signed-in user and the CSRF token (for a page that was reloaded)."""
        return {"csrf_token": session.csrf_token,
                "user": {"name": session.user.name, "role": session.user.role}}

    @routes.delete("/api/v1/session")
    async def sign_out(response: Response, session=Depends(changing)):
        await run_sync(lambda: auth.sign_out(session))
        await run_sync(lambda: auth.store.mark_absent(session.user.name))
        await audit(session, "sign_out")
        response.delete_cookie(COOKIE, path="/")
        return {"signed_out": True}

    return routes
