"""Surrender cases: idempotent submission under concurrency, numbering, dates, state machine."""
from concurrent.futures import ThreadPoolExecutor

P1, P2 = "SBX1000000000012", "SBX1000000000023"


def _quoted(sandbox, policy_number):
    token = sandbox.login(policy_number)
    quote = sandbox.quote(policy_number, token)
    assert quote.status_code == 201, quote.text
    return token, quote.json()


def test_submission_opens_a_case_with_number_and_dates(sandbox):
    token, quote = _quoted(sandbox, P1)
    response = sandbox.submit(P1, token, quote["quote_id"], "tap-1")
    assert response.status_code == 201, response.text
    case = response.json()
    assert case["case_number"] == "TB20261125000002"  # the seed case took sequence 000001
    assert case["state"] == "APPLY"
    assert (case["submitted_on"], case["expected_refund_date"], case["legal_latest_date"]) == (
        "2026-11-25", "2026-12-01", "2026-12-25")
    assert case["expected_refund_date_basis"] == "official_calendar"
    assert case["refund_fen"] == 4719
    assert case["refund_route"] == {"kind": "bank_card", "display": "招商银行 尾号6789"}
    # The policy now names its open case, and a second surrender is refused with it.
    summary = sandbox.call("GET", f"/v1/policies/{P1}", token=token).json()
    assert summary["open_case_number"] == "TB20261125000002"
    again = sandbox.quote(P1, token)
    assert again.status_code == 409 and again.json()["open_case_number"] == "TB20261125000002"


def test_ten_concurrent_submissions_with_one_key_create_one_case(sandbox):
    token, quote = _quoted(sandbox, P1)
    with ThreadPoolExecutor(max_workers=10) as pool:
        responses = list(pool.map(
            lambda _: sandbox.submit(P1, token, quote["quote_id"], "double-tap-key"), range(10)))
    statuses = sorted(r.status_code for r in responses)
    assert statuses == [200] * 9 + [201], [r.text for r in responses if r.status_code >= 300]
    assert len({r.json()["case_number"] for r in responses}) == 1
    assert len(sandbox.cases(P1, token)) == 1
    # Numbering did not skip: the next policy's case is the very next number.
    token2, quote2 = _quoted(sandbox, P2)
    assert sandbox.submit(P2, token2, quote2["quote_id"], "k").json()["case_number"] == "TB20261125000003"


def test_a_double_tap_racing_the_first_commit_never_reads_as_case_open(sandbox):
    """Under read committed, a request that looked up its key just before a twin committed must
    still answer with the twin's case, not "a case is open" (seen once on PostgreSQL). Several
    rounds make the narrow window likely to be hit."""
    for round_ in range(8):
        sandbox.reset()
        token, quote = _quoted(sandbox, P1)
        with ThreadPoolExecutor(max_workers=10) as pool:
            responses = list(pool.map(
                lambda _: sandbox.submit(P1, token, quote["quote_id"], f"tap-{round_}"), range(10)))
        refused = [r.text for r in responses if r.status_code not in (200, 201)]
        assert refused == [], f"round {round_}: {refused}"
        assert len({r.json()["case_number"] for r in responses}) == 1


def test_concurrent_submissions_with_different_keys_still_open_one_case(sandbox):
    token, quote = _quoted(sandbox, P1)
    with ThreadPoolExecutor(max_workers=6) as pool:
        responses = list(pool.map(
            lambda i: sandbox.submit(P1, token, quote["quote_id"], f"key-{i}"), range(6)))
    assert sorted(r.status_code for r in responses) == [201] + [409] * 5
    assert {r.json().get("reason") for r in responses if r.status_code == 409} == {"case_open"}
    assert len(sandbox.cases(P1, token)) == 1


def test_revoke_only_from_apply(sandbox):
    token, quote = _quoted(sandbox, P1)
    case_number = sandbox.submit(P1, token, quote["quote_id"], "k1").json()["case_number"]
    revoked = sandbox.call("POST", f"/v1/cases/{case_number}/revoke", token=token)
    assert revoked.status_code == 200 and revoked.json()["state"] == "REVOKE"
    # Withdrawing again changes nothing; the policy is free for a new surrender.
    again = sandbox.call("POST", f"/v1/cases/{case_number}/revoke", token=token)
    assert again.status_code == 200 and again.json() == revoked.json()
    assert sandbox.quote(P1, token).status_code == 201


def test_cases_advance_on_schedule_and_cannot_be_revoked_once_agreed(sandbox):
    # The test service runs with SANDBOX_CASE_ADVANCE_SECONDS=600.
    token, quote = _quoted(sandbox, P1)
    case_number = sandbox.submit(P1, token, quote["quote_id"], "k1").json()["case_number"]
    sandbox.move_clock(601)
    status = sandbox.call("GET", f"/v1/cases/{case_number}", token=token)
    assert status.json()["state"] == "AGREE"
    refused = sandbox.call("POST", f"/v1/cases/{case_number}/revoke", token=token)
    assert refused.status_code == 409
    assert refused.json()["error"] == "not_revocable" and refused.json()["state"] == "AGREE"
    sandbox.move_clock(1201)
    assert sandbox.cases(P1, token)[0]["state"] == "REFUND"
    refused = sandbox.call("POST", f"/v1/cases/{case_number}/revoke", token=token)
    assert refused.status_code == 409 and refused.json()["state"] == "REFUND"
    # A refunded case is closed: the seed case of policy 7 never moves (the demo keeps it open).
    token7 = sandbox.login("SBX2000000000079")
    assert sandbox.call("GET", "/v1/cases/TB20261123000001", token=token7).json()["state"] == "APPLY"


def test_expired_quote_is_refused_and_nothing_created(sandbox):
    token, quote = _quoted(sandbox, P1)
    sandbox.move_clock(29 * 60)
    fresh_token = sandbox.login(P1)
    sandbox.move_clock(30 * 60 + 1)
    response = sandbox.submit(P1, fresh_token, quote["quote_id"], "late")
    assert response.status_code == 410 and response.json()["error"] == "quote_expired"
    assert sandbox.cases(P1, fresh_token) == []


def test_quote_of_another_policy_cannot_be_used(sandbox):
    _, quote2 = _quoted(sandbox, P2)
    token1 = sandbox.login(P1)
    response = sandbox.submit(P1, token1, quote2["quote_id"], "k")
    assert response.status_code == 404 and response.json()["error"] == "quote_not_found"
    assert sandbox.cases(P1, token1) == []
