"""The desk: the chats of the handoff queue as agents work them, included by ``create_app``.
List, open (the transcript, what the bot knows), take (the bot pauses), reply through the
user's channel, note, flag a reply for the trainers, hand back to the bot or close; the canned
replies; and the live updates (server-sent events) the inbox and the open chat follow."""
from __future__ import annotations

import asyncio
import contextlib
import json
from typing import Any, AsyncIterator, Callable, Dict, Literal, Optional

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, Field

from console import transcript, wording
from console.auth import COOKIE, Authenticator, Session
from console.rasa_api import RasaUnavailable
from console.routes_review import review_json, review_ref
from console.routes_session import error
from handoff.store import DESK_ROLES, ChatState, HandoffChat, HandoffStore, Role, run_sync
from training.review import flag_agent_reply

# The live stream ticks every 0.3 s; every 50 ticks (15 s) it notes that its person is at the
# desk. ``TUIBAO_DESK_PRESENCE_S`` (default 60 s) must stay above that.
PRESENCE_EVERY_TICKS = 50


class AgentText(BaseModel):
    text: str = Field(min_length=1, max_length=2000)


class FlagReply(BaseModel):
    at: str = Field(min_length=1, max_length=64)  # the agent turn's time, as the transcript has it


def router(*, store: HandoffStore, auth: Authenticator, state: Dict[str, Any],
           session_of: Callable, changing: Callable, require_role: Callable,
           chat_id_ok: Callable, known_chat: Callable, may_read: Callable, readable: Callable,
           may_act: Callable, audit: Callable) -> APIRouter:
    """The desk's API; ``state`` holds the Rasa client, the delivery router and the review
    queue once the app has started."""
    routes = APIRouter()

    @routes.get("/api/v1/chats")
    async def list_chats(state: Literal["waiting", "mine", "all"] = "waiting",
                         session: Session = Depends(session_of)):
        require_role(session, *DESK_ROLES)
        chats = await run_sync(lambda: store.list_chats(state, session.user.name))
        return [chat.as_json() for chat in chats if readable(session, chat)]

    @routes.get("/api/v1/chats/{chat_id}")
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

    @routes.post("/api/v1/chats/{chat_id}/take")
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
        """A desk notice to the user (a person joined or left), kept in the transcript as the
        desk's, not as the agent's own words: no 作为训练样本 on it (the journeys' finding 12)."""
        result = await state["delivery"].send(chat.conversation_id, [{"text": text}])
        await run_sync(lambda: store.add_turn(chat, author, "notice", text, result.delivered,
                                              result.problem))
        return result

    @routes.post("/api/v1/chats/{chat_id}/messages")
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

    @routes.post("/api/v1/chats/{chat_id}/flag")
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

    @routes.post("/api/v1/chats/{chat_id}/notes")
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

    @routes.post("/api/v1/chats/{chat_id}/handback")
    async def handback(chat_id: str, session: Session = Depends(changing)):
        chat = await known_chat(chat_id)
        may_act(session, chat)
        return await give_back(chat, session, "handback")

    @routes.post("/api/v1/chats/{chat_id}/close")
    async def close(chat_id: str, session: Session = Depends(changing)):
        chat = await known_chat(chat_id)
        if chat.state == ChatState.WAITING.value:
            require_role(session, Role.SUPERVISOR.value)
            closed = await run_sync(lambda: store.close(chat.conversation_id, "closed"))
            await audit(session, "closed", chat.conversation_id)
            return {"chat": closed.as_json() if closed else None}
        may_act(session, chat)
        return await give_back(chat, session, "closed")

    @routes.get("/api/v1/canned")
    async def canned(session: Session = Depends(session_of)):
        require_role(session, *DESK_ROLES)
        return list(wording.CANNED_REPLIES)

    @routes.get("/api/v1/stream")
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
                if tick % PRESENCE_EVERY_TICKS == 0:  # this person is at the desk (issue 19.7)
                    # A note that fails costs only that: after hours the bot then gives the
                    # desk's hours, which is true either way; the stream goes on.
                    with contextlib.suppress(Exception):
                        await run_sync(lambda: store.mark_present(session.user.name,
                                                                  session.user.role))
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

    return routes
