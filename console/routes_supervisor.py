"""What only a supervisor does at the desk, included by ``create_app``: reassign a chat (or put
it back in the queue), list the agents, unlock a locked-out colleague, read today's desk figures
and the audit log. The figures page (funnel, handoffs, not understood) is ``console.figures``."""
from __future__ import annotations

import contextlib
import datetime as dt
from typing import Any, Callable, Optional

from fastapi import APIRouter, Depends, HTTPException, Query
from pydantic import BaseModel, Field

from console.auth import Authenticator, users_with_roles
from console.rasa_api import RasaUnavailable
from console.routes_desk import DESK_ROLES
from console.routes_session import error
from handoff.desk import SHANGHAI, Desk
from handoff.store import HandoffStore, Role, run_sync


class Assignment(BaseModel):
    username: Optional[str] = Field(default=None, max_length=64)


def router(*, store: HandoffStore, auth: Authenticator, desk: Desk, rasa: Callable[[], Any],
           session_of: Callable, changing: Callable, require_role: Callable,
           known_chat: Callable, audit: Callable) -> APIRouter:
    """The supervisors' API."""
    routes = APIRouter()

    @routes.post("/api/v1/chats/{chat_id}/assign")
    async def assign(chat_id: str, body: Assignment, session=Depends(changing)):
        require_role(session, Role.SUPERVISOR.value)
        chat = await known_chat(chat_id)
        if body.username is not None:
            names = {u["name"] for u in await run_sync(
                lambda: users_with_roles(store, *DESK_ROLES))}
            if body.username not in names:
                raise HTTPException(422, "没有这个客服账号")
        changed = await run_sync(lambda: store.reassign(chat.conversation_id, body.username))
        if changed is None:
            return error(409, "只有人工处理中的对话可以改派")
        if body.username is None:  # back to the queue: the bot answers while it waits
            with contextlib.suppress(RasaUnavailable):
                await rasa().resume(chat.conversation_id)
        await audit(session, "assign", chat.conversation_id, f"to:{body.username or '-'}")
        return {"chat": changed.as_json()}

    @routes.get("/api/v1/agents")
    async def agents(session=Depends(session_of)):
        require_role(session, Role.SUPERVISOR.value)
        return await run_sync(lambda: users_with_roles(store, *DESK_ROLES))

    @routes.post("/api/v1/users/{username}/unlock")
    async def unlock(username: str, session=Depends(changing)):
        """A supervisor lets a locked-out colleague sign in again (their failures are
        forgotten); ``python -m console.admin unlock`` does the same from a shell."""
        require_role(session, Role.SUPERVISOR.value)
        names = {u["name"] for u in await run_sync(lambda: users_with_roles(
            store, *(r.value for r in Role)))}
        if username not in names:
            raise HTTPException(404, "没有这个账号")
        was_locked = await run_sync(lambda: auth.unlock(username))
        await audit(session, "unlock", None, f"user:{username}")
        return {"unlocked": username, "was_locked": was_locked}

    @routes.get("/api/v1/figures")
    async def figures(session=Depends(session_of)):
        require_role(session, Role.SUPERVISOR.value)
        today = dt.datetime.now(SHANGHAI).replace(hour=0, minute=0, second=0, microsecond=0)
        found = await run_sync(lambda: store.figures(today))
        return {**found, "desk_open": desk.is_open(), "desk_hours": desk.hours_text()}

    @routes.get("/api/v1/audit")
    async def audit_log(chat_id: Optional[str] = Query(default=None, max_length=160),
                        session=Depends(session_of)):
        require_role(session, Role.SUPERVISOR.value)
        entries = await run_sync(lambda: store.audit_entries(chat_id))
        await audit(session, "read_audit", chat_id)
        return entries

    return routes
