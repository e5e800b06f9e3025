"""The handoff queue: requests for a person, kept where the agent console can read them.

One small table (``handoff_requests``) behind any SQLAlchemy URL (``TUIBAO_HANDOFF_DB_URL``,
SQLite ``var/handoff.db`` by default). Only masked data is written: a masked policy number,
the case number, the reason, never an ID suffix, SMS code or phone number. SQLAlchemy here is
synchronous: callers on an event loop use :func:`record_handoff_async`.
"""
from __future__ import annotations

import asyncio
import datetime as dt
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Optional

from sqlalchemy import Column, DateTime, Integer, MetaData, String, Table, create_engine, select
from sqlalchemy.engine import Engine

from redaction import redact

metadata = MetaData()

handoff_requests = Table(
    "handoff_requests",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("conversation_id", String(128), nullable=False, index=True),
    Column("reason", String(32), nullable=False),  # see HANDOFF_REASONS
    Column("policy_number_masked", String(32)),
    Column("case_number", String(32)),
    Column("last_message_masked", String(500)),
    Column("status", String(16), nullable=False, default="waiting"),  # waiting | taken | closed
    Column("requested_at", DateTime(timezone=True), nullable=False),
)

HANDOFF_REASONS = (
    "user_request", "complaint", "misunderstood", "identity_locked", "insurer_unavailable",
)

_engines: Dict[str, Engine] = {}
_engines_lock = threading.Lock()


def mask_free_text(text: Optional[str], limit: int = 200) -> str:
    """A user's message through the one redaction module, cut to ``limit``."""
    if not text:
        return ""
    return (redact(text) or "")[:limit]


def engine_for(url: str) -> Engine:
    """One engine per URL, created (with its table) on first use, never at import."""
    with _engines_lock:
        engine = _engines.get(url)
        if engine is None:
            if url.startswith("sqlite:///"):
                Path(url[len("sqlite:///"):]).parent.mkdir(parents=True, exist_ok=True)
            engine = create_engine(url, pool_pre_ping=True, future=True)
            metadata.create_all(engine)
            _engines[url] = engine
        return engine


@dataclass(frozen=True)
class HandoffRequest:
    """One waiting (or handled) request for a person, as the console shows it."""

    id: int
    conversation_id: str
    reason: str
    policy_number_masked: Optional[str]
    case_number: Optional[str]
    last_message_masked: str
    status: str
    requested_at: dt.datetime


def record_handoff(url: str, *, conversation_id: str, reason: str,
                   policy_number_masked: Optional[str], case_number: Optional[str],
                   last_message: Optional[str]) -> int:
    """Queue a request for a person; returns its id (the user's reference number)."""
    if reason not in HANDOFF_REASONS:
        raise ValueError(f"unknown handoff reason {reason!r}")
    with engine_for(url).begin() as conn:
        result = conn.execute(handoff_requests.insert().values(
            conversation_id=conversation_id,
            reason=reason,
            policy_number_masked=policy_number_masked,
            case_number=case_number,
            last_message_masked=mask_free_text(last_message),
            status="waiting",
            requested_at=dt.datetime.now(dt.timezone.utc),
        ))
        return int(result.inserted_primary_key[0])


async def record_handoff_async(url: str, **fields) -> int:
    """:func:`record_handoff` off the event loop."""
    loop = asyncio.get_running_loop()
    return await loop.run_in_executor(None, lambda: record_handoff(url, **fields))


def list_handoffs(url: str, status: Optional[str] = "waiting") -> List[HandoffRequest]:
    """Requests oldest first (what the agent console lists); all of them when status is None."""
    query = select(handoff_requests).order_by(handoff_requests.c.requested_at, handoff_requests.c.id)
    if status is not None:
        query = query.where(handoff_requests.c.status == status)
    with engine_for(url).connect() as conn:
        return [HandoffRequest(**dict(row._mapping)) for row in conn.execute(query)]
