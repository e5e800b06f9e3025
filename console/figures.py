"""The supervisor's figures page: ``/figures`` and its API, registered by ``create_app``.

The same figures as ``tuibao report funnel`` (``training.report_funnel.funnel_figures``), for
today or a chosen range: the funnel per insurer, where people stopped, handoffs by reason with
their waits, and the messages not understood most often (masked), each one click away from
the trainers' review queue (``training.review``).

The tracker store is the one ``endpoints.yml`` configures (``TUIBAO_TRACKER_STORE_URL``
overrides, e.g. a read replica); the handoff store is the console's own.
"""
from __future__ import annotations

import datetime as dt
import os
from typing import Any, Callable, Dict, Optional

from fastapi import APIRouter, Depends, HTTPException, Query
from fastapi.responses import FileResponse
from pydantic import BaseModel, Field

from console.settings import ROOT
from handoff.store import Role, run_sync
from training.report_funnel import SHANGHAI, day_start, funnel_figures
from training.review import ReviewItem, item_id, tracker_store_url

DATE = r"^\d{4}-\d{2}-\d{2}$"
MAX_RANGE_DAYS = 366


class NotUnderstood(BaseModel):
    text: str = Field(min_length=1, max_length=500)
    count: int = Field(default=1, ge=1)
    conversations: int = Field(default=1, ge=1)


def store_url() -> str:
    return os.environ.get("TUIBAO_TRACKER_STORE_URL") or tracker_store_url(
        ROOT / "endpoints.yml", ROOT)


def router(*, static_dir: Any, handoff_db_url: str, session_of: Callable, changing: Callable,
           require_role: Callable, review_queue: Callable[[], Any], audit: Callable) -> APIRouter:
    """The page and its API (supervisors only)."""
    routes = APIRouter()

    @routes.get("/figures", include_in_schema=False)
    async def page(session=Depends(session_of)):
        require_role(session, Role.SUPERVISOR.value)
        return FileResponse(static_dir / "figures.html")

    @routes.get("/api/v1/figures/report")
    async def report(since: Optional[str] = Query(default=None, pattern=DATE),
                     until: Optional[str] = Query(default=None, pattern=DATE),
                     insurer: Optional[str] = Query(default=None, max_length=64),
                     session=Depends(session_of)) -> Dict[str, Any]:
        require_role(session, Role.SUPERVISOR.value)
        today = dt.datetime.now(SHANGHAI).date().isoformat()
        start, end = day_start(since or today), day_start(until or today, next_day=True)
        if end <= start or (end - start).days > MAX_RANGE_DAYS:
            raise HTTPException(422, f"日期范围须在 1 到 {MAX_RANGE_DAYS} 天之间")
        try:
            figures = await run_sync(lambda: funnel_figures(
                store_url(), handoff_db_url, since=start, until=end, insurer=insurer))
        except Exception as error:  # no tracker store yet (Rasa never ran), unreachable
            raise HTTPException(503, f"读不到对话记录：{type(error).__name__}") from None
        queue = review_queue()
        for entry in figures["not_understood"]:
            entry["review_id"] = item_id(entry["text"])
            found = await run_sync(lambda: queue.get(entry["review_id"]))
            entry["review_status"] = found.status if found else None
        return figures

    @routes.post("/api/v1/figures/review")
    async def to_review(body: NotUnderstood, session=Depends(changing)) -> Dict[str, Any]:
        """Put a not-understood message (as the figures show it: masked) in the trainers'
        queue; a message already there keeps its label."""
        require_role(session, Role.SUPERVISOR.value)
        from redaction import redact

        text = redact(body.text) or ""  # masked again: never trust the page with clear text
        item = ReviewItem(item_id=item_id(text), text=text, predicted_intent="nlu_fallback",
                          confidence=None, reasons=["fallback"], count=body.count,
                          conversations=body.conversations, first_seen="", last_seen="")
        queue = review_queue()
        existing = await run_sync(lambda: queue.get(item.item_id))
        if existing is None:
            await run_sync(lambda: queue.add([item]))
            await audit(session, "review_queue_add", f"review:{item.item_id}")
        return {"review_id": item.item_id, "status": existing.status if existing else "new"}

    return routes
