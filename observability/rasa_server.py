"""The Rasa server with ``GET /metrics`` and trace ids: ``python -m observability.rasa_server
run ...`` takes exactly ``rasa``'s arguments (the Procfile's ``rasa`` line).

Open-source Rasa 3.6 has no plugin hook for its server, so this entrypoint wraps three things
before handing over to ``rasa.__main__.main``:

- ``rasa.core.run.configure_app``: the app it returns gets ``/metrics`` and the trace
  middleware (``observability.web.attach_sanic``); logging (set up by then) gets trace ids.
- ``rasa.utils.endpoints.EndpointConfig.request``: every call Rasa makes to the action
  server (and any other endpoint) carries the message's ``X-Request-ID``.
- ``MessageProcessor._handle_message_with_tracker``: a message NLU did not understand
  (intent ``nlu_fallback``) moves ``tuibao_nlu_fallback_total{channel}``.

Turns (``tuibao_turns_total``, ``tuibao_turn_seconds``) are counted by the channels, which see
a message arrive and its last reply leave. Metrics are in multiprocess mode
(``var/metrics/rasa-<port>``): Rasa runs several Sanic workers with a Redis lock store.
"""
from __future__ import annotations

import functools
import sys
from typing import Any, List, Optional

FALLBACK_INTENT = "nlu_fallback"


def port_of(argv: List[str]) -> str:
    for flag in ("-p", "--port"):
        if flag in argv and argv.index(flag) + 1 < len(argv):
            return argv[argv.index(flag) + 1]
    return "5005"


def install() -> None:
    """Wrap Rasa's app factory, endpoint calls and message handling (idempotent)."""
    import rasa.core.run
    from rasa.core.processor import MessageProcessor
    from rasa.utils.endpoints import EndpointConfig

    from observability import logs, metrics, tracing, web

    if getattr(rasa.core.run.configure_app, "_tuibao", False) or not metrics.enabled():
        return
    configure_app = rasa.core.run.configure_app

    @functools.wraps(configure_app)
    def configure_app_observed(*args: Any, **kwargs: Any):
        app = configure_app(*args, **kwargs)
        logs.install()
        web.attach_sanic(app)
        return app

    configure_app_observed._tuibao = True  # type: ignore[attr-defined]
    rasa.core.run.configure_app = configure_app_observed

    request = EndpointConfig.request

    @functools.wraps(request)
    async def request_traced(self: Any, *args: Any, **kwargs: Any):
        outgoing = tracing.outgoing_headers()
        if outgoing:
            kwargs["headers"] = {**outgoing, **(kwargs.get("headers") or {})}
        return await request(self, *args, **kwargs)

    EndpointConfig.request = request_traced

    handle = MessageProcessor._handle_message_with_tracker

    @functools.wraps(handle)
    async def handle_counted(self: Any, message: Any, tracker: Any) -> None:
        await handle(self, message, tracker)
        intent = (tracker.latest_message.intent or {}).get("name") \
            if tracker.latest_message else None
        if intent == FALLBACK_INTENT:
            metrics.count_fallback(message.input_channel)

    MessageProcessor._handle_message_with_tracker = handle_counted


def main(argv: Optional[List[str]] = None) -> None:
    argv = list(sys.argv[1:] if argv is None else argv)
    from observability import metrics

    metrics.prepare_multiprocess("rasa", port_of(argv))  # before anything counts
    install()
    sys.argv = ["rasa", *argv]
    from rasa.__main__ import main as rasa_main

    rasa_main()


if __name__ == "__main__":
    main()
