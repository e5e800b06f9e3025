"""Issue 18.8: the insurer limits SMS codes per phone and per holder: one a minute, five an
hour, refused with 429 ``sms_rate_limited`` saying when to ask again (so 40 texts in 0.4 s, each
voiding the holder's pending code, are no longer possible). The limits are switched on here;
the other tests run with them off."""
import contextlib

import requests

ZHANG_WEI = ("31002X", "13800138000")
POLICIES = ("SBX1000000000012", "SBX2000000000035", "SBX1000000000056")  # all 张伟's


@contextlib.contextmanager
def limits(sandbox, min_interval_s=60, max_per_hour=5):
    url = f"{sandbox.base_url}/sandbox/sms-limits"
    answer = requests.put(url, json={"min_interval_s": min_interval_s,
                                     "max_per_hour": max_per_hour}, timeout=10)
    assert answer.status_code == 200, answer.text
    try:
        yield
    finally:
        requests.put(url, json={"min_interval_s": 0, "max_per_hour": 0}, timeout=10)


def test_one_code_a_minute_per_phone_and_holder(sandbox):
    with limits(sandbox):
        assert sandbox.verify(ZHANG_WEI[0], POLICIES[0]).status_code == 200
        pending = sandbox.latest_code(ZHANG_WEI[1])
        burst = [sandbox.verify(ZHANG_WEI[0], p) for p in POLICIES * 3]  # his other policies too
        assert {b.status_code for b in burst} == {429}
        body = burst[0].json()
        assert body["error"] == "sms_rate_limited" and 0 < body["retry_after_s"] <= 60
        assert "之后再试" in body["message"]
        assert len(sandbox.sms(ZHANG_WEI[1])) == 1  # one text reached the phone
        assert sandbox.latest_code(ZHANG_WEI[1]) == pending  # and its code was not voided
        lookup = sandbox.lookup(ZHANG_WEI[1], ZHANG_WEI[0])
        assert lookup.status_code == 429
        sandbox.move_clock(61)
        assert sandbox.verify(ZHANG_WEI[0], POLICIES[1]).status_code == 200


def test_five_codes_an_hour(sandbox):
    with limits(sandbox):
        sent = []
        for minute in range(7):
            sent.append(sandbox.verify(ZHANG_WEI[0], POLICIES[minute % 3]).status_code)
            sandbox.move_clock(61 * (minute + 1))
        assert sent == [200] * 5 + [429] * 2
        assert len(sandbox.sms(ZHANG_WEI[1])) == 5


def test_another_holder_is_not_held_back(sandbox):
    with limits(sandbox):
        assert sandbox.verify(ZHANG_WEI[0], POLICIES[0]).status_code == 200
        assert sandbox.verify("150028", "SBX1000000000023").status_code == 200  # 李娜


def test_a_redeemed_code_frees_the_next_one_at_once(sandbox):
    """李娜's day as the contract has it: surrender, then status, then withdrawal, each with its
    own code, seconds apart. A code the holder redeemed proves the phone is hers; only codes
    nobody redeems run into the limits."""
    with limits(sandbox):
        for policy in ("SBX1000000000023",) * 4:
            sent = sandbox.verify("150028", policy)
            assert sent.status_code == 200, sent.text
            confirmed = sandbox.confirm(sent.json()["challenge_id"],
                                        sandbox.latest_code("13900139000"))
            assert confirmed.status_code == 200, confirmed.text
        lookup = sandbox.lookup("13900139000", "150028")
        assert lookup.status_code == 200, lookup.text
        assert sandbox.confirm_lookup(lookup.json()["challenge_id"],
                                      sandbox.latest_code("13900139000")).status_code == 200
        # unredeemed, the limit holds again at once
        assert sandbox.verify("150028", "SBX1000000000023").status_code == 200
        assert sandbox.verify("150028", "SBX1000000000023").status_code == 429
