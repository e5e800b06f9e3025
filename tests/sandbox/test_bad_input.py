"""Bad input gets a clear 4xx and writes nothing; a missing or wrong API key gets 401."""
import json

import pytest

P1 = "SBX1000000000012"
PHONE = "13800138000"


def _state(sandbox, token):
    """What a write would change: codes sent, cases of policy 1."""
    return len(sandbox.sms(PHONE)), len(sandbox.cases(P1, token))


@pytest.mark.parametrize("api_key", [None, "", "wrong-key", "test-key-1x", "x" * 5000])
def test_missing_or_wrong_api_key_is_401_and_changes_nothing(sandbox, api_key):
    token = sandbox.login(P1)
    before = _state(sandbox, token)
    verify = sandbox.call("POST", "/v1/identity/verify", api_key=api_key,
                          json={"policy_number": P1, "id_suffix": "31002X"})
    assert verify.status_code == 401 and verify.json()["error"] == "unauthorized"
    quote = sandbox.call("POST", f"/v1/policies/{P1}/quotes", token=token, api_key=api_key)
    assert quote.status_code == 401
    assert _state(sandbox, token) == before


BAD_VERIFY_BODIES = {
    "wrong types": {"policy_number": 1000000000012, "id_suffix": 31002},
    "absurd length": {"policy_number": P1, "id_suffix": "3" * 100_00},
    "sql in policy number": {"policy_number": "SBX1' OR '1'='1", "id_suffix": "31002X"},
    "sql in suffix": {"policy_number": P1, "id_suffix": "' OR 1=1 --"},
    "both numbers": {"policy_number": P1, "case_number": "TB20261123000001", "id_suffix": "31002X"},
    "no number": {"id_suffix": "31002X"},
    "unexpected field": {"policy_number": P1, "id_suffix": "31002X", "admin": True},
    "not an object": ["SBX1000000000012", "31002X"],
    "lower-case policy number": {"policy_number": "sbx1000000000012", "id_suffix": "31002X"},
}


@pytest.mark.parametrize("body", BAD_VERIFY_BODIES.values(), ids=BAD_VERIFY_BODIES.keys())
def test_bad_verify_bodies_are_refused_clearly(sandbox, body):
    response = sandbox.call("POST", "/v1/identity/verify", json=body)
    assert response.status_code in (413, 422), response.text
    payload = response.json()
    assert payload["error"] == "invalid_request" and payload["message"]
    assert "OR" not in payload["message"]  # the caller's input is never echoed back
    assert sandbox.sms(PHONE) == []


def test_malformed_json_is_400(sandbox):
    response = sandbox.call("POST", "/v1/identity/verify", data=b'{"policy_number": "SBX1',
                            headers={"Content-Type": "application/json"})
    assert response.status_code == 400
    assert response.json() == {"error": "invalid_request", "message": "请求体不是合法的 JSON。"}


def test_huge_body_is_refused_before_reading_it_all(sandbox):
    body = json.dumps({"policy_number": P1, "id_suffix": "31002X", "pad": "x" * 200_000})
    response = sandbox.call("POST", "/v1/identity/verify", data=body,
                            headers={"Content-Type": "application/json"})
    assert response.status_code == 413 and response.json()["error"] == "invalid_request"
    assert sandbox.sms(PHONE) == []


@pytest.mark.parametrize("path", [
    "/v1/policies/SBX1000000000012'--/quotes",
    "/v1/policies/" + "9" * 500 + "/quotes",
    "/v1/policies/SBX1000000000012%3BDROP%20TABLE%20sbx_cases/quotes",
])
def test_bad_policy_numbers_in_the_path_are_422(sandbox, path):
    token = sandbox.login(P1)
    response = sandbox.call("POST", path, token=token)
    assert response.status_code == 422 and response.json()["error"] == "invalid_request"


@pytest.mark.parametrize("headers,body", [
    ({}, {"quote_id": "Q" * 24}),  # no Idempotency-Key
    ({"Idempotency-Key": "k" * 65}, {"quote_id": "Q" * 24}),
    ({"Idempotency-Key": "has space"}, {"quote_id": "Q" * 24}),
    ({"Idempotency-Key": "k1"}, {"quote_id": "'; DROP TABLE sbx_cases; --"}),
    ({"Idempotency-Key": "k1"}, {"quote_id": "Q" * 24, "reason": "太贵" * 200}),
    ({"Idempotency-Key": "k1"}, {"quote_id": 12345678}),
])
def test_bad_submissions_are_refused_and_create_no_case(sandbox, headers, body):
    token = sandbox.login(P1)
    quote_id = sandbox.quote(P1, token).json()["quote_id"]
    if body.get("quote_id") == "Q" * 24:
        body = {**body, "quote_id": quote_id}
    response = sandbox.call("POST", f"/v1/policies/{P1}/surrenders", token=token, json=body,
                            headers=headers)
    assert response.status_code == 422, response.text
    assert response.json()["error"] == "invalid_request"
    assert sandbox.cases(P1, token) == []


def test_bad_sms_code_and_challenge_shapes_are_422(sandbox):
    challenge = sandbox.verify("31002X", P1).json()["challenge_id"]
    for body in ({"challenge_id": challenge, "code": "12345"},
                 {"challenge_id": challenge, "code": 123456},
                 {"challenge_id": "' OR 1=1 --", "code": "123456"}):
        response = sandbox.call("POST", "/v1/identity/confirm", json=body)
        assert response.status_code == 422, body
    # Shape errors are not guesses: they do not count towards the lock.
    code = sandbox.latest_code(PHONE)
    assert sandbox.confirm(challenge, code).status_code == 200


def test_bad_phone_on_the_sms_outbox_is_422(sandbox):
    response = sandbox.call("GET", "/sandbox/sms", params={"phone": "1380013800'0"})
    assert response.status_code == 422
