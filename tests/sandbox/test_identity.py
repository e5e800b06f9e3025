"""The identity check as a caller lives it: one answer for every mismatch, lockout, expiry on the
sandbox's clock, single-use codes, tokens that open one policy only."""
import statistics
import time

import pytest

from .client import HOLDERS

P1, P2 = "SBX1000000000012", "SBX1000000000023"
UNKNOWN = "SBX1000000000100"  # well-formed, right check character, no such policy


def _timed_verify(sandbox, suffix, policy_number):
    started = time.perf_counter()
    response = sandbox.verify(suffix, policy_number)
    return response, time.perf_counter() - started


def test_right_pair_sends_a_code_to_the_masked_phone(sandbox):
    response = sandbox.verify("31002x", P1)  # a lower-case x is the same ID character
    assert response.status_code == 200
    assert response.json()["phone_masked"] == "138****8000"
    messages = sandbox.sms("13800138000")
    assert len(messages) == 1 and len(messages[0]["code"]) == 6 and messages[0]["code"].isdigit()
    assert messages[0]["code"] in messages[0]["text"]


def test_unknown_policy_and_wrong_suffix_are_indistinguishable(sandbox):
    wrong = [_timed_verify(sandbox, "000000", P1) for _ in range(3)]
    unknown = [_timed_verify(sandbox, "31002X", UNKNOWN) for _ in range(3)]
    assert {r.status_code for r, _ in wrong + unknown} == {403}
    assert len({r.text for r, _ in wrong + unknown}) == 1  # byte-for-byte the same body
    assert {tuple(sorted(r.headers.keys())) for r, _ in wrong + unknown}.__len__() == 1
    # Same work on both paths: no timing gap an attacker could measure over a few tries.
    gap = abs(statistics.median(t for _, t in wrong) - statistics.median(t for _, t in unknown))
    assert gap < 0.05, gap
    assert sandbox.sms("13800138000") == []  # no code sent on a mismatch


@pytest.mark.parametrize("policy_number", [P1, UNKNOWN], ids=["existing", "unknown"])
def test_five_failures_lock_for_thirty_minutes(sandbox, policy_number):
    answers = [sandbox.verify("000000", policy_number) for _ in range(5)]
    assert [a.status_code for a in answers] == [403, 403, 403, 403, 423]
    locked_until = answers[-1].json()["locked_until"]
    assert locked_until.startswith("2026-11-25T10:3")  # locked 30 minutes from ~10:00
    assert "锁定" in answers[-1].json()["message"]
    # Even the right pair is refused while locked, with the same lock time.
    right = sandbox.verify(HOLDERS[P1][0], policy_number)
    assert right.status_code == 423 and right.json()["locked_until"] == locked_until
    # Another policy is not affected.
    assert sandbox.verify(HOLDERS[P2][0], P2).status_code == 200
    sandbox.move_clock(31 * 60)
    after = sandbox.verify(HOLDERS[P1][0], policy_number)
    assert after.status_code == (200 if policy_number == P1 else 403)


def test_wrong_codes_count_towards_the_lock(sandbox):
    challenge = sandbox.verify("31002X", P1).json()["challenge_id"]
    code = sandbox.latest_code("13800138000")
    wrong = "000000" if code != "000000" else "111111"
    left = [sandbox.confirm(challenge, wrong) for _ in range(4)]
    assert [r.status_code for r in left] == [403] * 4
    assert [r.json()["attempts_left"] for r in left] == [4, 3, 2, 1]
    assert sandbox.confirm(challenge, wrong).status_code == 423
    assert sandbox.confirm(challenge, code).status_code == 423  # the right code is too late


def test_code_expires_after_five_minutes(sandbox):
    challenge = sandbox.verify("31002X", P1).json()
    code = sandbox.latest_code("13800138000")
    sandbox.move_clock(5 * 60 + 1)
    expired = sandbox.confirm(challenge["challenge_id"], code)
    assert expired.status_code == 403 and expired.json()["error"] == "code_invalid"


def test_code_still_works_just_before_five_minutes(sandbox):
    challenge = sandbox.verify("31002X", P1).json()
    code = sandbox.latest_code("13800138000")
    sandbox.move_clock(4 * 60 + 50)
    assert sandbox.confirm(challenge["challenge_id"], code).status_code == 200


def test_code_is_single_use(sandbox):
    challenge = sandbox.verify("31002X", P1).json()["challenge_id"]
    code = sandbox.latest_code("13800138000")
    assert sandbox.confirm(challenge, code).status_code == 200
    again = sandbox.confirm(challenge, code)
    assert again.status_code == 403 and again.json()["error"] == "code_invalid"


def test_a_new_code_replaces_the_previous_one(sandbox):
    first = sandbox.verify("31002X", P1).json()["challenge_id"]
    first_code = sandbox.latest_code("13800138000")
    sandbox.verify("31002X", P1)
    assert sandbox.confirm(first, first_code).status_code == 403


def test_token_opens_one_policy_only(sandbox):
    token = sandbox.login(P1)
    own = sandbox.call("GET", f"/v1/policies/{P1}", token=token)
    assert own.status_code == 200 and own.json()["holder_name_masked"] == "张*"
    other = sandbox.call("GET", f"/v1/policies/{P2}", token=token)
    assert other.status_code == 403 and other.json()["error"] == "token_scope"
    assert sandbox.quote(P2, token).status_code == 403
    # Another policy's case looks like no case at all.
    seeded_case = sandbox.call("GET", "/v1/cases/TB20261123000001", token=token)
    assert seeded_case.status_code == 404 and seeded_case.json()["error"] == "case_not_found"
    assert sandbox.call("GET", f"/v1/policies/{P1}").status_code == 401
    assert sandbox.call("GET", f"/v1/policies/{P1}", token="not-a-real-token").status_code == 401


def test_token_expires_after_thirty_minutes(sandbox):
    token = sandbox.login(P1)
    sandbox.move_clock(29 * 60)
    assert sandbox.call("GET", f"/v1/policies/{P1}", token=token).status_code == 200
    sandbox.move_clock(30 * 60 + 1)
    expired = sandbox.call("GET", f"/v1/policies/{P1}", token=token)
    assert expired.status_code == 401 and expired.json()["error"] == "token_invalid"


def test_verify_by_case_number_opens_the_case_policy(sandbox):
    challenge = sandbox.verify("01001X", case_number="TB20261123000001")
    assert challenge.status_code == 200 and challenge.json()["phone_masked"] == "137****7000"
    confirmed = sandbox.confirm(challenge.json()["challenge_id"], sandbox.latest_code("13700137000"))
    assert confirmed.json()["policy_number"] == "SBX2000000000079"
    case = sandbox.call("GET", "/v1/cases/TB20261123000001", token=confirmed.json()["token"])
    assert case.status_code == 200 and case.json()["state"] == "APPLY"
    # A wrong suffix or an unknown case gets the policy-number mismatch answer.
    wrong = sandbox.verify("31002X", case_number="TB20261123000001")
    unknown = sandbox.verify("01001X", case_number="TB20261123999999")
    assert wrong.status_code == unknown.status_code == 403
    assert wrong.text == unknown.text == sandbox.verify("000000", P1).text
