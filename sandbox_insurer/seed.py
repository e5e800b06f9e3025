"""Seed policies 1–8 of the sandbox insurer and H1–H2 of 恒信人寿 (docs/insurer-api.md, spec
tables), laid relative to "today"."""
from __future__ import annotations

import datetime as dt

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from . import models, rules
from .brands import BRANDS, HENGXIN
from .identifiers import id_check_char

ZHANG_WEI = dict(holder_name="张伟", holder_id_number="11010519491231002X",
                 holder_phone="13800138000", bank_name="招商银行", bank_card_last4="6789")
LI_NA = dict(holder_name="李娜", holder_id_number="440106199003150028",
             holder_phone="13900139000", bank_name="工商银行", bank_card_last4="1234")
WANG_FANG = dict(holder_name="王芳", holder_id_number="34052419800101001X",
                 holder_phone="13700137000", bank_name="建设银行", bank_card_last4="5555")

CI_ANNUAL_PREMIUM_FEN = 298_220
SEED_CASE_SEQUENCE = 1  # policy 7's open case; the next case gets 000002

_WIPE_ORDER = (models.SmsMessage, models.SmsSend, models.HolderToken, models.IdentityChallenge, models.LookupChallenge,
               models.IdentityFailure, models.IdentityLock, models.SurrenderCase, models.Quote,
               models.Counter, models.Policy)


# Policies made by POST /sandbox/load-policies (spec addition 5): SBX9 + 11 digits + check.
LOADED_PREFIX = "SBX9"


def loaded_holder(number: int) -> dict:
    """The holder of the ``number``-th loaded policy: a phone and a valid ID number of its own."""
    born = dt.date(1960, 1, 1) + dt.timedelta(days=number // 1000)
    first17 = f"110105{born:%Y%m%d}{number % 1000:03d}"
    return dict(holder_name="测试", holder_id_number=first17 + id_check_char(first17),
                holder_phone=f"170{number:08d}", bank_name="招商银行", bank_card_last4="6789")


def _one_year(start: dt.date) -> dt.date:
    return start + dt.timedelta(days=rules.YEAR_DAYS - 1)


def seed_policies(today: dt.date) -> list:
    days = lambda n: today + dt.timedelta(days=n)  # noqa: E731 - reads like the spec table
    return [
        models.Policy(policy_number="SBX1000000000012", product_code="ACC_1Y", premium_fen=10_000,
                      cover_start=days(-99), cover_end=_one_year(days(-99)), **ZHANG_WEI),
        models.Policy(policy_number="SBX1000000000023", product_code="MED_1Y", premium_fen=29_900,
                      cover_start=days(-199), cover_end=_one_year(days(-199)), **LI_NA),
        models.Policy(policy_number="SBX2000000000035", product_code="CI_WL_20PAY",
                      premium_fen=CI_ANNUAL_PREMIUM_FEN, premiums_paid=1, paper_policy=True,
                      cover_start=days(-5), receipt_date=days(-5), **ZHANG_WEI),
        models.Policy(policy_number="SBX2000000000046", product_code="CI_WL_20PAY",
                      premium_fen=CI_ANNUAL_PREMIUM_FEN, premiums_paid=3, paper_policy=False,
                      cover_start=days(-829), receipt_date=days(-827), **LI_NA),
        models.Policy(policy_number="SBX1000000000056", product_code="ACC_1Y", premium_fen=10_000,
                      cover_start=days(-59), cover_end=_one_year(days(-59)),
                      claim_paid_fen=80_000, **ZHANG_WEI),
        models.Policy(policy_number="SBX3000000000069", product_code="TRAVEL_ACC", premium_fen=3_000,
                      cover_start=days(10), cover_end=days(16), **LI_NA),
        models.Policy(policy_number="SBX2000000000079", product_code="MED_1Y", premium_fen=19_900,
                      cover_start=days(-30), cover_end=_one_year(days(-30)), **WANG_FANG),
        models.Policy(policy_number="SBX1000000000089", product_code="ACC_1Y", premium_fen=10_000,
                      cover_start=days(-400), cover_end=_one_year(days(-400)),
                      status="terminated", **WANG_FANG),
        # 恒信人寿: HX + 12 digits, the last a Luhn check digit over the 12.
        models.Policy(insurer=HENGXIN.id, policy_number="HX202600000121", product_code="ACC_1Y",
                      premium_fen=20_000, cover_start=days(-99), cover_end=_one_year(days(-99)),
                      **ZHANG_WEI),
        models.Policy(insurer=HENGXIN.id, policy_number="HX202600000238", product_code="MED_1Y",
                      premium_fen=36_500, cover_start=days(-364), cover_end=_one_year(days(-364)),
                      **WANG_FANG),
    ]


def seed(session: Session, now: dt.datetime) -> None:
    """Wipe every sandbox table and lay the seed data relative to ``now``'s date."""
    for model in _WIPE_ORDER:
        session.execute(delete(model))
    today = now.date()
    policies = seed_policies(today)
    for policy in policies:
        policy.insurer = policy.insurer or "sandbox"
        policy.status = policy.status or "in_force"
        policy.premiums_paid = policy.premiums_paid or 1
        policy.paper_policy = bool(policy.paper_policy)
        policy.claim_paid_fen = policy.claim_paid_fen or 0
        policy.policy_loan_fen = policy.policy_loan_fen or 0
        session.add(policy)
    session.flush()

    # Policy 7: a surrender applied for two days ago, still in APPLY.
    policy7 = policies[6]
    submitted = today - dt.timedelta(days=2)
    figures = rules.quote_figures(rules.PolicyTerms(
        product_code=policy7.product_code, premium_fen=policy7.premium_fen,
        cover_start=policy7.cover_start), submitted)
    submitted_at = now - dt.timedelta(days=2)
    expected = rules.expected_refund_date(submitted)
    session.add(models.SurrenderCase(
        case_number=f"TB{submitted:%Y%m%d}{SEED_CASE_SEQUENCE:06d}", policy_id=policy7.id,
        quote_id=None, idempotency_key="seed", state="APPLY", reason="seed",
        submitted_on=submitted, expected_refund_date=expected.date,
        expected_refund_date_basis=expected.basis,
        legal_latest_date=rules.legal_latest_date(submitted), refund_fen=figures.refund_fen,
        route_kind="bank_card", route_display=f"{policy7.bank_name} 尾号{policy7.bank_card_last4}",
        auto_advance=False,  # stays open so the demo always has a case to show
        created_at=submitted_at, updated_at=submitted_at))
    for brand in BRANDS.values():
        start = SEED_CASE_SEQUENCE if brand.id == "sandbox" else 0
        session.add(models.Counter(name=brand.counter, value=start))


def is_seeded(session: Session) -> bool:
    """Every insurer has its seed policies (a database from before 恒信 existed is re-seeded)."""
    insurers = set(session.execute(select(models.Policy.insurer).distinct()).scalars())
    return insurers >= set(BRANDS)
