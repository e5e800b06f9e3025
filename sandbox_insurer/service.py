"""What the sandbox insurer does: identity check, policy details, quotes, cases.

Plain synchronous code over one SQLAlchemy session per call; the HTTP layer runs it in a
worker thread. Every "no" is an ``ApiError`` with the API's status and error code.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import logging
import secrets
from dataclasses import dataclass
from typing import Callable, FrozenSet, List, Optional, Tuple

from sqlalchemy import delete, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from . import models, rules, seed
from .brands import BRANDS, sms_text
from .clock import Clock
from .db import Database
from .errors import ApiError
from .identifiers import mask_name, mask_phone, policy_check_char

log = logging.getLogger("sandbox_insurer")

CODE_LIFETIME = dt.timedelta(minutes=5)
TOKEN_LIFETIME = dt.timedelta(minutes=30)
FAILURE_WINDOW = dt.timedelta(minutes=30)
LOCK_DURATION = dt.timedelta(minutes=30)
MAX_FAILURES = 5
NEXT_STATE = {"APPLY": "AGREE", "AGREE": "REFUND"}
# Compared against when the policy does not exist, so both "no" paths do the same work.
_NO_SUCH_SUFFIX = "\x00" * 6


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def _code_hash(challenge_id: str, code: str) -> str:
    return _sha256(f"{challenge_id}:{code}")


def _route(policy: models.Policy, to_original_payment: bool) -> tuple:
    if to_original_payment:
        return "wechat_pay", rules.WECHAT_PAY_DISPLAY
    return "bank_card", f"{policy.bank_name} 尾号{policy.bank_card_last4}"


def _terms(policy: models.Policy) -> rules.PolicyTerms:
    return rules.PolicyTerms(
        product_code=policy.product_code, premium_fen=policy.premium_fen,
        cover_start=policy.cover_start, premiums_paid=policy.premiums_paid,
        receipt_date=policy.receipt_date, paper_policy=policy.paper_policy,
        claim_paid_fen=policy.claim_paid_fen, policy_loan_fen=policy.policy_loan_fen)


def _mismatch() -> ApiError:
    return ApiError(403, "identity_mismatch", "保单号（或案件号）与投保人证件号后六位不匹配，请核对后重试。")


def _locked(until: dt.datetime) -> ApiError:
    return ApiError(423, "locked", f"验证失败次数过多，身份验证已锁定至 {until:%H:%M}，请稍后再试。",
                    locked_until=until.isoformat())


def _lookup_mismatch() -> ApiError:
    return ApiError(403, "identity_mismatch", "手机号与投保人证件号后六位不匹配，请核对后重试。")


def _refuse_after_failure(attempts_left: Optional[int], now: dt.datetime,
                          mismatch: Callable[[], ApiError]) -> None:
    """After a failed identity or lookup check (``attempts_left`` from ``_record_failure``,
    None when it passed): locked once no attempt is left, else the mismatch."""
    if attempts_left is None:
        return
    if attempts_left == 0:
        raise _locked(now + LOCK_DURATION)
    raise mismatch()


def _new_challenge(now: dt.datetime) -> Tuple[str, str, dt.datetime]:
    """A challenge id, its six-digit SMS code and when the code expires."""
    return secrets.token_urlsafe(18), f"{secrets.randbelow(1_000_000):06d}", now + CODE_LIFETIME


def _holder_key(id_number: str) -> str:
    """Who a holder is, for lookup challenges and holder-wide tokens, without the ID number."""
    return _sha256(f"holder:{id_number.upper()}")


def _phone_subject(insurer: str, phone: str) -> str:
    return f"{insurer}:phone:{_sha256(phone)[:40]}"


def _holder_subject(insurer: str, holder_key: str) -> str:
    """The lock of one person (the holder), across all their policies and the lookup."""
    return f"{insurer}:holder:{holder_key[:40]}"


@dataclass(frozen=True)
class SmsLimits:
    """Codes sent per phone and per holder: at most one per ``min_interval_s`` and
    ``max_per_hour`` an hour (0 = no limit). Each sent code voids the holder's earlier one, so
    without a limit anyone with a policy number and ID suffix could flood the phone."""

    min_interval_s: int = 60
    max_per_hour: int = 5


def _too_many_codes(retry_at: dt.datetime, now: dt.datetime) -> ApiError:
    wait = max(1, int((retry_at - now).total_seconds() + 0.999))
    return ApiError(429, "sms_rate_limited",
                    f"验证码发送过于频繁，请在 {retry_at:%H:%M:%S} 之后再试。",
                    retry_after_s=wait, retry_at=retry_at.isoformat())


@dataclass(frozen=True)
class Grant:
    """A valid holder token: the insurer it was issued by, every policy it opens, and the one
    policy a request addresses (None for a holder-wide token on a case-number request)."""

    insurer: str
    policy_ids: FrozenSet[int]
    policy_id: Optional[int]
    policy_number: Optional[str]


def case_view(case: models.SurrenderCase) -> dict:
    return {
        "case_number": case.case_number,
        "policy_number": case.policy.policy_number,
        "product_name": rules.PRODUCTS[case.policy.product_code],
        "state": case.state,
        "submitted_on": case.submitted_on.isoformat(),
        "expected_refund_date": case.expected_refund_date.isoformat(),
        "expected_refund_date_basis": case.expected_refund_date_basis,
        "legal_latest_date": case.legal_latest_date.isoformat(),
        "refund_fen": case.refund_fen,
        "refund_route": {"kind": case.route_kind, "display": case.route_display},
        "updated_at": case.updated_at.isoformat(),
    }


class SandboxInsurer:
    """The insurer's business operations over its database, on the injectable clock."""

    def __init__(self, db: Database, clock: Clock, case_advance_seconds: int = 0,
                 sms_limits: Optional[SmsLimits] = None) -> None:
        self.db, self.clock = db, clock
        self.sms_limits = sms_limits or SmsLimits()
        self.case_advance_seconds = case_advance_seconds

    # ------------------------------------------------------------ setup
    def start(self) -> None:
        """Migrate, and seed on first start."""
        self.db.migrate()
        with self.db.session() as session:
            if not seed.is_seeded(session):
                seed.seed(session, self.clock.now())
                log.info("sandbox seeded for %s", self.clock.today())

    def reset(self) -> None:
        with self.db.session() as session:
            seed.seed(session, self.clock.now())
        log.info("sandbox reset and re-seeded for %s", self.clock.today())

    # ------------------------------------------------------------ identity check
    def _active_lock(self, session: Session, subject: str, now: dt.datetime,
                     *also: str) -> Optional[dt.datetime]:
        """When ``subject`` (or any of ``also``: the holder behind it) is locked, until when."""
        for name in (subject, *also):
            lock = session.get(models.IdentityLock, name)
            if lock is not None and lock.locked_until > now:
                return lock.locked_until
        return None

    def _record_failure(self, session: Session, subject: str, now: dt.datetime,
                        *also: str) -> int:
        """Record a failed attempt; return how many attempts are left (0 = now locked).
        Failures count per person: a policy's or phone's attempt also counts against the
        holder behind it (``also``), and the lock falls on all of them, so guesses cannot go
        on through the holder's other policies or the lookup."""
        left = self._count_failure(session, subject, now, also)
        for other in also:
            left = min(left, self._count_failure(session, other, now, (subject, *also)))
        return left

    def _count_failure(self, session: Session, subject: str, now: dt.datetime,
                       lock_too: tuple) -> int:
        session.add(models.IdentityFailure(subject=subject, failed_at=now))
        session.flush()
        failures = session.execute(
            select(func.count()).select_from(models.IdentityFailure).where(
                models.IdentityFailure.subject == subject,
                models.IdentityFailure.failed_at > now - FAILURE_WINDOW)).scalar_one()
        if failures >= MAX_FAILURES:
            until = now + LOCK_DURATION
            for name in dict.fromkeys((subject, *lock_too)):
                lock = session.get(models.IdentityLock, name)
                if lock is None:
                    session.add(models.IdentityLock(subject=name, locked_until=until))
                    session.flush()
                else:
                    lock.locked_until = until
                session.execute(delete(models.IdentityFailure).where(
                    models.IdentityFailure.subject == name))
            return 0
        return MAX_FAILURES - failures

    def _sms_allowed(self, session: Session, subjects: Tuple[str, ...], now: dt.datetime) -> None:
        """Refuse (429 ``sms_rate_limited``, with when to ask again) a code that would exceed
        the sending limits of any subject (the phone, the holder); else count this one."""
        limits = self.sms_limits
        retry_at: Optional[dt.datetime] = None
        for subject in subjects:
            sent = [row for row in session.execute(
                select(models.SmsSend.sent_at).where(
                    models.SmsSend.subject == subject,
                    models.SmsSend.sent_at > now - dt.timedelta(hours=1))
                .order_by(models.SmsSend.sent_at.desc())).scalars()]
            if limits.min_interval_s and sent and \
                    now - sent[0] < dt.timedelta(seconds=limits.min_interval_s):
                candidate = sent[0] + dt.timedelta(seconds=limits.min_interval_s)
                retry_at = max(retry_at or candidate, candidate)
            if limits.max_per_hour and len(sent) >= limits.max_per_hour:
                candidate = sent[limits.max_per_hour - 1] + dt.timedelta(hours=1)
                retry_at = max(retry_at or candidate, candidate)
        if retry_at is not None:
            raise _too_many_codes(retry_at, now)
        for subject in subjects:
            session.add(models.SmsSend(subject=subject, sent_at=now))

    @staticmethod
    def _release_sms(session: Session, subjects: Tuple[str, ...]) -> None:
        """A redeemed code proves the phone is in its holder's hand: the codes sent before it
        no longer count against the limits, so a holder who goes on to a status check or a
        withdrawal gets the next code at once. Only codes nobody redeems (someone else asking
        for them, a flood) run into the limits."""
        session.execute(delete(models.SmsSend).where(models.SmsSend.subject.in_(subjects)))

    def verify_holder(self, insurer: str, id_suffix: str, policy_number: Optional[str] = None,
                      case_number: Optional[str] = None, purpose: str = "surrender") -> dict:
        """Check a policy (or case) number against the holder's ID suffix; on a match send an
        SMS code naming ``purpose``. Unknown numbers, another insurer's numbers and wrong
        suffixes get the same answer and lock the same way."""
        now = self.clock.now()
        with self.db.session() as session:
            policy = None
            if policy_number is not None:
                policy = session.execute(select(models.Policy).where(
                    models.Policy.policy_number == policy_number,
                    models.Policy.insurer == insurer)).scalar_one_or_none()
                subject = f"{insurer}:policy:{policy_number}"
            else:
                case = session.execute(select(models.SurrenderCase).where(
                    models.SurrenderCase.case_number == case_number)).scalar_one_or_none()
                policy = case.policy if case is not None and case.policy.insurer == insurer else None
                subject = (f"{insurer}:policy:{policy.policy_number}" if policy
                           else f"{insurer}:case:{case_number}")
            holder = ((_holder_subject(insurer, _holder_key(policy.holder_id_number)),)
                      if policy is not None else ())
            locked_until = self._active_lock(session, subject, now, *holder)
            if locked_until is not None:
                raise _locked(locked_until)
            expected = policy.holder_id_number[-6:] if policy is not None else _NO_SUCH_SUFFIX
            matches = hmac.compare_digest(expected.encode(), id_suffix.upper().encode())
            if policy is None or not matches:
                failure = self._record_failure(session, subject, now, *holder)
            else:
                failure = None
        # Commit the failure before answering, so a lockout survives the error response.
        _refuse_after_failure(failure, now, _mismatch)
        challenge_id, code, expires_at = _new_challenge(now)
        with self.db.session() as session:
            self._sms_allowed(session, (_phone_subject(insurer, policy.holder_phone),
                                        holder[0]), now)
            # A new code replaces any earlier unused one for this policy.
            session.execute(update(models.IdentityChallenge).where(
                models.IdentityChallenge.policy_id == policy.id,
                models.IdentityChallenge.used_at.is_(None)).values(used_at=now))
            session.add(models.IdentityChallenge(
                id=challenge_id, policy_id=policy.id, code_hash=_code_hash(challenge_id, code),
                created_at=now, expires_at=expires_at))
            session.add(models.SmsMessage(phone=policy.holder_phone, code=code, sent_at=now,
                                          text=sms_text(BRANDS[insurer], purpose, code)))
        log.info("identity challenge sent to %s", mask_phone(policy.holder_phone))
        return {"challenge_id": challenge_id, "phone_masked": mask_phone(policy.holder_phone),
                "expires_at": expires_at.isoformat()}

    def confirm_code(self, insurer: str, challenge_id: str, code: str) -> dict:
        """Exchange a right, fresh, unused SMS code for a 30-minute token on that one policy."""
        now = self.clock.now()
        with self.db.session() as session:
            challenge = session.get(models.IdentityChallenge, challenge_id)
            if challenge is None or challenge.policy.insurer != insurer:
                raise ApiError(403, "code_invalid", "验证码无效或已过期，请重新获取。")
            policy = challenge.policy
            subject = f"{insurer}:policy:{policy.policy_number}"
            holder = _holder_subject(insurer, _holder_key(policy.holder_id_number))
            locked_until = self._active_lock(session, subject, now, holder)
            if locked_until is not None:
                raise _locked(locked_until)
            right = hmac.compare_digest(challenge.code_hash, _code_hash(challenge_id, code))
            usable = challenge.used_at is None and challenge.expires_at > now
            used_now = False
            if right and usable:
                # Single use even under concurrency: only one UPDATE can flip used_at.
                used_now = session.execute(update(models.IdentityChallenge).where(
                    models.IdentityChallenge.id == challenge_id,
                    models.IdentityChallenge.used_at.is_(None)).values(used_at=now)).rowcount == 1
            if not used_now:
                attempts_left = self._record_failure(session, subject, now, holder)
            else:
                attempts_left = None
                token = secrets.token_urlsafe(32)
                expires_at = now + TOKEN_LIFETIME
                session.add(models.HolderToken(token_hash=_sha256(token), insurer=insurer,
                                               policy_id=policy.id, expires_at=expires_at))
                session.execute(delete(models.IdentityFailure).where(
                    models.IdentityFailure.subject.in_((subject, holder))))
                self._release_sms(session, (_phone_subject(insurer, policy.holder_phone), holder))
        if attempts_left == 0:
            raise _locked(now + LOCK_DURATION)
        if attempts_left is not None:
            raise ApiError(403, "code_invalid", "验证码错误、已过期或已使用，请核对或重新获取。",
                           attempts_left=attempts_left)
        return {"token": token, "policy_number": policy.policy_number,
                "expires_at": expires_at.isoformat()}

    def grant(self, insurer: str, token: Optional[str], policy_number: Optional[str]) -> Grant:
        """The policies a bearer token opens; 401 if missing, expired or another insurer's,
        403 for a policy it does not open (another insurer's policy looks the same)."""
        if not token:
            raise ApiError(401, "token_invalid", "请先完成身份验证。")
        now = self.clock.now()
        with self.db.session() as session:
            row = session.get(models.HolderToken, _sha256(token))
            if row is None or row.expires_at <= now or row.insurer != insurer:
                raise ApiError(401, "token_invalid", "身份验证已过期，请重新验证。")
            if row.policy_id is not None:
                opened = {row.policy.policy_number: row.policy_id}
            else:
                opened = {p.policy_number: p.id for p in self._holder_policies(
                    session, insurer, row.holder_phone, row.holder_key)}
        if policy_number is None:
            single = next(iter(opened.items())) if row.policy_id is not None else (None, None)
            return Grant(insurer, frozenset(opened.values()), single[1], single[0])
        if policy_number not in opened:
            raise ApiError(403, "token_scope", "本次身份验证只对应另一张保单，请对这张保单重新验证。")
        return Grant(insurer, frozenset(opened.values()), opened[policy_number], policy_number)

    # ------------------------------------------------------------ holder lookup (no policy number)
    def _holder_policies(self, session: Session, insurer: str, phone: str,
                         holder_key: str) -> List[models.Policy]:
        candidates = session.execute(select(models.Policy).where(
            models.Policy.insurer == insurer, models.Policy.holder_phone == phone).order_by(
            models.Policy.policy_number)).scalars()
        return [p for p in candidates if hmac.compare_digest(_holder_key(p.holder_id_number),
                                                             holder_key)]

    def lookup_holder(self, insurer: str, phone: str, id_suffix: str) -> dict:
        """A mobile number and the holder's ID suffix: on a match, an SMS code to that phone.
        A wrong pair and a holder unknown here get the same answer; failures lock per phone."""
        now = self.clock.now()
        subject = _phone_subject(insurer, phone)
        with self.db.session() as session:
            holders = list(session.execute(select(models.Policy.holder_id_number).where(
                models.Policy.insurer == insurer, models.Policy.holder_phone == phone)).scalars())
            people = tuple(dict.fromkeys(_holder_subject(insurer, _holder_key(i)) for i in holders))
            locked_until = self._active_lock(session, subject, now, *people)
            if locked_until is not None:
                raise _locked(locked_until)
            holder = None
            for id_number in holders:  # every candidate compared, in constant time each
                if hmac.compare_digest(id_number[-6:].encode(), id_suffix.upper().encode()):
                    holder = holder or id_number
            failure = (self._record_failure(session, subject, now, *people) if holder is None
                       else None)
        _refuse_after_failure(failure, now, _lookup_mismatch)
        challenge_id, code, expires_at = _new_challenge(now)
        with self.db.session() as session:
            self._sms_allowed(session, (subject, _holder_subject(insurer, _holder_key(holder))),
                              now)
            session.execute(update(models.LookupChallenge).where(
                models.LookupChallenge.insurer == insurer, models.LookupChallenge.phone == phone,
                models.LookupChallenge.used_at.is_(None)).values(used_at=now))
            session.add(models.LookupChallenge(
                id=challenge_id, insurer=insurer, phone=phone, holder_key=_holder_key(holder),
                code_hash=_code_hash(challenge_id, code), created_at=now, expires_at=expires_at))
            session.add(models.SmsMessage(phone=phone, code=code, sent_at=now,
                                          text=sms_text(BRANDS[insurer], "lookup", code)))
        log.info("lookup challenge sent to %s", mask_phone(phone))
        return {"challenge_id": challenge_id, "phone_masked": mask_phone(phone),
                "expires_at": expires_at.isoformat()}

    def confirm_lookup(self, insurer: str, challenge_id: str, code: str) -> dict:
        """The right code: the holder's policies here (number, product, state, cover dates) and
        a 30-minute token opening all of them."""
        now = self.clock.now()
        with self.db.session() as session:
            challenge = session.get(models.LookupChallenge, challenge_id)
            if challenge is None or challenge.insurer != insurer:
                raise ApiError(403, "code_invalid", "验证码无效或已过期，请重新获取。")
            subject = _phone_subject(insurer, challenge.phone)
            holder = _holder_subject(insurer, challenge.holder_key)
            locked_until = self._active_lock(session, subject, now, holder)
            if locked_until is not None:
                raise _locked(locked_until)
            right = hmac.compare_digest(challenge.code_hash, _code_hash(challenge_id, code))
            usable = challenge.used_at is None and challenge.expires_at > now
            used_now = right and usable and session.execute(update(models.LookupChallenge).where(
                models.LookupChallenge.id == challenge_id,
                models.LookupChallenge.used_at.is_(None)).values(used_at=now)).rowcount == 1
            if not used_now:
                attempts_left = self._record_failure(session, subject, now, holder)
            else:
                attempts_left = None
                token = secrets.token_urlsafe(32)
                expires_at = now + TOKEN_LIFETIME
                session.add(models.HolderToken(
                    token_hash=_sha256(token), insurer=insurer, holder_phone=challenge.phone,
                    holder_key=challenge.holder_key, expires_at=expires_at))
                session.execute(delete(models.IdentityFailure).where(
                    models.IdentityFailure.subject.in_((subject, holder))))
                self._release_sms(session, (subject, holder))
                policies = [{
                    "policy_number": p.policy_number,
                    "product_name": rules.PRODUCTS[p.product_code],
                    "status": p.status,
                    "cover_start": p.cover_start.isoformat(),
                    "cover_end": p.cover_end.isoformat() if p.cover_end else None,
                } for p in self._holder_policies(session, insurer, challenge.phone, challenge.holder_key)]
        if attempts_left == 0:
            raise _locked(now + LOCK_DURATION)
        if attempts_left is not None:
            raise ApiError(403, "code_invalid", "验证码错误、已过期或已使用，请核对或重新获取。",
                           attempts_left=attempts_left)
        return {"token": token, "expires_at": expires_at.isoformat(), "policies": policies}

    # ------------------------------------------------------------ cases advancing on a schedule
    def _advance_cases(self, session: Session, policy_id: int, now: dt.datetime) -> None:
        """Move open cases one state per configured interval (sandbox demo schedule)."""
        step = self.case_advance_seconds
        if step <= 0:
            return
        cases = session.execute(select(models.SurrenderCase).where(
            models.SurrenderCase.policy_id == policy_id,
            models.SurrenderCase.auto_advance.is_(True),
            models.SurrenderCase.state.in_(models.OPEN_STATES))).scalars()
        for case in cases:
            while case.state in NEXT_STATE and now - case.updated_at >= dt.timedelta(seconds=step):
                case.state = NEXT_STATE[case.state]
                case.updated_at = case.updated_at + dt.timedelta(seconds=step)

    def _open_case(self, session: Session, policy_id: int) -> Optional[models.SurrenderCase]:
        return session.execute(select(models.SurrenderCase).where(
            models.SurrenderCase.policy_id == policy_id,
            models.SurrenderCase.state.in_(models.OPEN_STATES))).scalars().first()

    def _check_eligible(self, session: Session, policy: models.Policy) -> None:
        if policy.status != "in_force":
            raise ApiError(409, "not_eligible", "这张保单已经终止（已满期或已退保），不能再办理退保。",
                           reason="terminated", open_case_number=None)
        open_case = self._open_case(session, policy.id)
        if open_case is not None:
            raise ApiError(409, "not_eligible",
                           f"这张保单已有退保申请 {open_case.case_number} 正在处理中，不能重复申请。",
                           reason="case_open", open_case_number=open_case.case_number)

    # ------------------------------------------------------------ policy, quote, surrender
    def policy_summary(self, grant: Grant) -> dict:
        now = self.clock.now()
        with self.db.session() as session:
            self._advance_cases(session, grant.policy_id, now)
            policy = session.get(models.Policy, grant.policy_id)
            open_case = self._open_case(session, policy.id)
            return {
                "policy_number": policy.policy_number,
                "product_code": policy.product_code,
                "product_name": rules.PRODUCTS[policy.product_code],
                "holder_name_masked": mask_name(policy.holder_name),
                "status": policy.status,
                "cover_start": policy.cover_start.isoformat(),
                "cover_end": policy.cover_end.isoformat() if policy.cover_end else None,
                "premium_fen": policy.premium_fen,
                "open_case_number": open_case.case_number if open_case else None,
            }

    def quote(self, grant: Grant) -> dict:
        """Price a surrender today, store the quote for 30 minutes, and return it."""
        now = self.clock.now()
        today = now.date()
        with self.db.session() as session:
            self._advance_cases(session, grant.policy_id, now)
            policy = session.get(models.Policy, grant.policy_id)
            self._check_eligible(session, policy)
            figures = rules.quote_figures(_terms(policy), today)
            expected = rules.expected_refund_date(today)  # never refuses: see rules.workday
            kind, display = _route(policy, figures.to_original_payment)
            quote = models.Quote(
                id=secrets.token_urlsafe(18), policy_id=policy.id, basis=figures.basis,
                lines_json=json.dumps(figures.lines), refund_fen=figures.refund_fen,
                route_kind=kind, route_display=display, quoted_on=today,
                expected_refund_date=expected.date, expected_refund_date_basis=expected.basis,
                legal_latest_date=rules.legal_latest_date(today), created_at=now, valid_until=now + rules.QUOTE_VALID)
            session.add(quote)
            return {
                "quote_id": quote.id, "policy_number": policy.policy_number,
                "product_code": policy.product_code,
                "product_name": rules.PRODUCTS[policy.product_code],
                "basis": figures.basis,
                "lines": rules.labelled_lines(figures.lines, policy.product_code, figures.basis),
                "refund_fen": figures.refund_fen,
                "refund_route": {"kind": kind, "display": display},
                "expected_refund_date": expected.date.isoformat(),
                "expected_refund_date_basis": expected.basis,
                "legal_latest_date": quote.legal_latest_date.isoformat(),
                "valid_until": quote.valid_until.isoformat(),
            }

    def _case_by_key(self, session: Session, policy_id: int, key: str):
        return session.execute(select(models.SurrenderCase).where(
            models.SurrenderCase.policy_id == policy_id,
            models.SurrenderCase.idempotency_key == key)).scalar_one_or_none()

    def submit(self, grant: Grant, quote_id: str, idempotency_key: str,
               reason: Optional[str]) -> tuple:
        """Apply for the surrender. Returns (created, case); the same key returns the same case."""
        try:
            return True, self._create_case(grant, quote_id, idempotency_key, reason)
        except _Replay as replay:
            return False, replay.case
        except (IntegrityError, ApiError) as refused:
            if isinstance(refused, ApiError) and refused.error != "not_eligible":
                raise
            # A concurrent request with this key may have won the race, committing its case
            # after this one looked up the key (under read committed, the eligibility check
            # then sees that case as "open", or the insert hits the one-open-case index):
            # the same key is the same case. Otherwise the refusal stands.
            with self.db.session() as session:
                existing = self._case_by_key(session, grant.policy_id, idempotency_key)
                if existing is not None:
                    return False, case_view(existing)
                if isinstance(refused, IntegrityError):
                    self._check_eligible(session, session.get(models.Policy, grant.policy_id))
            raise

    def _create_case(self, grant: Grant, quote_id: str, key: str, reason: Optional[str]):
        now = self.clock.now()
        today = now.date()
        with self.db.session() as session:
            existing = self._case_by_key(session, grant.policy_id, key)
            if existing is not None:
                raise _Replay(case_view(existing))
            self._advance_cases(session, grant.policy_id, now)
            policy = session.get(models.Policy, grant.policy_id)
            self._check_eligible(session, policy)  # first: the reason matters more than the quote
            quote = session.get(models.Quote, quote_id)
            if quote is None or quote.policy_id != grant.policy_id:
                raise ApiError(404, "quote_not_found", "找不到这份退保试算，请重新试算。")
            if quote.valid_until <= now:
                raise ApiError(410, "quote_expired", "退保试算已超过30分钟有效期，请重新试算后再提交。")
            expected = rules.expected_refund_date(today)  # never refuses: see rules.workday
            # The counter row lock serialises numbering; a rollback gives the number back.
            brand = BRANDS[policy.insurer]
            session.execute(update(models.Counter).where(models.Counter.name == brand.counter)
                            .values(value=models.Counter.value + 1))
            sequence = session.get(models.Counter, brand.counter, populate_existing=True).value
            case = models.SurrenderCase(
                case_number=brand.case_number(today, sequence), policy_id=policy.id,
                quote_id=quote.id, idempotency_key=key, state="APPLY", reason=reason,
                submitted_on=today, expected_refund_date=expected.date,
                expected_refund_date_basis=expected.basis,
                legal_latest_date=rules.legal_latest_date(today), refund_fen=quote.refund_fen,
                route_kind=quote.route_kind, route_display=quote.route_display,
                auto_advance=True, created_at=now, updated_at=now)
            session.add(case)
            session.flush()
            log.info("case %s opened for policy %s", case.case_number, policy.policy_number)
            return case_view(case)

    def list_cases(self, grant: Grant) -> List[dict]:
        now = self.clock.now()
        with self.db.session() as session:
            self._advance_cases(session, grant.policy_id, now)
            cases = session.execute(select(models.SurrenderCase).where(
                models.SurrenderCase.policy_id == grant.policy_id).order_by(
                models.SurrenderCase.created_at.desc(), models.SurrenderCase.id.desc())).scalars()
            return [case_view(case) for case in cases]

    def _own_case(self, session: Session, grant: Grant, case_number: str) -> models.SurrenderCase:
        case = session.execute(select(models.SurrenderCase).where(
            models.SurrenderCase.case_number == case_number)).scalar_one_or_none()
        # A case of a policy the token does not open (or of another insurer) looks exactly like
        # no case at all.
        if case is None or case.policy_id not in grant.policy_ids:
            raise ApiError(404, "case_not_found", "找不到这个退保案件，请核对案件号。")
        return case

    def case_status(self, grant: Grant, case_number: str) -> dict:
        now = self.clock.now()
        with self.db.session() as session:
            case = self._own_case(session, grant, case_number)
            self._advance_cases(session, case.policy_id, now)
            return case_view(case)

    def revoke(self, grant: Grant, case_number: str) -> dict:
        """Withdraw a case still in APPLY; a REVOKE case is returned unchanged."""
        now = self.clock.now()
        with self.db.session() as session:
            case = self._own_case(session, grant, case_number)
            self._advance_cases(session, case.policy_id, now)
            if case.state == "APPLY":
                case.state, case.updated_at = "REVOKE", now
                log.info("case %s revoked", case.case_number)
            elif case.state != "REVOKE":
                raise ApiError(409, "not_revocable",
                               f"案件当前状态为 {case.state}，只有待审核（APPLY）的申请可以撤销。",
                               state=case.state)
            return case_view(case)

    # ------------------------------------------------------------ sandbox only
    def load_policies(self, count: int) -> List[dict]:
        """``count`` more ACC_1Y policies (¥100.00, cover started today − 99: each quotes like
        seed policy 1), each of a holder of its own; a reset removes them (spec addition 5)."""
        today = self.clock.today()
        start = today - dt.timedelta(days=99)
        loaded = []
        with self.db.session() as session:
            first = session.execute(select(func.count()).select_from(models.Policy).where(
                models.Policy.policy_number.like(f"{seed.LOADED_PREFIX}%"))).scalar_one()
            for number in range(first, first + count):
                holder = seed.loaded_holder(number)
                digits = f"{seed.LOADED_PREFIX[3:]}{number:011d}"
                policy = models.Policy(
                    insurer="sandbox", policy_number=f"SBX{digits}{policy_check_char(digits)}",
                    product_code="ACC_1Y", premium_fen=10_000, status="in_force",
                    premiums_paid=1, paper_policy=False, claim_paid_fen=0, policy_loan_fen=0,
                    cover_start=start, cover_end=seed._one_year(start), **holder)
                session.add(policy)
                loaded.append({"policy_number": policy.policy_number,
                               "id_suffix": holder["holder_id_number"][-6:],
                               "phone": holder["holder_phone"]})
        return loaded

    def cases_of_policy(self, policy_number: str) -> List[dict]:
        """Every case of ``policy_number``, newest first (spec addition 6)."""
        now = self.clock.now()
        with self.db.session() as session:
            for policy_id in session.execute(select(models.Policy.id).where(
                    models.Policy.policy_number == policy_number)).scalars().all():
                self._advance_cases(session, policy_id, now)  # as the holder's view shows them
            rows = session.execute(select(models.SurrenderCase).join(models.Policy).where(
                models.Policy.policy_number == policy_number).order_by(
                models.SurrenderCase.created_at.desc(), models.SurrenderCase.id.desc())).scalars()
            return [case_view(case) for case in rows]

    def sms_outbox(self, phone: str) -> List[dict]:
        with self.db.session() as session:
            rows = session.execute(select(models.SmsMessage).where(
                models.SmsMessage.phone == phone).order_by(
                models.SmsMessage.sent_at.desc(), models.SmsMessage.id.desc())).scalars()
            return [{"phone": r.phone, "code": r.code, "text": r.text,
                     "sent_at": r.sent_at.isoformat()} for r in rows]


class _Replay(Exception):
    """The idempotency key was seen before: answer with its case, create nothing."""

    def __init__(self, case: dict) -> None:
        super().__init__(case["case_number"])
        self.case = case
