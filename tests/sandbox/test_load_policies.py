"""Spec additions 5 and 6 (load and scale tests): POST /sandbox/load-policies makes policies of
holders of their own that quote like seed policy 1; GET /sandbox/cases shows a policy's cases."""
from sandbox_insurer.identifiers import is_valid_id_number, is_valid_policy_number


def _load(sandbox, count):
    return sandbox.call("POST", "/sandbox/load-policies", json={"count": count})


def _login(sandbox, loaded):
    challenge = sandbox.verify(loaded["id_suffix"], loaded["policy_number"])
    assert challenge.status_code == 200, challenge.text
    confirmed = sandbox.confirm(challenge.json()["challenge_id"], sandbox.latest_code(loaded["phone"]))
    assert confirmed.status_code == 200, confirmed.text
    return confirmed.json()["token"]


def test_loaded_policies_are_distinct_valid_and_quote_like_seed_policy_1(sandbox):
    response = _load(sandbox, 3)
    assert response.status_code == 201, response.text
    loaded = response.json() + _load(sandbox, 2).json()  # a second batch continues the first
    assert len(loaded) == 5
    assert len({p["policy_number"] for p in loaded}) == 5
    assert len({p["phone"] for p in loaded}) == 5
    for policy in loaded:
        assert set(policy) == {"policy_number", "id_suffix", "phone"}
        assert is_valid_policy_number(policy["policy_number"]), policy
    # Each one's holder passes the identity check with their own suffix and phone...
    token = _login(sandbox, loaded[4])
    quote = sandbox.quote(loaded[4]["policy_number"], token)
    assert quote.status_code == 201, quote.text
    assert quote.json()["refund_fen"] == 4719  # ¥47.19, as seed policy 1
    # ... and no other holder's suffix opens it.
    wrong = sandbox.verify(loaded[0]["id_suffix"], loaded[4]["policy_number"])
    assert wrong.status_code == 403, wrong.text


def test_loaded_holders_have_valid_id_numbers():
    from sandbox_insurer.seed import loaded_holder
    numbers = {loaded_holder(n)["holder_id_number"] for n in (0, 1, 999, 1000, 54321)}
    assert len(numbers) == 5 and all(is_valid_id_number(n) for n in numbers)


def test_load_policies_refuses_counts_outside_1_to_1000(sandbox):
    for count in (0, 1001, -1, "5"):
        assert _load(sandbox, count).status_code == 422, count


def test_a_reset_removes_loaded_policies(sandbox):
    loaded = _load(sandbox, 1).json()[0]
    sandbox.reset()
    assert sandbox.verify(loaded["id_suffix"], loaded["policy_number"]).status_code == 403


def test_sandbox_cases_lists_a_policys_cases_newest_first(sandbox):
    loaded = _load(sandbox, 1).json()[0]
    number = loaded["policy_number"]
    assert sandbox.call("GET", "/sandbox/cases", params={"policy_number": number}).json() == []
    token = _login(sandbox, loaded)
    quote = sandbox.quote(number, token).json()
    case = sandbox.submit(number, token, quote["quote_id"], "k1").json()
    revoked = sandbox.call("POST", f"/v1/cases/{case['case_number']}/revoke", token=token)
    assert revoked.status_code == 200, revoked.text
    second = sandbox.submit(number, token, sandbox.quote(number, token).json()["quote_id"], "k2").json()
    listed = sandbox.call("GET", "/sandbox/cases", params={"policy_number": number}).json()
    assert [c["case_number"] for c in listed] == [second["case_number"], case["case_number"]]
    assert listed[1]["state"] == "REVOKE" and listed[0]["state"] == "APPLY"
    assert listed[0]["refund_fen"] == 4719
    # Another policy's list holds none of them.
    assert sandbox.call("GET", "/sandbox/cases",
                        params={"policy_number": "SBX1000000000012"}).json() == []
