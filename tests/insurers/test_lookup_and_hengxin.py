"""The adapter against the real sandbox for the December additions: 恒信人寿 through its own
registry entry and key, the holder lookup, the verify purpose, and the insurer's "why" sentences."""
from __future__ import annotations

import asyncio
from decimal import Decimal
from typing import Iterator

import pytest

from insurers.base import (
    Challenge,
    CodeRejected,
    HolderPolicies,
    HolderSession,
    IdentityMismatch,
    Locked,
    SurrenderCase,
    SurrenderQuote,
    VerifyPurpose,
)
from insurers.registry import DEFAULT_INSURERS_FILE, InsurerRegistry

from .conftest import API_KEY

ZHANG_WEI_PHONE, ZHANG_WEI_SUFFIX = "13800138000", "31002X"


@pytest.fixture
def registry(sandbox) -> Iterator[InsurerRegistry]:
    """insurers.yml with both insurers pointed at this test's sandbox; 恒信 on its demo key."""
    sandbox.faults()
    sandbox.reset()
    registry = InsurerRegistry.from_file(DEFAULT_INSURERS_FILE, environ={
        "TUIBAO_SANDBOX_URL": sandbox.url, "TUIBAO_SANDBOX_API_KEY": API_KEY,
        "TUIBAO_HENGXIN_URL": sandbox.url})
    yield registry
    registry.close()


def run(coroutine):
    return asyncio.run(coroutine)


async def _look_up(adapter, sandbox, phone=ZHANG_WEI_PHONE, suffix=ZHANG_WEI_SUFFIX) -> HolderPolicies:
    challenge = await adapter.start_lookup(phone, suffix)
    assert isinstance(challenge, Challenge), challenge
    assert challenge.phone_masked == "138****8000"
    found = await adapter.confirm_lookup(challenge.challenge_id, sandbox.latest_code(phone))
    assert isinstance(found, HolderPolicies), found
    return found


def test_hengxin_policy_surrenders_end_to_end_through_its_registry_entry(registry, sandbox):
    adapter = registry.adapter_for(registry.for_policy("HX-2026-0000-0121"))
    assert adapter.insurer_id == "hengxin"

    async def flow():
        challenge = await adapter.verify_holder(policy_number="HX202600000121", id_suffix="31002X")
        assert isinstance(challenge, Challenge)
        assert sandbox.sms(ZHANG_WEI_PHONE)[0]["text"].startswith("【恒信人寿】")
        session = await adapter.confirm_code(challenge.challenge_id, sandbox.latest_code(ZHANG_WEI_PHONE))
        quote = await adapter.quote(session)
        assert isinstance(quote, SurrenderQuote)
        assert quote.refund == Decimal("94.38") and quote.route.display == "招商银行 尾号6789"
        assert {l.code: l.amount for l in quote.lines} == {
            "premium_paid": Decimal("200.00"), "unearned_premium": Decimal("145.21"),
            "deduction": Decimal("50.83")}
        return await adapter.submit(session, quote.quote_id, "hx-adapter-1")

    case = run(flow())
    assert isinstance(case, SurrenderCase) and case.case_number == "HXC202611250001"
    assert registry.for_case(case.case_number).id == "hengxin"


def test_sandbox_adapter_cannot_open_a_hengxin_policy(registry, sandbox):
    sandbox_adapter = registry.adapter_for("sandbox")
    outcome = run(sandbox_adapter.verify_holder(policy_number="HX202600000121", id_suffix="31002X"))
    assert isinstance(outcome, IdentityMismatch)
    assert sandbox.sms(ZHANG_WEI_PHONE) == []


def test_quote_lines_carry_the_insurers_reason_for_each_deduction(registry, sandbox):
    adapter = registry.adapter_for("sandbox")

    async def flow():
        challenge = await adapter.verify_holder(policy_number="SBX1000000000012", id_suffix="31002X")
        session = await adapter.confirm_code(challenge.challenge_id, sandbox.latest_code(ZHANG_WEI_PHONE))
        return await adapter.quote(session)

    lines = {line.code: line for line in run(flow()).lines}
    assert lines["deduction"].basis_text.startswith("按《一年期意外险条款》第十二条")
    assert "35%" in lines["deduction"].basis_text
    assert lines["premium_paid"].basis_text is None


@pytest.mark.parametrize("purpose,words", [(VerifyPurpose.SURRENDER, "办理退保"),
                                           (VerifyPurpose.STATUS, "查询退保进度"),
                                           (VerifyPurpose.WITHDRAW, "撤销退保申请")])
def test_the_sms_names_what_the_code_is_for(registry, sandbox, purpose, words):
    adapter = registry.adapter_for("sandbox")
    outcome = run(adapter.verify_holder(policy_number="SBX1000000000012", id_suffix="31002X", purpose=purpose))
    assert isinstance(outcome, Challenge)
    assert words in sandbox.sms(ZHANG_WEI_PHONE)[0]["text"]


def test_lookup_at_both_insurers_lists_zhang_weis_four_policies(registry, sandbox):
    async def flow():
        at_sandbox = await _look_up(registry.adapter_for("sandbox"), sandbox)
        at_hengxin = await _look_up(registry.adapter_for("hengxin"), sandbox)
        return at_sandbox, at_hengxin

    at_sandbox, at_hengxin = run(flow())
    assert [p.policy_number for p in at_sandbox.policies] == [
        "SBX1000000000012", "SBX1000000000056", "SBX2000000000035"]
    assert [p.policy_number for p in at_hengxin.policies] == ["HX202600000121"]
    assert at_hengxin.policies[0].product_name == "一年期意外险"
    assert at_sandbox.session.covers == ("SBX1000000000012", "SBX1000000000056", "SBX2000000000035")
    assert at_sandbox.session.token not in repr(at_sandbox)  # a bearer credential stays out of logs


def test_lookup_session_quotes_a_listed_policy_without_a_second_code(registry, sandbox):
    adapter = registry.adapter_for("hengxin")

    async def flow():
        found = await _look_up(adapter, sandbox)
        sent = len(sandbox.sms(ZHANG_WEI_PHONE))
        quote = await adapter.quote(found.session.for_policy("HX202600000121"))
        return quote, sent

    quote, sent = run(flow())
    assert isinstance(quote, SurrenderQuote) and quote.refund == Decimal("94.38")
    assert len(sandbox.sms(ZHANG_WEI_PHONE)) == sent


def test_a_lookup_session_opens_only_the_policies_it_listed():
    import datetime as dt
    session = HolderSession(token="t", policy_number=None, expires_at=dt.datetime.now(dt.timezone.utc),
                            covers=("SBX1000000000012",))
    assert session.for_policy("SBX1000000000012").policy_number == "SBX1000000000012"
    with pytest.raises(ValueError):
        session.for_policy("SBX1000000000023")


def test_lookup_mismatch_wrong_code_and_lock(registry, sandbox):
    adapter = registry.adapter_for("sandbox")

    async def flow():
        wrong = await adapter.start_lookup(ZHANG_WEI_PHONE, "000000")
        unknown = await adapter.start_lookup("13600136000", ZHANG_WEI_SUFFIX)
        challenge = await adapter.start_lookup(ZHANG_WEI_PHONE, ZHANG_WEI_SUFFIX)
        code = sandbox.latest_code(ZHANG_WEI_PHONE)
        rejected = await adapter.confirm_lookup(challenge.challenge_id, "000000" if code != "000000" else "111111")
        for _ in range(3):
            await adapter.start_lookup(ZHANG_WEI_PHONE, "000000")
        locked = await adapter.start_lookup(ZHANG_WEI_PHONE, ZHANG_WEI_SUFFIX)
        return wrong, unknown, rejected, locked

    wrong, unknown, rejected, locked = run(flow())
    assert isinstance(wrong, IdentityMismatch) and isinstance(unknown, IdentityMismatch)
    assert isinstance(rejected, CodeRejected) and rejected.attempts_left == 3
    assert isinstance(locked, Locked)
