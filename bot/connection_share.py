"""Rasa's Sanic workers share the load of kept-alive connections (issue 23).

Sanic 21.12 runs its workers on one listening socket (the handover supervisor's, bot/handover.py,
or the one Sanic binds before forking). A connection belongs for its whole life to the worker
that accepted it, and Linux wakes the worker that waited last: at the start of a burst one
worker may accept nearly every connection of a client that keeps them alive. Under 20 WeChat
users (bench/load.py, kept-alive connections) ``top -H`` showed one Rasa worker at 85 % of a core
and the other idle, the machine 20 % idle and 28 turns/s; which worker got how many connections
changed from run to run, and so did the throughput (10.9 to 41 turns/s for the same code).

Here a connection that has been answered ``REQUESTS_PER_CONNECTION`` times is closed after its
answer (``Connection: close``, as nginx's ``keepalive_requests`` does). The client opens a new
one for its next request, and that one is accepted by a worker that is waiting for work, not
by the busy one, which is still answering: connections flow to the idle worker until the two
are equally busy. One new connection every few requests costs little; a socket per worker
(SO_REUSEPORT) would spread connections by a hash instead, but a socket held for a worker that
died would keep taking its share of connections with nobody to accept them.

Only with more than one worker (``SANIC_WORKERS``); ``TUIBAO_CONNECTION_REQUESTS=0`` switches it
off. Installed by ``python -m bot.serve`` before observability wraps ``configure_app``.
"""
from __future__ import annotations

import os
from typing import Any

from bot.patching import Patch

REQUESTS_PER_CONNECTION = 8
SWITCH_ENV = "TUIBAO_CONNECTION_REQUESTS"


def requests_per_connection() -> int:
    """How many answers a kept-alive connection gets before it is closed (0: never)."""
    workers = os.environ.get("SANIC_WORKERS", "1")
    if not workers.isdigit() or int(workers) < 2:
        return 0
    value = os.environ.get(SWITCH_ENV, str(REQUESTS_PER_CONNECTION))
    return int(value) if value.isdigit() else REQUESTS_PER_CONNECTION


def wanted() -> bool:
    return requests_per_connection() > 0


def close_after(limit: int):
    """A response middleware: a connection's ``limit``-th answer says ``Connection: close``
    (the limit read once, when the app is made, not on every answer)."""

    async def close_after_its_share(request: Any, response: Any) -> None:
        info = getattr(request, "conn_info", None)
        stream = getattr(request, "stream", None)
        if info is None or stream is None or not hasattr(stream, "keep_alive"):
            return
        served = getattr(info.ctx, "tuibao_answered", 0) + 1
        info.ctx.tuibao_answered = served
        if served >= limit:
            stream.keep_alive = False

    return close_after_its_share


def configure_app(*args: Any, **kwargs: Any) -> Any:
    app = _patch.original(*args, **kwargs)
    limit = requests_per_connection()
    if limit:
        app.register_middleware(close_after(limit), "response")
    return app


_patch = Patch("rasa.core.run", "configure_app", configure_app)


def install() -> None:
    _patch.install()


def uninstall() -> None:
    _patch.uninstall()
