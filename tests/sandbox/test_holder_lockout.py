"""Issue 18.9: the identity check locks a person, not a policy or a phone. Once five wrong
guesses at 张伟's ID suffix lock one of his policies, guesses through his other policies and
through the phone lookup are refused too, even with the right suffix; another holder is not
touched, and the lock lifts after its 30 minutes."""
from .client import HOLDERS

ZHANG_WEI_POLICIES = ("SBX1000000000012", "SBX2000000000035", "SBX1000000000056")
LI_NA_POLICY = "SBX1000000000023"
ZHANG_WEI_PHONE, ZHANG_WEI_SUFFIX = "13800138000", "31002X"


def test_a_lock_on_one_policy_covers_the_holders_other_policies_and_the_lookup(sandbox):
    first, *others = ZHANG_WEI_POLICIES
    answers = [sandbox.verify("000000", first) for _ in range(5)]
    assert [a.status_code for a in answers] == [403, 403, 403, 403, 423]
    for policy in others:  # wrong and right suffixes alike: the person is locked
        assert sandbox.verify("000000", policy).status_code == 423, policy
        assert sandbox.verify(ZHANG_WEI_SUFFIX, policy).status_code == 423, policy
    lookup = sandbox.lookup(ZHANG_WEI_PHONE, ZHANG_WEI_SUFFIX)
    assert lookup.status_code == 423 and "锁定" in lookup.json()["message"]
    assert sandbox.sms(ZHANG_WEI_PHONE) == []  # not one code went out
    assert sandbox.verify(HOLDERS[LI_NA_POLICY][0], LI_NA_POLICY).status_code == 200
    sandbox.move_clock(31 * 60)
    assert sandbox.verify(ZHANG_WEI_SUFFIX, others[0]).status_code == 200


def test_failures_spread_over_a_holders_policies_add_up(sandbox):
    # Four policies' worth of guesses at one person: the fifth locks him, not a fresh policy.
    guesses = [sandbox.verify("000000", policy) for policy in ZHANG_WEI_POLICIES]
    guesses += [sandbox.lookup(ZHANG_WEI_PHONE, "000000")]
    guesses += [sandbox.verify("000000", ZHANG_WEI_POLICIES[0])]
    assert [g.status_code for g in guesses] == [403, 403, 403, 403, 423]
    assert sandbox.verify(ZHANG_WEI_SUFFIX, ZHANG_WEI_POLICIES[1]).status_code == 423


def test_wrong_codes_lock_the_person_too(sandbox):
    challenge = sandbox.verify(ZHANG_WEI_SUFFIX, ZHANG_WEI_POLICIES[0]).json()["challenge_id"]
    code = sandbox.latest_code(ZHANG_WEI_PHONE)
    wrong = "000000" if code != "000000" else "111111"
    answers = [sandbox.confirm(challenge, wrong) for _ in range(5)]
    assert answers[-1].status_code == 423
    assert sandbox.verify(ZHANG_WEI_SUFFIX, ZHANG_WEI_POLICIES[1]).status_code == 423
    assert sandbox.lookup(ZHANG_WEI_PHONE, ZHANG_WEI_SUFFIX).status_code == 423
