"""The sandbox's money and date rules: pure functions, no database, no clock.

Amounts are computed in Decimal yuan and rounded half-up to the fen once, at the end;
everything stored or sent is integer fen.
"""
from __future__ import annotations

import datetime as dt
import logging
import threading
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from typing import Dict, List, NamedTuple, Optional, Set, Tuple

import chinese_calendar

log = logging.getLogger("sandbox_insurer")

YEAR_DAYS = 365
NET_PREMIUM_SHARE = Decimal("0.65")  # short-term accident/medical: 35% deduction from gross
COOLING_OFF_DAYS = 15
PAPER_POLICY_FEE_FEN = 1000  # 工本费 ¥10.00
QUOTE_VALID = dt.timedelta(minutes=30)
REVIEW_AND_PAY_WORKING_DAYS = 4  # 1 to review, 3 to pay
LEGAL_LATEST_DAYS = 30  # Insurance Law art. 47

PRODUCTS: Dict[str, str] = {
    "ACC_1Y": "一年期意外险",
    "MED_1Y": "百万医疗险",
    "CI_WL_20PAY": "终身重疾险（20年交）",
    "TRAVEL_ACC": "旅行意外险",
}

# CI_WL_20PAY cash value at the end of policy year k (yuan), sum assured ¥100,000.
CI_CASH_VALUE_YUAN: Tuple[int, ...] = (
    0, 124, 307, 588, 2165, 3837, 5606, 7477, 9453, 11539, 13740,
    16045, 18455, 20975, 23610, 26365, 29245, 32255, 35400, 38685, 42989,
)

LINE_LABELS = {
    "premium_paid": "已交保费",
    "unearned_premium": "未满期保费",
    "deduction": "扣除手续费（35%）",
    "paper_fee": "纸质保单工本费",
    "policy_loan": "扣除保单借款",
    "cash_value": "保单现金价值",
    "claim_paid": "保险期间已赔付金额",
}

WECHAT_PAY_DISPLAY = "微信支付原路退回"

# Why a line takes money away (or leaves none), per product: one plain sentence naming the rule
# and the clause of the product's terms. Keyed by (product, line code); a key with a basis as
# well, (product, line code, basis), wins for that basis only.
_ACC = "《一年期意外险条款》"
_MED = "《百万医疗险条款》"
_CI = "《终身重疾险条款》"
_TRAVEL = "《旅行意外险条款》"
_NET_PREMIUM_RULE = ("保障开始后退保，退还未满期净保费，即未满期保费的65%；"
                     "其余35%是已经发生的销售和管理费用，不予退还。")
BASIS_TEXTS: Dict[tuple, str] = {
    ("ACC_1Y", "deduction"): f"按{_ACC}第十二条，{_NET_PREMIUM_RULE}",
    ("ACC_1Y", "claim_paid"): f"按{_ACC}第十二条，保险期间内已经赔付过的保单，退保时不退还保费。",
    ("MED_1Y", "deduction"): f"按{_MED}第十四条，{_NET_PREMIUM_RULE}",
    ("MED_1Y", "claim_paid"): f"按{_MED}第十四条，保险期间内已经赔付过的保单，退保时不退还保费。",
    ("CI_WL_20PAY", "paper_fee"): (f"按{_CI}第六条，犹豫期内退保全额退还已交保费，"
                                   "纸质保单扣除工本费10元，电子保单不扣。"),
    ("CI_WL_20PAY", "cash_value"): (f"按{_CI}第八条，犹豫期过后退保，退还保单的现金价值；"
                                    "已交保费中的其余部分已用于保障成本和销售、管理费用，不予退还。"),
    ("CI_WL_20PAY", "policy_loan"): f"按{_CI}第二十二条，退保时先从现金价值中扣还尚未还清的保单借款。",
    ("CI_WL_20PAY", "claim_paid"): f"按{_CI}第二十一条，已经赔付过重大疾病保险金的，退保时没有现金价值可退。",
    ("TRAVEL_ACC", "premium_paid", "trip_started"): (f"按{_TRAVEL}第九条，行程开始后保障已经生效，"
                                                     "退保不退还保费。"),
}


def basis_text(product_code: str, line_code: str, basis: str) -> Optional[str]:
    """The "why" sentence of a quote line, or None for a line that takes nothing away."""
    return BASIS_TEXTS.get((product_code, line_code, basis)) or BASIS_TEXTS.get((product_code, line_code))


# How an expected refund date was counted (``expected_refund_date_basis`` on the wire).
OFFICIAL_CALENDAR = "official_calendar"  # every day looked at was covered by chinesecalendar
WEEKDAYS_ESTIMATE = "weekdays_estimate"  # some day was not: Monday–Friday counted as working days

_warned_years: Set[int] = set()
_warned_lock = threading.Lock()


@dataclass(frozen=True)
class PolicyTerms:
    """What the money rules need to know about a policy."""

    product_code: str
    premium_fen: int  # one premium (annual for CI_WL_20PAY)
    cover_start: dt.date  # trip start for TRAVEL_ACC, issue date for CI_WL_20PAY
    premiums_paid: int = 1
    receipt_date: Optional[dt.date] = None
    paper_policy: bool = False
    claim_paid_fen: int = 0
    policy_loan_fen: int = 0


@dataclass(frozen=True)
class QuoteFigures:
    basis: str
    lines: Tuple[Tuple[str, int], ...]  # (line code, amount in fen)
    refund_fen: int
    to_original_payment: bool  # True: WeChat Pay, back the way it came; False: bank card


def to_fen(yuan: Decimal) -> int:
    """Round half-up to 0.01 yuan, once, and return integer fen."""
    return int((yuan * 100).quantize(Decimal("1"), rounding=ROUND_HALF_UP))


def yuan(fen: int) -> Decimal:
    return Decimal(fen) / 100


def ci_cash_value(issue_date: dt.date, today: dt.date) -> Decimal:
    """Cash value of CI_WL_20PAY, interpolated by day within the policy year (unrounded)."""
    n = (today - issue_date).days
    k, d = n // YEAR_DAYS + 1, n % YEAR_DAYS + 1
    if k >= len(CI_CASH_VALUE_YUAN):  # the sandbox table stops at year 20
        return Decimal(CI_CASH_VALUE_YUAN[-1])
    low, high = Decimal(CI_CASH_VALUE_YUAN[k - 1]), Decimal(CI_CASH_VALUE_YUAN[k])
    return low + (high - low) * d / YEAR_DAYS


def quote_figures(terms: PolicyTerms, today: dt.date) -> QuoteFigures:
    """What a surrender on ``today`` pays, line by line."""
    premium = yuan(terms.premium_fen)
    code = terms.product_code
    if code in ("ACC_1Y", "MED_1Y"):
        if today < terms.cover_start:
            return QuoteFigures("not_started", (("premium_paid", terms.premium_fen),),
                                terms.premium_fen, True)
        if terms.claim_paid_fen > 0:
            return QuoteFigures("claim_paid", (("premium_paid", terms.premium_fen),
                                               ("claim_paid", terms.claim_paid_fen)), 0, False)
        elapsed = (today - terms.cover_start).days + 1
        remaining = max(Decimal(0), 1 - Decimal(elapsed) / YEAR_DAYS)
        unearned_fen = to_fen(premium * remaining)
        refund_fen = to_fen(premium * NET_PREMIUM_SHARE * remaining)
        return QuoteFigures("unearned_premium", (
            ("premium_paid", terms.premium_fen),
            ("unearned_premium", unearned_fen),
            ("deduction", unearned_fen - refund_fen),
        ), refund_fen, False)
    if code == "CI_WL_20PAY":
        paid_fen = terms.premium_fen * terms.premiums_paid
        receipt = terms.receipt_date or terms.cover_start
        if (today - receipt).days + 1 <= COOLING_OFF_DAYS:  # the receipt day is day 1
            fee_fen = PAPER_POLICY_FEE_FEN if terms.paper_policy else 0
            lines = [("premium_paid", paid_fen)]
            if fee_fen:
                lines.append(("paper_fee", fee_fen))
            return QuoteFigures("cooling_off", tuple(lines), paid_fen - fee_fen, True)
        if terms.claim_paid_fen > 0:
            return QuoteFigures("claim_paid", (("premium_paid", paid_fen),
                                               ("claim_paid", terms.claim_paid_fen)), 0, False)
        cash_value = ci_cash_value(terms.cover_start, today)
        lines = [("premium_paid", paid_fen), ("cash_value", to_fen(cash_value))]
        if terms.policy_loan_fen:
            lines.append(("policy_loan", terms.policy_loan_fen))
        refund = max(Decimal(0), cash_value - yuan(terms.policy_loan_fen))
        return QuoteFigures("cash_value", tuple(lines), to_fen(refund), False)
    if code == "TRAVEL_ACC":
        if today < terms.cover_start:
            return QuoteFigures("not_started", (("premium_paid", terms.premium_fen),),
                                terms.premium_fen, True)
        return QuoteFigures("trip_started", (("premium_paid", terms.premium_fen),), 0, False)
    raise ValueError(f"unknown product {code}")


class RefundDate(NamedTuple):
    date: dt.date
    basis: str  # OFFICIAL_CALENDAR | WEEKDAYS_ESTIMATE


def _warn_no_calendar(year: int) -> None:
    with _warned_lock:
        if year in _warned_years:
            return
        _warned_years.add(year)
    log.warning("chinesecalendar %s has no holiday data for %s: days in %s count Monday–Friday "
                "as working days (expected_refund_date_basis=%s)",
                getattr(chinese_calendar, "__version__", "?"), year, year, WEEKDAYS_ESTIMATE)


def workday(day: dt.date) -> Tuple[bool, bool]:
    """(is a working day, the holiday library covered it). Without data for the year,
    Monday–Friday count as working days: a surrender is never blocked by missing data."""
    try:
        return chinese_calendar.is_workday(day), True
    except NotImplementedError:
        _warn_no_calendar(day.year)
        return day.weekday() < 5, False


def is_workday(day: dt.date) -> bool:
    """A Chinese working day (State Council holidays and make-up days); Monday–Friday for a
    year the holiday library does not cover."""
    return workday(day)[0]


def expected_refund_date(submitted_on: dt.date) -> RefundDate:
    """4 Chinese working days after submission (State Council holidays and make-up days), and
    whether every day looked at was covered by the holiday library or some were estimated."""
    day, counted, covered = submitted_on, 0, True
    while counted < REVIEW_AND_PAY_WORKING_DAYS:
        day += dt.timedelta(days=1)
        working, known = workday(day)
        covered = covered and known
        if working:
            counted += 1
    return RefundDate(day, OFFICIAL_CALENDAR if covered else WEEKDAYS_ESTIMATE)


def legal_latest_date(submitted_on: dt.date) -> dt.date:
    return submitted_on + dt.timedelta(days=LEGAL_LATEST_DAYS)


def labelled_lines(lines: Tuple[Tuple[str, int], ...], product_code: str, basis: str) -> List[dict]:
    """The quote's lines as the API sends them, each that takes money away with its basis_text."""
    return [{"code": code, "label": LINE_LABELS[code], "amount_fen": fen,
             "basis_text": basis_text(product_code, code, basis)} for code, fen in lines]
