"""One trace id per message, everywhere.

The id is born where a message arrives (``bind(from_headers(request.headers))``), or taken from
the proxy's ``X-Request-ID`` or W3C ``traceparent``. It lives in a context variable, so every
coroutine and task started while handling the message sees it, and it travels onward in the
``X-Request-ID`` header (``outgoing_headers()``): Rasa -> action server -> insurer. Threads do
not inherit context variables: run blocking work with ``contextvars.copy_context().run``.

The id is 32 lowercase hex digits (a W3C trace id), so an OpenTelemetry collector, a proxy's
access log and our logs can name the same message.
"""
from __future__ import annotations

import contextlib
import contextvars
import re
import secrets
from typing import Iterator, Mapping, Optional

HEADER = "X-Request-ID"
TRACEPARENT = "traceparent"

_current: contextvars.ContextVar[Optional[str]] = contextvars.ContextVar("tuibao_trace_id",
                                                                         default=None)
# Accepted from outside: what a proxy or client may reasonably send (never a log injection).
_ACCEPTED = re.compile(r"^[A-Za-z0-9._:-]{8,64}$")
_TRACEPARENT = re.compile(r"^[0-9a-f]{2}-([0-9a-f]{32})-[0-9a-f]{16}-[0-9a-f]{2}$")


def new_trace_id() -> str:
    return secrets.token_hex(16)


def current() -> Optional[str]:
    """The trace id of the message being handled here, or None outside one."""
    return _current.get()


def from_headers(headers: Optional[Mapping[str, str]]) -> str:
    """The caller's id (``X-Request-ID``, else ``traceparent``'s trace id) or a new one."""
    if headers:
        given = (headers.get(HEADER) or headers.get(HEADER.lower()) or "").strip()
        if _ACCEPTED.match(given):
            return given
        parent = _TRACEPARENT.match((headers.get(TRACEPARENT) or "").strip().lower())
        if parent and parent.group(1) != "0" * 32:
            return parent.group(1)
    return new_trace_id()


def set_current(trace_id: Optional[str]) -> contextvars.Token:
    """Make ``trace_id`` the current one for this context (a request, a task)."""
    return _current.set(trace_id)


@contextlib.contextmanager
def bind(trace_id: Optional[str] = None) -> Iterator[str]:
    """``with bind(id):`` everything inside (and tasks it starts) carries ``id``."""
    trace_id = trace_id or current() or new_trace_id()
    token = _current.set(trace_id)
    try:
        yield trace_id
    finally:
        _current.reset(token)


def outgoing_headers() -> dict:
    """Headers that carry the current trace id to the next service (empty outside one)."""
    trace_id = current()
    return {HEADER: trace_id} if trace_id else {}
