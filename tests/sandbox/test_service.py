"""The service around the API: its OpenAPI document, faults on demand, sandbox mode, logs."""
import json
import re
import time

import pytest
import requests

from sandbox_insurer.__main__ import OPENAPI_PATH

from .conftest import running_sandbox

P1 = "SBX1000000000012"


def test_repo_openapi_document_matches_what_the_service_serves(sandbox):
    served = sandbox.call("GET", "/openapi.json").json()
    kept = json.loads(OPENAPI_PATH.read_text(encoding="utf-8"))
    assert served == kept, "openapi.json is stale: run `python -m sandbox_insurer --write-openapi`"
    assert "/v1/policies/{policy_number}/surrenders" in served["paths"]


def test_health_reports_the_fixed_today(sandbox):
    assert sandbox.call("GET", "/health").json() == {"status": "ok", "today": "2026-11-25"}


def test_fault_500_then_recovery(sandbox):
    faults = {"latency_ms": 0, "error_rate": 1.0, "error_mode": "500"}
    assert sandbox.call("PUT", "/sandbox/faults", json=faults).json() == faults
    failed = sandbox.verify("31002X", P1)
    assert failed.status_code == 500 and failed.json()["error"] == "internal"
    assert sandbox.sms("13800138000") == []  # the failed call did nothing
    sandbox.call("PUT", "/sandbox/faults", json={"error_rate": 0.0})
    assert sandbox.verify("31002X", P1).status_code == 200


def test_fault_malformed_body(sandbox):
    sandbox.call("PUT", "/sandbox/faults", json={"error_rate": 1, "error_mode": "malformed"})
    response = sandbox.verify("31002X", P1)
    assert response.status_code == 200
    with pytest.raises(ValueError):
        response.json()


def test_fault_hang_times_the_client_out(sandbox):
    sandbox.call("PUT", "/sandbox/faults", json={"error_rate": 1, "error_mode": "hang"})
    with pytest.raises(requests.Timeout):
        sandbox.call("POST", "/v1/identity/verify", timeout=1,
                     json={"policy_number": P1, "id_suffix": "31002X"})
    assert sandbox.call("GET", "/health").status_code == 200  # the service itself still answers


def test_fault_latency(sandbox):
    sandbox.call("PUT", "/sandbox/faults", json={"latency_ms": 400})
    started = time.perf_counter()
    assert sandbox.verify("31002X", P1).status_code == 200
    assert time.perf_counter() - started >= 0.4


def test_fault_settings_are_validated(sandbox):
    for body in ({"error_rate": 1.5}, {"latency_ms": -1}, {"error_mode": "explode"}):
        assert sandbox.call("PUT", "/sandbox/faults", json=body).status_code == 422
    assert sandbox.call("GET", "/sandbox/faults").json()["error_rate"] == 0.0


def test_reset_reseeds_and_puts_the_clock_back(sandbox):
    token = sandbox.login(P1)
    quote = sandbox.quote(P1, token).json()
    sandbox.submit(P1, token, quote["quote_id"], "k")
    sandbox.move_clock(86_400)
    assert sandbox.call("GET", "/health").json()["today"] == "2026-11-26"
    sandbox.reset()
    assert sandbox.call("GET", "/health").json()["today"] == "2026-11-25"
    token = sandbox.login(P1)
    assert sandbox.cases(P1, token) == []


def test_personal_data_never_reaches_the_log(sandbox):
    token = sandbox.login(P1)
    sandbox.verify("000000", P1)
    sandbox.call("GET", "/sandbox/sms", params={"phone": "13800138000"})
    sandbox.call("GET", f"/v1/policies/{P1}", token=token)
    code = sandbox.latest_code("13800138000")
    log = sandbox.log_path.read_text(encoding="utf-8")
    assert "/sandbox/sms?phone=138****8000" in log  # the lines are there, masked
    for secret in ("13800138000", "11010519491231002X", "31002X", token):
        assert secret not in log
    assert not re.search(rf"(?<!\d){code}(?!\d)", log)


def test_sandbox_endpoints_are_off_outside_sandbox_mode(tmp_path):
    with running_sandbox(f"sqlite:///{tmp_path / 'prod.db'}", {"SANDBOX_MODE": "0"},
                         name="sandbox-off") as client:
        for method, path in (("GET", "/sandbox/sms?phone=13800138000"), ("POST", "/sandbox/reset"),
                             ("GET", "/sandbox/faults"), ("PUT", "/sandbox/clock")):
            assert client.call(method, path).status_code == 404, path
        assert client.verify("31002X", P1).status_code == 200  # the API itself works
