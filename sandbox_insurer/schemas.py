"""Request and response bodies of the HTTP API (pydantic 1.10). Every string is capped and
patterned, so nothing absurd or unexpected reaches the database."""
from __future__ import annotations

from typing import List, Literal, Optional

from pydantic import BaseModel, confloat, conint, constr, root_validator

# The sandbox insurer's numbers and 恒信人寿's (brands.py); each key sees its own insurer's only.
POLICY_NUMBER_RE = r"^(SBX\d{12}[0-9X]|HX\d{12})$"
CASE_NUMBER_RE = r"^(TB\d{14}|HXC\d{12})$"
OPAQUE_ID_RE = r"^[A-Za-z0-9_-]{8,64}$"
PHONE_RE = r"^1[3-9]\d{9}$"
IDEMPOTENCY_KEY_RE = r"^[\x21-\x7e]{1,64}$"  # printable ASCII, no spaces

PolicyNumber = constr(strict=True, max_length=16, regex=POLICY_NUMBER_RE)
CaseNumber = constr(strict=True, max_length=16, regex=CASE_NUMBER_RE)
OpaqueId = constr(strict=True, max_length=64, regex=OPAQUE_ID_RE)


class Strict(BaseModel):
    class Config:
        extra = "forbid"


class VerifyRequest(Strict):
    policy_number: Optional[PolicyNumber] = None
    case_number: Optional[CaseNumber] = None
    id_suffix: constr(strict=True, max_length=6, regex=r"^\d{5}[\dXx]$")
    # What the code is for; the SMS names it (退保, 查询进度, 撤销申请).
    purpose: Literal["surrender", "status", "withdraw"] = "surrender"

    @root_validator(skip_on_failure=True)
    def one_number(cls, values):
        if (values.get("policy_number") is None) == (values.get("case_number") is None):
            raise ValueError("give exactly one of policy_number and case_number")
        return values


class ConfirmRequest(Strict):
    challenge_id: OpaqueId
    code: constr(strict=True, max_length=6, regex=r"^\d{6}$")


class LookupRequest(Strict):
    phone: constr(strict=True, max_length=11, regex=PHONE_RE)
    id_suffix: constr(strict=True, max_length=6, regex=r"^\d{5}[\dXx]$")


class SurrenderRequest(Strict):
    quote_id: OpaqueId
    reason: Optional[constr(strict=True, max_length=200)] = None


class ErrorOut(BaseModel):
    error: str
    message: str


class ChallengeOut(BaseModel):
    challenge_id: str
    phone_masked: str
    expires_at: str


class HolderTokenOut(BaseModel):
    token: str
    policy_number: str
    expires_at: str


class HolderPolicyOut(BaseModel):
    """A policy as a holder lookup lists it: enough to recognise it, nothing more."""

    policy_number: str
    product_name: str
    status: Literal["in_force", "terminated"]
    cover_start: str
    cover_end: Optional[str]


class HolderPoliciesOut(BaseModel):
    token: str  # opens every listed policy for 30 minutes
    expires_at: str
    policies: List[HolderPolicyOut]


class PolicyOut(BaseModel):
    policy_number: str
    product_code: str
    product_name: str
    holder_name_masked: str
    status: Literal["in_force", "terminated"]
    cover_start: str
    cover_end: Optional[str]
    premium_fen: int
    open_case_number: Optional[str]


class QuoteLineOut(BaseModel):
    code: str
    label: str
    amount_fen: int
    # Why a line takes money away: the rule and the clause, in one plain sentence.
    basis_text: Optional[str] = None


class RefundRouteOut(BaseModel):
    kind: Literal["wechat_pay", "bank_card"]
    display: str


class QuoteOut(BaseModel):
    quote_id: str
    policy_number: str
    product_code: str
    product_name: str
    basis: Literal["cooling_off", "not_started", "unearned_premium", "cash_value", "claim_paid",
                   "trip_started"]
    lines: List[QuoteLineOut]
    refund_fen: int
    refund_route: RefundRouteOut
    expected_refund_date: str
    # official_calendar: counted on the State Council holiday calendar; weekdays_estimate: some
    # day fell in a year without holiday data and Monday–Friday were counted instead.
    expected_refund_date_basis: Literal["official_calendar", "weekdays_estimate"]
    legal_latest_date: str
    valid_until: str


class CaseOut(BaseModel):
    case_number: str
    policy_number: str
    product_name: str
    state: Literal["APPLY", "AGREE", "REFUND", "REJECT", "REVOKE"]
    submitted_on: str
    expected_refund_date: str
    # official_calendar: counted on the State Council holiday calendar; weekdays_estimate: some
    # day fell in a year without holiday data and Monday–Friday were counted instead.
    expected_refund_date_basis: Literal["official_calendar", "weekdays_estimate"]
    legal_latest_date: str
    refund_fen: int
    refund_route: RefundRouteOut
    updated_at: str


class CasesOut(BaseModel):
    cases: List[CaseOut]


class HealthOut(BaseModel):
    status: str
    today: str


class LoadPoliciesBody(BaseModel):
    count: conint(strict=True, ge=1, le=1000)


class LoadedPolicyOut(BaseModel):
    policy_number: str
    id_suffix: str
    phone: str


class SmsOut(BaseModel):
    phone: str
    code: str
    text: str
    sent_at: str


class FaultsBody(Strict):
    latency_ms: conint(strict=True, ge=0, le=60_000) = 0
    error_rate: confloat(ge=0.0, le=1.0) = 0.0
    error_mode: Literal["500", "hang", "malformed"] = "500"


class SmsLimitsBody(Strict):
    """SMS codes per phone and per holder: one per ``min_interval_s``, ``max_per_hour`` an
    hour; 0 switches a limit off."""
    min_interval_s: conint(strict=True, ge=0, le=3600) = 60
    max_per_hour: conint(strict=True, ge=0, le=1000) = 5


class ClockBody(Strict):
    """Move the sandbox clock: ``offset_seconds`` from its natural time (0 = back to normal)."""

    offset_seconds: conint(strict=True, ge=-3_650 * 86_400, le=3_650 * 86_400)


class ClockOut(BaseModel):
    now: str
    today: str
    offset_seconds: int
