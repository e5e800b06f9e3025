"""Which calls the adapter repeats, against a tiny counting HTTP server started here.

The sandbox cannot tell us how many requests reached it, so this stand-in counts them: it
answers every request with the status the test chooses. Behaviour against the real insurer
API is in test_sandbox_adapter.py.
"""
from __future__ import annotations

import asyncio
import datetime as dt
import json
import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Iterator, List, Tuple

import pytest

from insurers.base import (HolderSession, InsurerUnavailable, NotRevocable, SessionExpired, SurrenderCase,
                           SurrenderQuote)
from insurers.http import CallLimits, RestInsurerAdapter
from harness.services import free_port



SESSION = HolderSession(token="t0k3n", policy_number="SBX1000000000012",
                        expires_at=dt.datetime(2026, 11, 25, 12, 0, tzinfo=dt.timezone.utc))
CASE = {"case_number": "TB20261125000001", "policy_number": "SBX1000000000012", "product_name": "意外险",
        "state": "APPLY", "submitted_on": "2026-11-25", "expected_refund_date": "2026-12-01",
        "legal_latest_date": "2026-12-25", "refund_fen": 4719,
        "refund_route": {"kind": "bank_card", "display": "招商银行 尾号6789"},
        "updated_at": "2026-11-25T10:00:00+08:00"}


class CountingInsurer:
    """Answers with ``self.status``/``self.body``; records (method, path, idempotency key)."""

    def __init__(self) -> None:
        self.status = 500
        self.body: object = {"error": "internal"}
        self.requests: List[Tuple[str, str, str]] = []
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def _answer(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                self.rfile.read(length)
                owner.requests.append((self.command, self.path, self.headers.get("Idempotency-Key", "")))
                payload = json.dumps(owner.body).encode()
                self.send_response(owner.status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            do_GET = do_POST = _answer

            def log_message(self, *args: object) -> None:  # keep test output quiet
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    def count(self) -> Counter:
        return Counter((method, path) for method, path, _ in self.requests)


@pytest.fixture
def insurer() -> Iterator[CountingInsurer]:
    server = CountingInsurer()
    thread = threading.Thread(target=server.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield server
    server.server.shutdown()
    server.server.server_close()


@pytest.fixture
def adapter(insurer: CountingInsurer) -> Iterator[RestInsurerAdapter]:
    limits = CallLimits(connect_timeout=0.5, read_timeout=1.0, call_budget=3.0, max_attempts=3,
                        backoff_base=0.05, backoff_max=0.1)
    adapter = RestInsurerAdapter(insurer.url, "test-key", limits=limits)
    yield adapter
    adapter.close()


def test_calls_that_must_not_repeat_are_sent_once_on_a_server_error(insurer, adapter):
    async def calls():
        return [
            await adapter.verify_holder(policy_number="SBX1000000000012", id_suffix="31002X"),
            await adapter.confirm_code("challenge-1", "123456"),
            await adapter.quote(SESSION),
        ]

    outcomes = asyncio.run(calls())
    assert all(isinstance(o, InsurerUnavailable) for o in outcomes)
    # one verify = one SMS to the holder; one confirm = one use of a single-use code
    assert insurer.count() == Counter({
        ("POST", "/v1/identity/verify"): 1,
        ("POST", "/v1/identity/confirm"): 1,
        ("POST", "/v1/policies/SBX1000000000012/quotes"): 1,
    })


def test_idempotent_calls_are_retried_a_bounded_number_of_times(insurer, adapter):
    async def calls():
        return [
            await adapter.policy_summary(SESSION),
            await adapter.list_cases(SESSION),
            await adapter.withdraw(SESSION, "TB20261125000001"),
        ]

    outcomes = asyncio.run(calls())
    assert all(isinstance(o, InsurerUnavailable) for o in outcomes)
    assert insurer.count() == Counter({
        ("GET", "/v1/policies/SBX1000000000012"): 3,
        ("GET", "/v1/policies/SBX1000000000012/cases"): 3,
        ("POST", "/v1/cases/TB20261125000001/revoke"): 3,
    })


def test_submit_is_retried_only_with_its_one_idempotency_key(insurer, adapter):
    outcome = asyncio.run(adapter.submit(SESSION, "quote-1", "key-abc"))
    assert isinstance(outcome, InsurerUnavailable)
    assert insurer.requests == [("POST", "/v1/policies/SBX1000000000012/surrenders", "key-abc")] * 3


def test_a_recovered_insurer_answers_within_the_retries(insurer, adapter):
    insurer.status, insurer.body = 201, CASE

    outcome = asyncio.run(adapter.submit(SESSION, "quote-1", "key-abc"))
    assert isinstance(outcome, SurrenderCase) and outcome.case_number == "TB20261125000001"
    assert len(insurer.requests) == 1


def test_money_sent_as_a_float_is_refused_not_guessed(insurer, adapter):
    insurer.status, insurer.body = 200, {**CASE, "refund_fen": 47.19}
    outcome = asyncio.run(adapter.case_status(SESSION, "TB20261125000001"))
    assert isinstance(outcome, InsurerUnavailable) and "refund_fen" in outcome.detail


def test_unreachable_insurer_is_reported_quickly_and_plainly():
    adapter = RestInsurerAdapter(f"http://127.0.0.1:{free_port()}", "test-key",
                                 limits=CallLimits(backoff_base=0.05, backoff_max=0.1))
    try:
        started = time.monotonic()
        outcome = asyncio.run(adapter.verify_holder(policy_number="SBX1000000000012", id_suffix="31002X"))
        assert isinstance(outcome, InsurerUnavailable)
        assert outcome.detail == "verify: connection refused"  # no URL, no policy number
        assert time.monotonic() - started < 1.0
    finally:
        adapter.close()


def test_refund_date_basis_is_read_defaulted_and_passed_on(insurer, adapter):
    insurer.status = 200
    bases = []
    for body in (CASE,  # an insurer that does not send it: the official calendar
                 {**CASE, "expected_refund_date_basis": None},
                 {**CASE, "expected_refund_date_basis": "weekdays_estimate"},
                 {**CASE, "expected_refund_date_basis": "insurer_own_calendar"}):  # kept as given
        insurer.body = body
        outcome = asyncio.run(adapter.case_status(SESSION, "TB20261125000001"))
        assert isinstance(outcome, SurrenderCase), outcome
        bases.append(outcome.expected_refund_date_basis)
    assert bases == ["official_calendar", "official_calendar", "weekdays_estimate", "insurer_own_calendar"]

    quote = {"quote_id": "quote-1", "policy_number": "SBX1000000000012", "product_code": "ACC_1Y",
             "product_name": "意外险", "basis": "unearned_premium",
             "lines": [{"code": "premium_paid", "label": "已交保费", "amount_fen": 10000}], "refund_fen": 4719,
             "refund_route": CASE["refund_route"], "expected_refund_date": "2027-01-01",
             "legal_latest_date": "2027-01-27", "valid_until": "2026-12-28T10:30:00+08:00"}
    insurer.status = 201
    bases = []
    for body in (quote, {**quote, "expected_refund_date_basis": "weekdays_estimate"}):
        insurer.body = body
        outcome = asyncio.run(adapter.quote(SESSION))
        assert isinstance(outcome, SurrenderQuote), outcome
        bases.append(outcome.expected_refund_date_basis)
    assert bases == ["official_calendar", "weekdays_estimate"]


def test_answers_the_sandbox_cannot_produce_on_demand_map_to_their_outcomes(insurer, adapter):
    insurer.status, insurer.body = 409, {"error": "not_revocable", "state": "AGREE", "message": "已同意"}
    assert asyncio.run(adapter.withdraw(SESSION, "TB20261125000001")) == NotRevocable(state="AGREE")
    insurer.status, insurer.body = 401, {"error": "token_invalid", "message": "身份验证已过期"}
    assert asyncio.run(adapter.case_status(SESSION, "TB20261125000001")) == SessionExpired()
    assert len(insurer.requests) == 2  # answers, not failures: nothing repeated
