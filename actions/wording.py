"""How money, dates, quotes and cases are said to the user (plain, warm Chinese).

Pure functions: the insurer computes every amount, these only put its figures into words.
"""
from __future__ import annotations

import datetime as dt
from decimal import ROUND_HALF_UP, Decimal
from typing import Any, Dict, Iterable, List, Optional

from insurers.base import QuoteLine, SurrenderCase, SurrenderQuote

_CENT = Decimal("0.01")

# Lines that are taken off the refund: said with a minus sign so nothing is hidden. A paid claim
# is not among them: it explains why nothing comes back, it is not subtracted.
DEDUCTION_CODES = frozenset({"deduction", "paper_fee", "policy_loan"})

BASIS_REASON = {
    "cooling_off": "您还在犹豫期内，已交的保费全额退还（纸质保单只扣工本费）。",
    "not_started": "保障还没有开始，保费全额退还。",
    "unearned_premium": "保障已经开始，按还没用到的天数退还保费，并按合同扣除一部分费用。",
    "cash_value": "已经过了犹豫期，按保单的现金价值退还（有保单贷款的会先扣除）。",
    "claim_paid": "这张保单保障期内已经理赔过，按合同约定退保不再退还保费。",
    "trip_started": "行程已经开始，按合同约定退保不再退还保费。",
}

CASE_STATE = {
    "APPLY": "已提交，正在审核",
    "AGREE": "已审核通过，正在安排退款",
    "REFUND": "已退款",
    "REJECT": "未通过审核",
    "REVOKE": "已撤销",
}


def yuan(amount: Decimal) -> str:
    """``Decimal('2972.2')`` → ``¥2,972.20`` (always two places, grouping for thousands)."""
    value = Decimal(amount).quantize(_CENT, rounding=ROUND_HALF_UP)
    return f"¥{value:,.2f}"


def day(date: dt.date) -> str:
    """``2026-12-01`` → ``2026年12月1日（2026-12-01）``: readable, and exact to copy."""
    return f"{date.year}年{date.month}月{date.day}日（{date.isoformat()}）"


# The insurer counts working days with the official holiday calendar; past the calendar's data it
# estimates on weekdays, and the user is told so rather than given false precision.
ESTIMATE_NOTE = "，按工作日估算，遇法定节假日可能顺延"


def expected_day(date: dt.date, basis: str = "official_calendar") -> str:
    """The expected refund date, saying when it is only a weekday estimate."""
    if basis != "weekdays_estimate":
        return day(date)
    return f"{date.year}年{date.month}月{date.day}日（{date.isoformat()}{ESTIMATE_NOTE}）"


def _line_text(line: QuoteLine) -> str:
    sign = "−" if line.code in DEDUCTION_CODES and line.amount > 0 else ""
    return f"· {line.label}：{sign}{yuan(line.amount)}"


def quote_lines_text(lines: Iterable[QuoteLine]) -> str:
    """Every labelled amount of the insurer's arithmetic, one per line, deductions signed."""
    return "\n".join(_line_text(line) for line in lines)


def quote_readback(quote: SurrenderQuote) -> Dict[str, str]:
    """Template values of ``utter_quote_readback`` for one quote."""
    return {
        "product_name": quote.product_name,
        "quote_lines": quote_lines_text(quote.lines),
        "refund": yuan(quote.refund),
        "reason": BASIS_REASON.get(quote.basis, ""),
        "refund_route": quote.route.display,
        "expected_date": expected_day(quote.expected_refund_date, quote.expected_refund_date_basis),
        "latest_date": day(quote.legal_latest_date),
    }


def case_values(case: SurrenderCase) -> Dict[str, str]:
    """Template values of the case responses (status, submitted, withdrawn)."""
    return {
        "case_number": case.case_number,
        "product_name": case.product_name,
        "case_state": CASE_STATE.get(case.state, case.state),
        "submitted_on": day(case.submitted_on),
        "refund": yuan(case.refund),
        "refund_route": case.route.display,
        "expected_date": expected_day(case.expected_refund_date, case.expected_refund_date_basis),
        "latest_date": day(case.legal_latest_date),
    }


# ---------------------------------------------------------------- the quote kept in a slot
def quote_to_slot(quote: SurrenderQuote) -> Dict[str, Any]:
    """A JSON-safe copy of the quote for the non-influencing ``quote`` slot (amounts as strings,
    so no float ever holds money)."""
    return {
        "quote_id": quote.quote_id,
        "policy_number": quote.policy_number,
        "product_name": quote.product_name,
        "basis": quote.basis,
        "lines": [{"code": l.code, "label": l.label, "amount": str(l.amount)} for l in quote.lines],
        "refund": str(quote.refund),
        "route": quote.route.display,
        "expected_refund_date": quote.expected_refund_date.isoformat(),
        "expected_refund_date_basis": quote.expected_refund_date_basis,
        "legal_latest_date": quote.legal_latest_date.isoformat(),
    }


def lines_from_slot(kept: Dict[str, Any]) -> List[QuoteLine]:
    return [QuoteLine(l["code"], l["label"], Decimal(l["amount"])) for l in kept.get("lines", [])]


def refund_time_from_slot(kept: Optional[Dict[str, Any]]) -> Optional[Dict[str, str]]:
    """Template values of ``utter_refund_time_quote`` from a kept quote, if any."""
    if not kept:
        return None
    return {
        "refund_route": kept["route"],
        "expected_date": expected_day(dt.date.fromisoformat(kept["expected_refund_date"]),
                                      kept.get("expected_refund_date_basis", "official_calendar")),
        "latest_date": day(dt.date.fromisoformat(kept["legal_latest_date"])),
    }


def moment(at: dt.datetime) -> str:
    """A moment in Beijing time, ``12月2日 09:00``."""
    local = at.astimezone(dt.timezone(dt.timedelta(hours=8))) if at.tzinfo else at
    return f"{local.month}月{local.day}日 {local:%H:%M}"
