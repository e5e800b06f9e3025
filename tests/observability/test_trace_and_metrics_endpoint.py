"""``GET /metrics`` is open on loopback only, or to the bearer of TUIBAO_METRICS_TOKEN; a
request's X-Request-ID (or traceparent) becomes the trace id of every log line it causes."""
from __future__ import annotations

import logging

import pytest
from fastapi import FastAPI
from starlette.testclient import TestClient

from observability import logs, metrics, tracing
from observability.web import TraceAndMetrics


def _app() -> FastAPI:
    app = FastAPI()

    @app.get("/quote")
    async def quote():
        logging.getLogger("tests.observability").info("quote for SBX1000000000012 to 13800138000")
        return {"ok": True}

    app.add_middleware(TraceAndMetrics, access_logger="tests.observability.requests")
    return app


def test_metrics_refused_off_loopback_without_a_token(monkeypatch):
    monkeypatch.delenv(metrics.TOKEN_ENV, raising=False)
    # Starlette's test client calls from "testclient", not from loopback.
    assert TestClient(_app()).get("/metrics").status_code == 403
    assert metrics.scrape_allowed(None, "127.0.0.1") and metrics.scrape_allowed(None, "::1")
    assert not metrics.scrape_allowed(None, "10.0.0.8")


def test_metrics_with_the_production_token(monkeypatch):
    monkeypatch.setenv(metrics.TOKEN_ENV, "s3cret-metrics-token")
    client = TestClient(_app())
    assert client.get("/metrics").status_code == 403
    assert client.get("/metrics", headers={"Authorization": "Bearer wrong"}).status_code == 403
    answer = client.get("/metrics", headers={"Authorization": "Bearer s3cret-metrics-token"})
    assert answer.status_code == 200 and "tuibao_turns_total" in answer.text
    # Even loopback needs the token once one is set.
    assert not metrics.scrape_allowed(None, "127.0.0.1")


@pytest.mark.parametrize("headers, expected", [
    ({"X-Request-ID": "proxy-req-0001"}, "proxy-req-0001"),
    ({"traceparent": "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"},
     "4bf92f3577b34da6a3ce929d0e0e4736"),
    ({"X-Request-ID": "bad id\nwith a newline"}, None),  # never copied into a log line
])
def test_the_callers_id_names_every_log_line(headers, expected, caplog):
    logs.install()
    caplog.set_level(logging.INFO)
    answer = TestClient(_app()).get("/quote", headers=headers)
    trace_id = answer.headers["X-Request-ID"]
    if expected:
        assert trace_id == expected
    else:
        assert len(trace_id) == 32 and "\n" not in trace_id
    lines = [r.getMessage() for r in caplog.records if r.name.startswith("tests.observability")]
    assert len(lines) == 2 and all(line.endswith(f"[trace {trace_id}]") for line in lines)
    assert not any("13800138000" in line for line in lines)  # masked before the id is added
    assert tracing.current() is None  # nothing leaks past the request


def test_json_lines_carry_the_trace_id_as_a_field():
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "hello %s", ("world",), None)
    record.trace_id = "abc"
    line = logs.JsonFormatter().format(record)
    assert '"trace_id": "abc"' in line and '"message": "hello world"' in line
