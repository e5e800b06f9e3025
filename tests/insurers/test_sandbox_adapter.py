"""RestInsurerAdapter against the real sandbox insurer over HTTP (SANDBOX_TODAY=2026-11-25).

What a user would notice: the figures read back, one case per confirmation however often the
network repeats it, a plain "insurer unavailable" within a few seconds when the insurer fails,
and no policy opened by another policy's identity check.
"""
from __future__ import annotations

import asyncio
import datetime as dt
import logging
import time
from decimal import Decimal

import pytest

from insurers.base import (
    CaseNotFound,
    Challenge,
    CodeRejected,
    HolderSession,
    IdentityMismatch,
    InsurerUnavailable,
    Locked,
    NotEligible,
    PolicySummary,
    SessionExpired,
    SurrenderCase,
    SurrenderQuote,
)
from insurers.http import RestInsurerAdapter

from .conftest import API_KEY

POLICY_1 = ("SBX1000000000012", "31002X", "13800138000")  # 张伟, ACC_1Y, refund ¥47.19
POLICY_2 = ("SBX1000000000023", "150028", "13900139000")  # 李娜, MED_1Y
POLICY_7 = ("SBX2000000000079", "01001X", "13700137000")  # 王芳, case open since 2026-11-23
POLICY_8 = ("SBX1000000000089", "01001X", "13700137000")  # 王芳, terminated


def adapter_of(registry) -> RestInsurerAdapter:
    return registry.adapter_for(registry.for_policy(POLICY_1[0]))


async def sign_in(adapter, sandbox, policy) -> HolderSession:
    number, suffix, phone = policy
    challenge = await adapter.verify_holder(policy_number=number, id_suffix=suffix)
    assert isinstance(challenge, Challenge), challenge
    session = await adapter.confirm_code(challenge.challenge_id, sandbox.latest_code(phone))
    assert isinstance(session, HolderSession), session
    return session


def test_full_surrender_flow_reads_back_the_insurers_figures(live_registry, sandbox, caplog):
    adapter = adapter_of(live_registry)
    caplog.set_level(logging.DEBUG, logger="insurers")

    async def flow():
        number, suffix, phone = POLICY_1
        challenge = await adapter.verify_holder(policy_number=number, id_suffix=suffix)
        assert isinstance(challenge, Challenge)
        assert challenge.phone_masked == "138****8000"
        code = sandbox.latest_code(phone)
        session = await adapter.confirm_code(challenge.challenge_id, code)
        assert isinstance(session, HolderSession) and session.policy_number == number

        summary = await adapter.policy_summary(session)
        assert isinstance(summary, PolicySummary)
        assert (summary.status, summary.premium, summary.open_case_number) == ("in_force", Decimal("100.00"), None)

        quote = await adapter.quote(session)
        assert isinstance(quote, SurrenderQuote)
        assert quote.refund == Decimal("47.19") and quote.basis == "unearned_premium"
        lines = {line.code: line.amount for line in quote.lines}
        assert lines["unearned_premium"] == Decimal("72.60") and lines["deduction"] == Decimal("25.41")
        assert all(isinstance(line.amount, Decimal) and line.label for line in quote.lines)
        assert (quote.route.kind, quote.route.display) == ("bank_card", "招商银行 尾号6789")
        assert quote.expected_refund_date == dt.date(2026, 12, 1)
        assert quote.expected_refund_date_basis == "official_calendar"
        assert quote.legal_latest_date == dt.date(2026, 12, 25)

        case = await adapter.submit(session, quote.quote_id, "flow-key-1")
        assert isinstance(case, SurrenderCase)
        assert case.case_number.startswith("TB20261125") and len(case.case_number) == 16
        assert (case.state, case.refund, case.expected_refund_date) == ("APPLY", Decimal("47.19"), dt.date(2026, 12, 1))
        assert case.expected_refund_date_basis == "official_calendar"
        again = await adapter.submit(session, quote.quote_id, "flow-key-1")  # a double tap
        assert isinstance(again, SurrenderCase) and again.case_number == case.case_number

        status = await adapter.case_status(session, case.case_number)
        assert isinstance(status, SurrenderCase) and status.state == "APPLY"
        cases = await adapter.list_cases(session)
        assert [c.case_number for c in cases] == [case.case_number]
        # while the case is open, a new quote names it instead of offering a second surrender
        blocked = await adapter.quote(session)
        assert isinstance(blocked, NotEligible) and blocked.reason == "case_open"
        assert blocked.open_case_number == case.case_number

        withdrawn = await adapter.withdraw(session, case.case_number)
        assert isinstance(withdrawn, SurrenderCase) and withdrawn.state == "REVOKE"
        repeated = await adapter.withdraw(session, case.case_number)
        assert isinstance(repeated, SurrenderCase) and repeated.state == "REVOKE"
        assert isinstance(await adapter.case_status(session, "TB20261125999999"), CaseNotFound)
        return code, session.token

    code, token = asyncio.run(flow())
    logged = caplog.text
    assert "SBX1********0012" in logged  # the calls are logged …
    for secret in ("SBX1000000000012", POLICY_1[1], code, token, API_KEY, "13800138000"):
        assert secret not in logged  # … without personal data or credentials


def test_refund_dates_past_the_holiday_data_are_marked_as_estimates(live_registry, sandbox):
    adapter = adapter_of(live_registry)
    moved = sandbox.clock(33 * 86_400)
    assert moved["today"] == "2026-12-28"  # chinesecalendar 1.11.0 has nothing for 2027

    async def flow():
        session = await sign_in(adapter, sandbox, POLICY_1)
        quote = await adapter.quote(session)
        assert isinstance(quote, SurrenderQuote), quote
        case = await adapter.submit(session, quote.quote_id, "estimate-key-1")
        return quote, case, await adapter.list_cases(session)

    quote, case, cases = asyncio.run(flow())
    assert (quote.expected_refund_date, quote.expected_refund_date_basis) == (dt.date(2027, 1, 1), "weekdays_estimate")
    assert isinstance(case, SurrenderCase)  # the surrender is not blocked by the missing data
    assert (case.expected_refund_date, case.expected_refund_date_basis) == (dt.date(2027, 1, 1), "weekdays_estimate")
    assert [c.expected_refund_date_basis for c in cases] == ["weekdays_estimate"]


def test_a_token_opens_its_own_policy_only(live_registry, sandbox):
    adapter = adapter_of(live_registry)

    async def probe():
        own = await sign_in(adapter, sandbox, POLICY_1)
        other = await sign_in(adapter, sandbox, POLICY_7)
        borrowed = HolderSession(token=own.token, policy_number=POLICY_2[0], expires_at=own.expires_at)
        forged = HolderSession(token="not-a-token", policy_number=POLICY_1[0], expires_at=own.expires_at)
        other_cases = await adapter.list_cases(other)
        assert isinstance(other_cases, tuple) and len(other_cases) == 1
        return [
            await adapter.policy_summary(borrowed),
            await adapter.quote(borrowed),
            await adapter.list_cases(borrowed),
            await adapter.policy_summary(forged),
            # policy 7's open case through policy 1's token looks like no case at all
            await adapter.case_status(own, other_cases[0].case_number),
            await adapter.withdraw(own, other_cases[0].case_number),
        ], other_cases[0]

    outcomes, other_case = asyncio.run(probe())
    assert outcomes[:4] == [SessionExpired()] * 4
    assert outcomes[4:] == [CaseNotFound(other_case.case_number)] * 2


def test_identity_check_answers(live_registry, sandbox):
    adapter = adapter_of(live_registry)

    async def probe():
        wrong_suffix = await adapter.verify_holder(policy_number=POLICY_1[0], id_suffix="000000")
        # well-formed (passes the check character) but issued to nobody
        unknown = await adapter.verify_holder(policy_number="SBX9000000000097", id_suffix=POLICY_1[1])
        challenge = await adapter.verify_holder(policy_number=POLICY_2[0], id_suffix=POLICY_2[1])
        sent = sandbox.latest_code(POLICY_2[2])
        wrong_code = await adapter.confirm_code(challenge.challenge_id, "000000" if sent != "000000" else "111111")
        by_case = await adapter.verify_holder(case_number="TB20261123000001", id_suffix=POLICY_7[1])
        return wrong_suffix, unknown, wrong_code, by_case

    wrong_suffix, unknown, wrong_code, by_case = asyncio.run(probe())
    assert wrong_suffix == unknown == IdentityMismatch()  # no way to learn which policies exist
    assert isinstance(wrong_code, CodeRejected) and wrong_code.attempts_left is not None
    assert isinstance(by_case, Challenge) and by_case.phone_masked == "137****7000"


def test_five_failures_lock_the_identity_check(live_registry, sandbox):
    adapter = adapter_of(live_registry)

    async def probe():
        return [await adapter.verify_holder(policy_number=POLICY_2[0], id_suffix="99999X") for _ in range(6)]

    outcomes = asyncio.run(probe())
    assert outcomes[:4] == [IdentityMismatch()] * 4
    assert all(isinstance(o, Locked) for o in outcomes[5:])
    assert outcomes[-1].until.tzinfo is not None  # "locked until 10:30" can be told to the user


def test_policies_that_cannot_be_surrendered_say_why(live_registry, sandbox):
    adapter = adapter_of(live_registry)

    async def probe():
        return (await adapter.quote(await sign_in(adapter, sandbox, POLICY_7)),
                await adapter.quote(await sign_in(adapter, sandbox, POLICY_8)))

    open_case, terminated = asyncio.run(probe())
    assert isinstance(open_case, NotEligible) and open_case.reason == "case_open"
    assert open_case.open_case_number == "TB20261123000001" and open_case.message
    assert isinstance(terminated, NotEligible) and terminated.reason == "terminated"


def test_wrong_api_key_is_unavailable_not_a_crash(live_registry, sandbox):
    adapter = RestInsurerAdapter(sandbox.url, "wrong-key")
    try:
        outcome = asyncio.run(adapter.verify_holder(policy_number=POLICY_1[0], id_suffix=POLICY_1[1]))
    finally:
        adapter.close()
    assert outcome == InsurerUnavailable("verify: the insurer rejected our API key")
    assert sandbox.latest_code(POLICY_1[2]) is None  # nothing was sent to the holder


def timed(coro):
    started = time.monotonic()
    outcome = asyncio.run(coro)
    return outcome, time.monotonic() - started


def quoted_policy_1(adapter, sandbox):
    """Policy 1 signed in and quoted, while the insurer is still healthy."""
    async def prepare():
        session = await sign_in(adapter, sandbox, POLICY_1)
        return session, await adapter.quote(session)

    return asyncio.run(prepare())


@pytest.mark.parametrize("mode", ["500", "hang", "malformed"])
def test_failing_insurer_is_unavailable_within_budget_and_never_makes_two_cases(live_registry, sandbox, mode):
    adapter = adapter_of(live_registry)
    budget = adapter.limits.call_budget
    session, quote = quoted_policy_1(adapter, sandbox)
    sandbox.faults(error_rate=1.0, error_mode=mode)
    for call in (adapter.verify_holder(policy_number=POLICY_1[0], id_suffix=POLICY_1[1]),
                 adapter.policy_summary(session),
                 adapter.submit(session, quote.quote_id, f"fault-{mode}")):
        outcome, elapsed = timed(call)
        assert isinstance(outcome, InsurerUnavailable), outcome
        assert elapsed <= budget + 0.6, f"{outcome} after {elapsed:.1f} s"

    sandbox.faults()
    # the user confirms again once the insurer is back: the same key, one case
    case = asyncio.run(adapter.submit(session, quote.quote_id, f"fault-{mode}"))
    assert isinstance(case, SurrenderCase)
    cases = asyncio.run(adapter.list_cases(session))
    assert [c.case_number for c in cases] == [case.case_number]


def test_slow_insurer_is_unavailable_within_budget_and_late_answers_make_no_second_case(live_registry, sandbox):
    adapter = adapter_of(live_registry)
    budget = adapter.limits.call_budget
    session, quote = quoted_policy_1(adapter, sandbox)
    sandbox.faults(latency_ms=10_000)
    slowed_at = time.monotonic()
    for call in (adapter.policy_summary(session), adapter.submit(session, quote.quote_id, "slow-key")):
        outcome, elapsed = timed(call)
        assert isinstance(outcome, InsurerUnavailable), outcome
        assert elapsed <= budget + 0.6, f"{outcome} after {elapsed:.1f} s"

    sandbox.faults()
    case = asyncio.run(adapter.submit(session, quote.quote_id, "slow-key"))
    assert isinstance(case, SurrenderCase)
    # the delayed submits are still being processed by the sandbox: watch them land
    while time.monotonic() - slowed_at < 12:
        cases = asyncio.run(adapter.list_cases(session))
        assert [c.case_number for c in cases] == [case.case_number]
        time.sleep(1)


def test_ten_concurrent_submits_with_one_key_make_one_case(live_registry, sandbox):
    adapter = adapter_of(live_registry)

    async def burst():
        session = await sign_in(adapter, sandbox, POLICY_1)
        quote = await adapter.quote(session)
        outcomes = await asyncio.gather(*(adapter.submit(session, quote.quote_id, "burst-key") for _ in range(10)))
        return outcomes, await adapter.list_cases(session)

    outcomes, cases = asyncio.run(burst())
    assert all(isinstance(o, SurrenderCase) for o in outcomes), outcomes
    assert {o.case_number for o in outcomes} == {cases[0].case_number}
    assert len(cases) == 1
