"""The one interface every insurer adapter implements, and the typed outcomes it returns.

Actions never see HTTP, JSON or booleans: each call returns exactly one of the outcome
types below, so a caller matches on the type and every branch is visible (and testable).
Money is ``Decimal`` yuan with two places; the adapter converts from the insurer's fen.
"""
from __future__ import annotations

import abc
import dataclasses
import datetime as dt
import enum
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Optional, Tuple, Union


# ---------------------------------------------------------------- outcomes shared by all calls
@dataclass(frozen=True)
class InsurerUnavailable:
    """The insurer did not answer usefully (timeout, 5xx, malformed body, connection refused)."""

    detail: str = ""


@dataclass(frozen=True)
class SessionExpired:
    """The identity-check token expired or does not cover this policy: check identity again."""


@dataclass(frozen=True)
class UnknownInsurer:
    """No configured insurer issues policy numbers of this shape."""

    policy_number: str


# ---------------------------------------------------------------- identity check
class VerifyPurpose(str, enum.Enum):
    """What an identity check is for; the insurer's SMS names it, so a code asked for by
    someone else for something else stands out."""

    SURRENDER = "surrender"  # 退保
    STATUS = "status"  # 查询进度
    WITHDRAW = "withdraw"  # 撤销申请


@dataclass(frozen=True)
class Challenge:
    """A right policy/ID-suffix pair: an SMS code was sent to the phone on file."""

    challenge_id: str
    phone_masked: str
    expires_at: dt.datetime


@dataclass(frozen=True)
class IdentityMismatch:
    """Unknown policy (or case) or wrong ID suffix: deliberately one answer for both."""


@dataclass(frozen=True)
class Locked:
    """Too many failures: the identity check of this policy is locked until ``until``."""

    until: dt.datetime


@dataclass(frozen=True)
class TooManyCodes:
    """The insurer sent codes to this phone or holder too recently (its sending limits): no
    code went out; a new one can be asked for from ``retry_at``."""

    retry_at: dt.datetime


@dataclass(frozen=True)
class CodeRejected:
    """Wrong, expired or already used SMS code."""

    attempts_left: Optional[int] = None


@dataclass(frozen=True)
class HolderSession:
    """Proof of a passed identity check, for a short time: for one policy, or (after a holder
    lookup) for every policy in ``covers``. Calls act on ``policy_number``; a holder-wide
    session is pointed at one of its policies with :meth:`for_policy`."""

    token: str = field(repr=False)  # a bearer credential: kept out of logs and reprs
    policy_number: Optional[str]
    expires_at: dt.datetime
    covers: Tuple[str, ...] = ()

    def opens(self, policy_number: str) -> bool:
        return policy_number == self.policy_number or policy_number in self.covers

    def for_policy(self, policy_number: str) -> "HolderSession":
        """The same session, acting on ``policy_number`` (which it must open)."""
        if not self.opens(policy_number):
            raise ValueError("this session does not open that policy")
        return dataclasses.replace(self, policy_number=policy_number)


@dataclass(frozen=True)
class ListedPolicy:
    """A policy as a holder lookup lists it: enough to recognise it, nothing more."""

    policy_number: str
    product_name: str
    status: str  # "in_force" | "terminated"
    cover_start: dt.date
    cover_end: Optional[dt.date]


@dataclass(frozen=True)
class HolderPolicies:
    """A passed holder lookup: the holder's policies at this insurer and one session that opens
    all of them (a surrender can follow without a second code)."""

    session: HolderSession
    policies: Tuple[ListedPolicy, ...]


# ---------------------------------------------------------------- policy, quote, case
@dataclass(frozen=True)
class PolicySummary:
    policy_number: str
    product_code: str
    product_name: str
    holder_name_masked: str
    status: str  # "in_force" | "terminated"
    cover_start: dt.date
    cover_end: Optional[dt.date]
    premium: Decimal
    open_case_number: Optional[str] = None


@dataclass(frozen=True)
class QuoteLine:
    """One labelled amount of the insurer's arithmetic (premium paid, deduction, 工本费…)."""

    code: str
    label: str
    amount: Decimal
    # The insurer's "why this deduction": the rule and the clause, for lines that take money away.
    basis_text: Optional[str] = None


@dataclass(frozen=True)
class RefundRoute:
    kind: str  # "wechat_pay" | "bank_card"
    display: str  # "微信支付原路退回" | "招商银行 尾号6789" (already masked by the insurer)


@dataclass(frozen=True)
class SurrenderQuote:
    quote_id: str
    policy_number: str
    product_code: str
    product_name: str
    basis: str  # cooling_off | not_started | unearned_premium | cash_value | claim_paid | trip_started
    lines: Tuple[QuoteLine, ...]
    refund: Decimal
    route: RefundRoute
    expected_refund_date: dt.date
    legal_latest_date: dt.date
    valid_until: dt.datetime
    # official_calendar | weekdays_estimate (no holiday data for a year: Monday–Friday counted)
    expected_refund_date_basis: str = "official_calendar"


@dataclass(frozen=True)
class NotEligible:
    """The policy cannot be surrendered now; ``reason`` says why, ``message`` says it to a person."""

    reason: str  # "terminated" | "case_open" | "not_policyholder"
    message: str
    open_case_number: Optional[str] = None


@dataclass(frozen=True)
class QuoteExpired:
    """The quote is older than its validity: quote again before submitting."""


@dataclass(frozen=True)
class SurrenderCase:
    case_number: str
    policy_number: str
    product_name: str
    state: str  # APPLY | AGREE | REFUND | REJECT | REVOKE
    submitted_on: dt.date
    expected_refund_date: dt.date
    legal_latest_date: dt.date
    refund: Decimal
    route: RefundRoute
    updated_at: Optional[dt.datetime] = None
    # official_calendar | weekdays_estimate (no holiday data for a year: Monday–Friday counted)
    expected_refund_date_basis: str = "official_calendar"


@dataclass(frozen=True)
class CaseNotFound:
    case_number: str


@dataclass(frozen=True)
class NotRevocable:
    """Withdrawal is allowed only while the case is in APPLY."""

    state: str


VerifyOutcome = Union[Challenge, IdentityMismatch, Locked, TooManyCodes, InsurerUnavailable]
ConfirmOutcome = Union[HolderSession, CodeRejected, Locked, InsurerUnavailable]
LookupOutcome = Union[Challenge, IdentityMismatch, Locked, TooManyCodes, InsurerUnavailable]
LookupConfirmOutcome = Union[HolderPolicies, CodeRejected, Locked, InsurerUnavailable]
SummaryOutcome = Union[PolicySummary, SessionExpired, InsurerUnavailable]
QuoteOutcome = Union[SurrenderQuote, NotEligible, SessionExpired, InsurerUnavailable]
SubmitOutcome = Union[SurrenderCase, NotEligible, QuoteExpired, SessionExpired, InsurerUnavailable]
CaseOutcome = Union[SurrenderCase, CaseNotFound, SessionExpired, InsurerUnavailable]
CasesOutcome = Union[Tuple[SurrenderCase, ...], SessionExpired, InsurerUnavailable]
WithdrawOutcome = Union[SurrenderCase, NotRevocable, CaseNotFound, SessionExpired, InsurerUnavailable]


class InsurerAdapter(abc.ABC):
    """What the action server needs from an insurer. All methods are coroutines and never raise
    for insurer-side problems: they return ``InsurerUnavailable`` instead."""

    @abc.abstractmethod
    async def verify_holder(
        self, *, id_suffix: str, policy_number: Optional[str] = None, case_number: Optional[str] = None,
        purpose: VerifyPurpose = VerifyPurpose.SURRENDER,
    ) -> VerifyOutcome:
        """Start the identity check from a policy number (or a case number) and the last six
        characters of the policyholder's ID number; the SMS names ``purpose``."""

    @abc.abstractmethod
    async def confirm_code(self, challenge_id: str, code: str) -> ConfirmOutcome:
        """Exchange the SMS code for a short-lived session on that one policy."""

    @abc.abstractmethod
    async def start_lookup(self, phone: str, id_suffix: str) -> LookupOutcome:
        """Find a holder without a policy number: mobile number + ID suffix. A wrong pair and a
        holder unknown to this insurer are the same ``IdentityMismatch``."""

    @abc.abstractmethod
    async def confirm_lookup(self, challenge_id: str, code: str) -> LookupConfirmOutcome:
        """Exchange the lookup's SMS code for the holder's policies and a session opening all."""

    @abc.abstractmethod
    async def policy_summary(self, session: HolderSession) -> SummaryOutcome:
        ...

    @abc.abstractmethod
    async def quote(self, session: HolderSession) -> QuoteOutcome:
        """Ask the insurer what a surrender today would pay, line by line."""

    @abc.abstractmethod
    async def submit(self, session: HolderSession, quote_id: str, idempotency_key: str) -> SubmitOutcome:
        """Apply for the surrender. The same ``idempotency_key`` never creates a second case."""

    @abc.abstractmethod
    async def list_cases(self, session: HolderSession) -> CasesOutcome:
        """The policy's surrender cases, newest first."""

    @abc.abstractmethod
    async def case_status(self, session: HolderSession, case_number: str) -> CaseOutcome:
        ...

    @abc.abstractmethod
    async def withdraw(self, session: HolderSession, case_number: str) -> WithdrawOutcome:
        """Withdraw (REVOKE) a case still in APPLY."""
