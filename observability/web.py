"""``GET /metrics`` and the trace id for each kind of web app the project runs.

- Sanic (Rasa server, action server): ``attach_sanic(app)``.
- ASGI / FastAPI (sandbox insurer, console): ``app.add_middleware(TraceAndMetrics, ...)``;
  ``/metrics`` is answered by the middleware itself, so it appears in no OpenAPI document.
- aiohttp (simulator): ``attach_aiohttp(app)``.

Each binds the request's trace id (``X-Request-ID`` / ``traceparent``, else a new one) for
everything the request does, and returns it in the answer's ``X-Request-ID``.
"""
from __future__ import annotations

import logging
import time
from typing import Any, Awaitable, Callable, Optional, Tuple

from observability import metrics, tracing

METRICS_PATH = "/metrics"
log = logging.getLogger(__name__)


def _refused_text() -> str:
    return "metrics: loopback only, or set TUIBAO_METRICS_TOKEN and send it as a bearer token\n"


# ---------------------------------------------------------------- Sanic
SanicHooks = Tuple[Callable[[Any], Awaitable[None]], Callable[[Any, Any], Awaitable[None]]]


def attach_sanic(app: Any, hooks: Optional[SanicHooks] = None) -> None:
    """``/metrics`` and trace ids on a Sanic app (before it runs). ``hooks``: (before(request),
    after(request, response)) around each request (the action server counts funnel steps)."""
    from sanic import response as sanic_response

    if not metrics.enabled():
        return

    async def serve_metrics(request):
        if not metrics.scrape_allowed(request.headers.get("Authorization"), request.ip):
            return sanic_response.text(_refused_text(), status=403)
        body, content_type = metrics.exposition()
        return sanic_response.raw(body, content_type=content_type)

    app.add_route(serve_metrics, METRICS_PATH, methods=["GET"], name="tuibao_metrics")

    async def bind_trace(request):
        tracing.set_current(tracing.from_headers(request.headers))
        if hooks is not None:
            try:
                await hooks[0](request)
            except Exception:  # counting must never break an answer
                log.exception("before-request hook failed")

    async def answer_trace(request, response):
        trace_id = tracing.current()
        if trace_id and response is not None:
            response.headers[tracing.HEADER] = trace_id
        if hooks is not None and response is not None:
            try:
                await hooks[1](request, response)
            except Exception:  # counting must never break an answer
                log.exception("after-response hook failed")

    app.register_middleware(bind_trace, "request")
    app.register_middleware(answer_trace, "response")


# ---------------------------------------------------------------- ASGI
class TraceAndMetrics:
    """Pure ASGI middleware: binds the trace id, answers ``GET /metrics``, and logs one line
    per request on ``access_logger`` (with the trace id, so the request shows in a grep)."""

    def __init__(self, app: Any, access_logger: Optional[str] = None) -> None:
        self.app = app
        self.access = logging.getLogger(access_logger) if access_logger else None

    async def __call__(self, scope, receive, send):
        if scope.get("type") != "http" or not metrics.enabled():
            return await self.app(scope, receive, send)
        headers = {k.decode("latin-1").lower(): v.decode("latin-1")
                   for k, v in scope.get("headers", [])}
        with tracing.bind(tracing.from_headers(headers)) as trace_id:
            if scope.get("path") == METRICS_PATH and scope.get("method") == "GET":
                return await self._metrics(scope, headers, send)
            started = time.monotonic()
            status = {"code": 0}

            async def send_traced(message):
                if message["type"] == "http.response.start":
                    status["code"] = message["status"]
                    message = {**message, "headers": [*message.get("headers", []), (
                        tracing.HEADER.lower().encode(), trace_id.encode())]}
                await send(message)

            try:
                await self.app(scope, receive, send_traced)
            finally:
                if self.access is not None:
                    self.access.info("%s %s -> %s in %d ms", scope.get("method"),
                                     scope.get("path"), status["code"],
                                     (time.monotonic() - started) * 1000)

    async def _metrics(self, scope, headers, send):
        client = (scope.get("client") or ("", 0))[0]
        if metrics.scrape_allowed(headers.get("authorization"), client):
            body, content_type = metrics.exposition()
            status = 200
        else:
            body, content_type, status = _refused_text().encode(), "text/plain", 403
        await send({"type": "http.response.start", "status": status,
                    "headers": [(b"content-type", content_type.encode()),
                                (b"content-length", str(len(body)).encode())]})
        await send({"type": "http.response.body", "body": body})


# ---------------------------------------------------------------- aiohttp
def attach_aiohttp(app: Any) -> None:
    """``/metrics`` and trace ids on an aiohttp application (before it starts)."""
    from aiohttp import web

    if not metrics.enabled():
        return
    @web.middleware
    async def trace(request, handler):
        with tracing.bind(tracing.from_headers(request.headers)) as trace_id:
            answer = await handler(request)
            answer.headers[tracing.HEADER] = trace_id
            return answer

    async def serve_metrics(request):
        if not metrics.scrape_allowed(request.headers.get("Authorization"), request.remote):
            return web.Response(text=_refused_text(), status=403)
        body, content_type = metrics.exposition()
        return web.Response(body=body, headers={"Content-Type": content_type})

    app.middlewares.append(trace)
    app.router.add_get(METRICS_PATH, serve_metrics)
