"""How money, dates, policies, quotes and cases are said to the user (plain, warm Chinese).

Pure functions: the insurer computes every amount, these only put its figures into words.
With the responses of domain.yml these are the dialogue's sentences. They are not all the
bot's: the channels keep their own few (connectors/wording.py for every channel,
connectors/telegram/wording.py, the WeChat channel's modules) and the console's desk its notices
(console/wording.py); tests/actions/test_style.py reads every one of these places against the
house style. House rules: 您, never 你; a date is written once
(2026年12月1日); no full-width bracket inside another, so an insurer's name such as
"终身重疾险（20年交）" is never put inside brackets.
"""
from __future__ import annotations

import datetime as dt
from decimal import ROUND_HALF_UP, Decimal
from typing import Any, Dict, Iterable, List, Optional, Tuple

from insurers.base import QuoteLine, RefundRoute, SurrenderCase, SurrenderQuote
from redaction import mask_policy_number

_CENT = Decimal("0.01")

# Lines that are taken off the refund: said with a minus sign so nothing is hidden. A paid claim
# is not among them: it explains why nothing comes back, it is not subtracted.
DEDUCTION_CODES = frozenset({"deduction", "paper_fee", "policy_loan"})
# Lines whose reason the user may ask about ("为什么扣钱"): what is taken off, and a paid claim.
EXPLAINED_CODES = DEDUCTION_CODES | {"claim_paid"}

BASIS_REASON = {
    "cooling_off": "您还在犹豫期内，已交的保费全额退还，纸质保单只扣工本费。",
    "not_started": "保障还没有开始，保费全额退还。",
    "unearned_premium": "保障已经开始，按还没用到的天数退还保费，并按合同扣除一部分费用。",
    "cash_value": "已经过了犹豫期，按保单的现金价值退还，有保单借款的先扣除借款。",
    "claim_paid": "这张保单在保障期内已经理赔过，按合同约定，退保不再退还保费。",
    "trip_started": "行程已经开始，按合同约定，退保不再退还保费。",
}

# Offered in the read-back when something is taken off, answered by action_answer_fee.
FEE_OFFER = "想了解为什么扣这笔钱，可以直接问我。"
NO_REFUND_OFFER = "想了解为什么不退钱，可以直接问我。"
# "为什么扣钱" on a cash-value surrender: nothing is deducted line by line, the gap is the rule.
CASH_VALUE_WHY = ("长期保险前几年的现金价值通常明显少于已交保费：已交的保费里，有一部分已经用于这几年的保障，"
                  "还有一部分是销售和管理费用，这些都不退还。具体数额以合同里的现金价值表为准。")
# When the insurer gives no reason for a line, the rule of the quote's basis stands in.
NO_CLAUSE = "保险公司没有给出这笔扣费的条款依据，可以说“转人工”请人工客服核实。"

# A refund below this share of the premiums paid is "well below": the difference is said once,
# in money, as a fact (保险销售行为管理办法: explain the consequences, induce neither way).
LOSS_SHARE = Decimal("0.5")


def yuan(amount: Decimal) -> str:
    """``Decimal('2972.2')`` → ``¥2,972.20`` (always two places, grouping for thousands)."""
    value = Decimal(amount).quantize(_CENT, rounding=ROUND_HALF_UP)
    return f"¥{value:,.2f}"


def day(date: dt.date) -> str:
    """``2026-12-01`` → ``2026年12月1日``: one way, once."""
    return f"{date.year}年{date.month}月{date.day}日"


# The insurer counts working days with the official holiday calendar; past the calendar's data it
# estimates on weekdays, and the user is told so rather than given false precision.
ESTIMATE_NOTE = "（按工作日估算，遇法定节假日可能顺延）"


def expected_day(date: dt.date, basis: str = "official_calendar") -> str:
    """The expected refund date, saying when it is only a weekday estimate."""
    if basis != "weekdays_estimate":
        return day(date)
    return day(date) + ESTIMATE_NOTE


def policy_label(policy_number: str, product_name: str) -> str:
    """``终身重疾险（20年交），保单号 SBX2********0046``: enough to recognise the policy, with
    the number masked as everywhere on screens."""
    return f"{product_name}，保单号 {mask_policy_number(policy_number)}"


WECHAT_PAY = "wechat_pay"


def refund_to(kind: str, display: str) -> str:
    """Where the money goes, as a verb phrase after 将/已: ``原路退回微信支付`` or
    ``退到招商银行 尾号6789`` (the insurer's display text is a label, not a sentence)."""
    return "原路退回微信支付" if kind == WECHAT_PAY else f"退到{display}"


def _route_phrase(route: RefundRoute) -> str:
    return refund_to(route.kind, route.display)


def _line_text(line: QuoteLine) -> str:
    sign = "−" if line.code in DEDUCTION_CODES and line.amount > 0 else ""
    return f"· {line.label}：{sign}{yuan(line.amount)}"


def quote_lines_text(lines: Iterable[QuoteLine]) -> str:
    """Every labelled amount of the insurer's arithmetic, one per line, deductions signed."""
    return "\n".join(_line_text(line) for line in lines)


def _explained_lines(lines: Iterable[QuoteLine]) -> List[QuoteLine]:
    return [line for line in lines if line.code in EXPLAINED_CODES and line.amount > 0]


def premium_paid(lines: Iterable[QuoteLine]) -> Optional[Decimal]:
    for line in lines:
        if line.code == "premium_paid":
            return line.amount
    return None


def loss_values(lines: Iterable[QuoteLine], refund: Decimal) -> Optional[Dict[str, str]]:
    """Template values of ``utter_surrender_loss`` when the refund is well below the premiums
    paid (and something does come back: a zero refund is said by its own read-back)."""
    paid = premium_paid(lines)
    if paid is None or refund <= 0 or refund >= paid * LOSS_SHARE:
        return None
    return {"premium_paid": yuan(paid), "refund": yuan(refund), "loss": yuan(paid - refund)}


def quote_readback(quote: SurrenderQuote) -> Dict[str, str]:
    """Template values of ``utter_quote_readback`` (and ``…_no_refund``) for one quote."""
    reason = BASIS_REASON.get(quote.basis, "")
    if any(line.code in DEDUCTION_CODES and line.amount > 0 for line in quote.lines):
        reason += FEE_OFFER
    elif _explained_lines(quote.lines):
        reason += NO_REFUND_OFFER
    return {
        "policy": policy_label(quote.policy_number, quote.product_name),
        "quote_lines": quote_lines_text(quote.lines),
        "refund": yuan(quote.refund),
        "reason": reason,
        "refund_to": _route_phrase(quote.route),
        "expected_date": expected_day(quote.expected_refund_date, quote.expected_refund_date_basis),
        "latest_date": day(quote.legal_latest_date),
    }


def fee_answer(kept: Dict[str, Any]) -> Tuple[str, Dict[str, str]]:
    """The response and its values for "为什么扣钱" about the kept quote: why each amount is taken off, in the insurer's
    words with the clause it comes from (``basis_text``); the quote's rule when none is taken."""
    lines = lines_from_slot(kept)
    explained = _explained_lines(lines)
    reason = BASIS_REASON.get(kept.get("basis", ""), "")
    if explained:
        why = "\n".join(f"· {line.label} {yuan(line.amount)}：{line.basis_text or NO_CLAUSE}"
                        for line in explained)
    else:
        # Nothing is taken off (cooling-off, cash value): the rule itself is the answer; a
        # clause the insurer attached to any line is read back too.
        clauses = [line.basis_text for line in lines if line.basis_text]
        if kept.get("basis") == "cash_value":
            clauses.append(CASH_VALUE_WHY)  # the clause, then why it leaves so little, plainly
        why = "\n".join([reason, *clauses])
    response = "utter_fee_quote" if explained else "utter_fee_quote_no_deduction"
    return response, {
        "quote_lines": quote_lines_text(lines),
        "refund": yuan(Decimal(kept["refund"])),
        "fee_reasons": why,
    }


# ---------------------------------------------------------------- cases
# One true sentence per case state (domain.yml): a withdrawn or rejected case promises no money.
CASE_STATE_RESPONSES = {
    "APPLY": "utter_case_status_apply",
    "AGREE": "utter_case_status_agree",
    "REFUND": "utter_case_status_refund",
    "REJECT": "utter_case_status_reject",
    "REVOKE": "utter_case_status_revoke",
}

def case_values(case: SurrenderCase) -> Dict[str, str]:
    """Template values of the case responses (status, submitted, withdrawn)."""
    return {
        "case_number": case.case_number,
        "policy": policy_label(case.policy_number, case.product_name),
        "submitted_on": day(case.submitted_on),
        "refund": yuan(case.refund),
        "refund_to": _route_phrase(case.route),
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
        "lines": [{"code": l.code, "label": l.label, "amount": str(l.amount), "basis_text": l.basis_text}
                  for l in quote.lines],
        "refund": str(quote.refund),
        "route": quote.route.display,
        "route_kind": quote.route.kind,
        "expected_refund_date": quote.expected_refund_date.isoformat(),
        "expected_refund_date_basis": quote.expected_refund_date_basis,
        "legal_latest_date": quote.legal_latest_date.isoformat(),
    }


def quote_summary(kept: Dict[str, Any]) -> Dict[str, str]:
    """The policy and refund of a kept quote, for naming it again before a confirmation."""
    if not kept or not kept.get("policy_number"):
        return {"policy": "这张保单", "refund": "-"}
    return {"policy": policy_label(kept["policy_number"], kept.get("product_name") or "保单"),
            "refund": yuan(Decimal(kept["refund"]))}


def lines_from_slot(kept: Dict[str, Any]) -> List[QuoteLine]:
    return [QuoteLine(l["code"], l["label"], Decimal(l["amount"]), l.get("basis_text"))
            for l in kept.get("lines", [])]


def refund_time_from_slot(kept: Optional[Dict[str, Any]]) -> Optional[Dict[str, str]]:
    """Template values of ``utter_refund_time_quote`` from a kept quote, if any."""
    if not kept:
        return None
    # A quote kept before route_kind was stored: the insurer's WeChat Pay label tells the kind.
    kind = kept.get("route_kind") or (WECHAT_PAY if "微信" in kept["route"] else "bank_card")
    return {
        "refund_to": refund_to(kind, kept["route"]),
        "expected_date": expected_day(dt.date.fromisoformat(kept["expected_refund_date"]),
                                      kept.get("expected_refund_date_basis", "official_calendar")),
        "latest_date": day(dt.date.fromisoformat(kept["legal_latest_date"])),
    }


# ---------------------------------------------------------------- the holder lookup's list
POLICY_STATUS = {"in_force": "有效", "terminated": "已终止"}


def cover_period(start: dt.date, end: Optional[dt.date]) -> str:
    """``2026年8月18日至2027年8月17日``, or from the start date on for whole-life cover."""
    first = f"{start.year}年{start.month}月{start.day}日"
    if end is None:
        return f"{first}起"
    return f"{first}至{end.year}年{end.month}月{end.day}日"


def listed_policy_text(index: int, policy: Dict[str, Any]) -> str:
    """One line of the lookup's list: product, number, insurer, state, cover period."""
    end = dt.date.fromisoformat(policy["cover_end"]) if policy.get("cover_end") else None
    period = cover_period(dt.date.fromisoformat(policy["cover_start"]), end)
    status = POLICY_STATUS.get(policy["status"], policy["status"])
    return (f"{index}. {policy['product_name']} {policy['policy_number']}，{policy['insurer_name']}，"
            f"{status}，保障期{period}")


def listed_policy_button_title(policy: Dict[str, Any]) -> str:
    return f"退保：{policy['product_name']} {policy['policy_number']}"


def kept_items(*, user_messages: int, policy_masked: Optional[str], case_number: Optional[str],
               verified_until: Optional[str], handoff_count: int, connector_count: int,
               agent_turns: int = 0, audit_entries: int = 0) -> str:
    """What the project keeps for one conversation, one category a line (masked values only)."""
    lines = [f"· 对话记录：您发来的 {user_messages} 条消息和我的回复"]
    if policy_masked or case_number:
        refs = "、".join(x for x in (f"保单号 {policy_masked}" if policy_masked else "",
                                     f"案件号 {case_number}" if case_number else "") if x)
        lines.append(f"· 办理中用到的编号：{refs}")
    if verified_until:
        lines.append(f"· 身份验证凭证：加密保存，{verified_until}前有效，过期自动删除")
    if handoff_count:
        replies = f"，客服的回复和备注 {agent_turns} 条" if agent_turns else ""
        lines.append(f"· 转人工登记：{handoff_count} 条{replies}（只存遮盖后的保单号和文字）")
    if audit_entries:
        lines.append(f"· 客服查看记录：{audit_entries} 条（只记哪位客服在何时做了什么，"
                     "不含您的账号和身份信息；依法保存半年，删除对话后也保留到期满）")
    if connector_count:
        lines.append(f"· 消息投递记录：{connector_count} 条（防止重复处理，最长保存48小时）")
    return "\n".join(lines)


def moment(at: dt.datetime) -> str:
    """A moment in Beijing time, ``12月2日 09:00``."""
    local = at.astimezone(dt.timezone(dt.timedelta(hours=8))) if at.tzinfo else at
    return f"{local.month}月{local.day}日 {local:%H:%M}"
