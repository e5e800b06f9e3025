"""What Tuibao's processes tell an operator: Prometheus metrics, one trace id per message in
every log line, and the surrender funnel read back from the tracker store.

Ground floor: imports nothing of the project but ``redaction`` (for masking). The processes
wire it in with a line or two each:

- ``observability.tracing``: the trace id of the message being handled (a context variable),
  born where the message arrives or taken from the proxy's ``X-Request-ID`` / ``traceparent``,
  and the header that carries it onward (action server, insurer).
- ``observability.logs``: every log record carries the trace id (readable lines in the demo,
  JSON lines with ``TUIBAO_LOG_FORMAT=json``).
- ``observability.metrics``: the contract's metric names and the calls that move them.
- ``observability.web``: ``GET /metrics`` and the trace middleware for Sanic, FastAPI (ASGI)
  and aiohttp apps; ``observability.rasa_server``: the Rasa server with both.
- ``observability.funnel``: which funnel steps a conversation's events reached (one
  definition for the action server's counters and the report), and the report's figures.
"""
