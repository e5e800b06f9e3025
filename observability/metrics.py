"""The contract's metrics ("Metrics and the insurer's report") and the calls that move them.

Each process counts its own share and serves it at ``GET /metrics`` (``observability.web``);
Prometheus adds the shares up. Processes that fork Sanic workers (Rasa, the action server)
call ``prepare_multiprocess(group, port)`` first thing: prometheus_client's multiprocess mode,
one directory per process group (``var/metrics/<group>-<port>``, emptied at start), read by
whichever worker answers the scrape.

prometheus_client is imported on first use, never at import time: the multiprocess directory
must be chosen before it loads.

``/metrics`` answers loopback callers without a token (the demo). With
``TUIBAO_METRICS_TOKEN`` set (production) it wants ``Authorization: Bearer <token>`` from
everyone, and never answers without it.
"""
from __future__ import annotations

import atexit
import contextlib
import hmac
import ipaddress
import os
import shutil
import threading
import time
from pathlib import Path
from typing import Any, Dict, Iterator, Optional, Tuple

from observability import tracing

FUNNEL_STEPS = ("started", "verified", "quoted", "confirmed", "case_created", "withdrawn")
TURN_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 3.0, 4.0, 5.0, 7.5, 10.0, 20.0)
INSURER_BUCKETS = (0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 4.0, 8.0, 15.0)
WAIT_BUCKETS = (10, 30, 60, 120, 300, 600, 1200, 1800, 3600, 7200)
MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
TOKEN_ENV = "TUIBAO_METRICS_TOKEN"
# "off": no metric counted, no trace id bound or logged, Rasa unwrapped (the overhead
# benchmark's baseline, bench/observability_overhead.py).
ENABLED_ENV = "TUIBAO_OBSERVABILITY"

_lock = threading.Lock()
_metrics: Dict[str, Any] = {}


def enabled() -> bool:
    return os.environ.get(ENABLED_ENV, "on").strip().lower() not in ("off", "0", "false", "no")


def prepare_multiprocess(group: str, port: Any, root: Optional[Path] = None) -> Optional[Path]:
    """Multiprocess mode for a process group that forks workers: ``PROMETHEUS_MULTIPROC_DIR``
    as given by the operator, else ``<root>/var/metrics/<group>-<port>``, emptied now (values
    of a previous run must not be added to this one's). Call before anything counts."""
    given = os.environ.get(MULTIPROC_ENV)
    if given:
        path = Path(given)
    else:
        base = Path(os.environ.get("TUIBAO_METRICS_DIR")
                    or (root or Path.cwd()) / "var" / "metrics")
        path = base / f"{group}-{port}"
        shutil.rmtree(path, ignore_errors=True)
        os.environ[MULTIPROC_ENV] = str(path)
        owner = os.getpid()  # forked workers inherit the handler: only the parent removes
        atexit.register(lambda: os.getpid() == owner and shutil.rmtree(path, ignore_errors=True))
    path.mkdir(parents=True, exist_ok=True)
    return path


def _get() -> Dict[str, Any]:
    if _metrics:
        return _metrics
    with _lock:
        if not _metrics:
            from prometheus_client import Counter, Histogram

            _metrics.update(
                turns=Counter("tuibao_turns_total", "User messages handled", ["channel"]),
                turn_seconds=Histogram(
                    "tuibao_turn_seconds",
                    "From a message's arrival at its channel to its last reply handed over",
                    ["channel"], buckets=TURN_BUCKETS),
                fallback=Counter("tuibao_nlu_fallback_total", "Messages not understood",
                                 ["channel"]),
                funnel=Counter("tuibao_surrender_funnel_total",
                               "Surrender steps reached, once per conversation and policy",
                               ["insurer", "step"]),
                insurer=Histogram("tuibao_insurer_call_seconds", "Every call to an insurer's API",
                                  ["insurer", "operation", "outcome"], buckets=INSURER_BUCKETS),
                handoffs=Counter("tuibao_handoff_total", "Handoffs requested", ["reason"]),
                handoff_wait=Histogram("tuibao_handoff_wait_seconds",
                                       "From a handoff request to an agent taking it",
                                       buckets=WAIT_BUCKETS),
            )
    return _metrics


def observe_turn(channel: str, seconds: float) -> None:
    """One user message handled by ``channel`` in ``seconds`` (arrival to last reply)."""
    if enabled():
        found = _get()
        found["turns"].labels(channel).inc()
        found["turn_seconds"].labels(channel).observe(max(0.0, seconds))


@contextlib.contextmanager
def turn(channel: str, new_trace: bool = False) -> Iterator[None]:
    """``with turn("wechat"):`` around one user message's handling, up to its last reply
    handed over: counts and times it (also when it fails). The message keeps the trace id of
    the request it arrived with; ``new_trace`` gives it its own (a channel whose turns run in
    a worker shared by several requests)."""
    if not enabled():
        yield
        return
    started = time.monotonic()
    with tracing.bind(tracing.new_trace_id() if new_trace else None):
        try:
            yield
        finally:
            observe_turn(channel, time.monotonic() - started)


def count_fallback(channel: Optional[str]) -> None:
    """A message of ``channel`` that NLU did not understand."""
    if enabled():
        _get()["fallback"].labels(channel or "unknown").inc()


def funnel_step(insurer: str, step: str) -> None:
    """A conversation reached ``step`` for a policy of ``insurer`` (first time only: the
    caller decides, ``observability.funnel.new_steps``)."""
    if step not in FUNNEL_STEPS:
        raise ValueError(f"unknown funnel step {step!r}")
    if enabled():
        _get()["funnel"].labels(insurer or "unknown", step).inc()


def observe_insurer_call(insurer: str, operation: str, outcome: str, seconds: float) -> None:
    if enabled():
        _get()["insurer"].labels(insurer, operation, outcome).observe(max(0.0, seconds))


def handoff_requested(reason: str) -> None:
    if enabled():
        _get()["handoffs"].labels(reason).inc()


def handoff_taken(wait_seconds: float) -> None:
    if enabled():
        _get()["handoff_wait"].observe(max(0.0, wait_seconds))


# ---------------------------------------------------------------- exposition
def exposition() -> Tuple[bytes, str]:
    """(body, content type) of this process's metrics (all workers' in multiprocess mode)."""
    from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, \
        generate_latest

    _get()  # declared before the first scrape
    if os.environ.get(MULTIPROC_ENV):
        from prometheus_client import multiprocess

        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        return generate_latest(registry), CONTENT_TYPE_LATEST
    return generate_latest(REGISTRY), CONTENT_TYPE_LATEST


def scrape_allowed(authorization: Optional[str], client_ip: Optional[str]) -> bool:
    """Token set: the bearer token must match (constant time). No token: loopback only."""
    token = os.environ.get(TOKEN_ENV, "")
    if token:
        scheme, _, presented = (authorization or "").partition(" ")
        return scheme.lower() == "bearer" and hmac.compare_digest(
            presented.strip().encode(), token.encode())
    try:
        return ipaddress.ip_address((client_ip or "").split("%")[0]).is_loopback
    except ValueError:
        return False
