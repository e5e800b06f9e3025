"""The trainers' review queue over HTTP (``/api/v1/review/…``), included by ``create_app``:
the messages the bot did not understand well, listed masked, labelled with an intent the project
knows or rejected; every label and rejection is in the audit log. The queue itself is
``training.review``; its page is ``/review`` (``console.routes_ui``)."""
from __future__ import annotations

import logging
import re
import time
from pathlib import Path
from typing import Any, Callable, Dict, Literal

from fastapi import APIRouter, Depends, HTTPException, Query
from pydantic import BaseModel, Field

from handoff.store import Role, run_sync
from redaction import redact
from training.review import ReviewItem, label_choices

log = logging.getLogger(__name__)
REVIEW_ROLES = (Role.TRAINER.value, Role.SUPERVISOR.value)
REVIEW_ITEM_ID = re.compile(r"^[0-9a-f]{1,16}$")
LABELS_FRESH_S = 60.0  # a new intent (tuibao intent new) shows up in the dropdown within a minute


class ReviewLabel(BaseModel):
    label: str = Field(min_length=1, max_length=100)


def review_json(item: ReviewItem) -> Dict[str, Any]:
    """A review item as the trainer page shows it; its text was masked at export (and is
    again, for rows exported before a masking rule was added)."""
    return {"id": item.item_id, "text": redact(item.text), "predicted_intent": item.predicted_intent,
            "confidence": item.confidence, "reasons": item.reasons, "count": item.count,
            "conversations": item.conversations, "first_seen": item.first_seen,
            "last_seen": item.last_seen, "status": item.status, "label": item.label,
            "labelled_by": item.labelled_by}


class LabelChoices:
    """Every label a trainer may give (intent -> ``core`` or an insurer id), re-read from the
    project's data at most once a minute (reading it takes about half a second)."""

    def __init__(self, root: Path) -> None:
        self._root = root
        self._at = -LABELS_FRESH_S
        self._choices: Dict[str, str] = {}

    async def __call__(self) -> Dict[str, str]:
        if time.monotonic() - self._at >= LABELS_FRESH_S:
            try:
                self._choices = await run_sync(lambda: label_choices(self._root))
            except Exception:  # a broken data file: say so, the trainer cannot fix it here
                log.exception("could not read the label choices")
                raise HTTPException(503, "读不到意图列表，请让维护训练数据的同事运行 tuibao data lint")
            self._at = time.monotonic()
        return self._choices


def review_ref(item: ReviewItem) -> str:
    """The audit log's reference of a review item, like a chat's: its detail column is
    redacted, and an item id's digit runs would be masked there as if they were a code."""
    return f"review:{item.item_id}"


def router(*, session_of: Callable, changing: Callable, require_role: Callable, audit: Callable,
           review_queue: Callable[[], Any], choices: LabelChoices) -> APIRouter:
    """The review API (trainers and supervisors)."""
    routes = APIRouter()

    async def known_item(item_id: str) -> ReviewItem:
        item = (await run_sync(lambda: review_queue().get(item_id))
                if REVIEW_ITEM_ID.match(item_id) else None)
        if item is None:
            raise HTTPException(404, "没有这条待标注的消息")
        return item

    @routes.get("/api/v1/review/items")
    async def review_items(status: Literal["new", "labelled", "rejected", "imported"] = "new",
                           limit: int = Query(default=100, ge=1, le=500),
                           session=Depends(session_of)):
        require_role(session, *REVIEW_ROLES)
        items = await run_sync(lambda: review_queue().items(status=status, limit=limit))
        return {"status": status, "count": len(items), "items": [review_json(i) for i in items]}

    @routes.get("/api/v1/review/labels")
    async def review_labels(session=Depends(session_of)):
        require_role(session, *REVIEW_ROLES)
        grouped: Dict[str, Any] = {"core": [], "insurers": {}}
        for intent, owner in sorted((await choices()).items()):
            if owner == "core":
                grouped["core"].append(intent)
            else:
                grouped["insurers"].setdefault(owner, []).append(intent)
        return grouped

    @routes.post("/api/v1/review/items/{item_id}/label")
    async def review_label(item_id: str, body: ReviewLabel, session=Depends(changing)):
        require_role(session, *REVIEW_ROLES)
        item = await known_item(item_id)
        label = body.label.strip()
        if label not in await choices():
            raise HTTPException(422, f"没有这个意图：{label[:100]}")
        labelled = await run_sync(lambda: review_queue().set_label(
            item.item_id, label, labelled_by=session.user.name))
        await audit(session, "review_label", review_ref(item), f"label {label}")
        return {"item": review_json(labelled)}

    @routes.post("/api/v1/review/items/{item_id}/reject")
    async def review_reject(item_id: str, session=Depends(changing)):
        require_role(session, *REVIEW_ROLES)
        item = await known_item(item_id)
        rejected = await run_sync(lambda: review_queue().reject(
            item.item_id, labelled_by=session.user.name))
        await audit(session, "review_reject", review_ref(item))
        return {"item": review_json(rejected)}

    return routes
