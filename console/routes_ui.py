"""The console's page-shaped calls, beyond the contract's API: what the trainer page needs to fill
and read its queue without a command line, and the supervisor's satisfaction figure.

- ``GET  /api/v1/review/label-names`` (trainer, supervisor): every label with its Chinese name,
  an example from the training data and, for an insurer's own intent, the insurer's name.
- ``POST /api/v1/review/import`` (trainer, supervisor; CSRF): what ``tuibao review export``
  does, on demand: the not-understood, low-score, corrected and handed-off user messages of the
  tracker store (``$TUIBAO_TRACKER_STORE_URL``, else endpoints.yml's SQL tracker store), masked,
  deduplicated and counted, into the review queue. Labels already given are kept.
- ``GET  /api/v1/satisfaction`` (supervisor): the users' one-tap ratings of chats closed today
  (Asia/Shanghai): how many, each answer's count, and the average on 1 (不满意) to 3 (满意).

Registered from ``console.app.create_app`` with the app's own session and role checks.
"""
from __future__ import annotations

import datetime as dt
import logging
import os
import re
import time
from pathlib import Path
from typing import Any, Awaitable, Callable, Dict

import yaml
from fastapi import Depends, FastAPI, HTTPException
from sqlalchemy import and_, func, select
from sqlalchemy.engine import URL

from console.labels import described_labels
from console.settings import ROOT
from handoff.desk import SHANGHAI
from handoff.store import Role, handoff_chats, run_sync
from training import review

log = logging.getLogger(__name__)
REVIEW_ROLES = (Role.TRAINER.value, Role.SUPERVISOR.value)
# The answers of the satisfaction question (actions/handoff.py RATINGS) on a 1-3 scale.
RATING_SCORES = {"bad": 1, "ok": 2, "good": 3}
NAMES_FRESH_S = 60.0


def tracker_store_url() -> str:
    """Where the bot's conversations are: ``$TUIBAO_TRACKER_STORE_URL``, else the SQL tracker
    store of endpoints.yml (``$TUIBAO_ENDPOINTS``). Only that section is read, its ``${VAR}``
    values from the environment, so the console needs none of the other sections' secrets."""
    configured = os.environ.get("TUIBAO_TRACKER_STORE_URL")
    if configured:
        return configured
    path = ROOT / (os.environ.get("TUIBAO_ENDPOINTS") or "endpoints.yml")
    try:
        section = (yaml.safe_load(path.read_text(encoding="utf-8")) or {}).get("tracker_store")
    except (OSError, yaml.YAMLError) as error:
        raise ValueError(f"cannot read {path.name}: {type(error).__name__}") from None
    if not isinstance(section, dict) or "SQLTrackerStore" not in str(section.get("type")) \
            and str(section.get("type")).lower() != "sql":
        raise ValueError(f"{path.name} has no SQL tracker store; set TUIBAO_TRACKER_STORE_URL")
    value = {key: os.path.expandvars(str(item)) for key, item in section.items()
             if item is not None}
    unset = sorted({m for v in value.values() for m in re.findall(r"\$\{(\w+)\}", v)})
    if unset:
        raise ValueError(f"{path.name}'s tracker store needs {', '.join(unset)} set")
    dialect = value.get("dialect", "sqlite")
    db = value.get("db", "rasa.db")
    if dialect == "sqlite":
        return f"sqlite:///{db if Path(db).is_absolute() else ROOT / db}"
    return URL.create(dialect, username=value.get("username"), password=value.get("password"),
                      host=value.get("url"), port=int(value["port"]) if value.get("port") else None,
                      database=db).render_as_string(hide_password=False)


def satisfaction(store, day_start: dt.datetime) -> Dict[str, Any]:
    """Ratings of the chats closed since ``day_start``."""
    query = (select(handoff_chats.c.rating, func.count())
             .where(and_(handoff_chats.c.rating.is_not(None),
                         handoff_chats.c.closed_at >= day_start))
             .group_by(handoff_chats.c.rating))
    with store.engine.connect() as conn:
        counts = {rating: int(count) for rating, count in conn.execute(query)
                  if rating in RATING_SCORES}
    rated = sum(counts.values())
    total = sum(RATING_SCORES[rating] * count for rating, count in counts.items())
    return {"rated": rated, "average": round(total / rated, 2) if rated else None,
            "scale": max(RATING_SCORES.values()),
            "counts": {rating: counts.get(rating, 0) for rating in ("good", "ok", "bad")}}


def register(app: FastAPI, *, store, state: Dict[str, Any],
             session_of: Callable[..., Awaitable[Any]],
             changing: Callable[..., Awaitable[Any]],
             require_role: Callable[..., None],
             audit: Callable[..., Awaitable[None]],
             choices: Callable[[], Awaitable[Dict[str, str]]]) -> None:
    names_cache: Dict[str, Any] = {"at": -NAMES_FRESH_S, "names": {}, "for": None}

    @app.get("/api/v1/review/label-names")
    async def review_label_names(session=Depends(session_of)):
        require_role(session, *REVIEW_ROLES)
        current = await choices()
        if (time.monotonic() - names_cache["at"] >= NAMES_FRESH_S
                or names_cache["for"] != sorted(current)):
            names_cache["names"] = await run_sync(lambda: described_labels(ROOT, current))
            names_cache["at"], names_cache["for"] = time.monotonic(), sorted(current)
        return names_cache["names"]

    @app.post("/api/v1/review/import")
    async def review_import(session=Depends(changing)):
        require_role(session, *REVIEW_ROLES)
        queue = state["review"]

        def pull() -> Dict[str, Any]:
            items = review.collect(tracker_store_url())
            known = {item.item_id for item in items if queue.get(item.item_id) is not None}
            queue.add(items)
            return {"found": len(items), "new": len(items) - len(known),
                    "waiting": len(queue.items(status="new", limit=100000))}

        try:
            done = await run_sync(pull)
        except review.TrackerStoreUnavailable:
            log.warning("review import: the tracker store cannot be read yet")
            raise HTTPException(503, "还读不到机器人的对话记录（机器人还没有和用户对话过？）")
        except ValueError:
            log.exception("review import: no SQL tracker store configured")
            raise HTTPException(503, "没有配置可读取的对话记录库，请联系维护人员")
        await audit(session, "review_import", None, f"found {done['found']} new {done['new']}")
        return done

    @app.get("/api/v1/satisfaction")
    async def satisfaction_today(session=Depends(session_of)):
        require_role(session, Role.SUPERVISOR.value)
        today = dt.datetime.now(SHANGHAI).replace(hour=0, minute=0, second=0, microsecond=0)
        return await run_sync(lambda: satisfaction(store, today))
