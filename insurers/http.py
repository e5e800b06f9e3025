"""``RestInsurerAdapter``: the insurer HTTP API v1 (docs/insurer-api.md) behind ``InsurerAdapter``.

Built on ``requests`` (one pooled Session per adapter). Every call runs in the adapter's own
bounded thread pool, never on the event loop, and has connect/read timeouts plus one overall
budget that also covers retries. Retries are bounded, with exponential backoff and jitter, and
only where repeating is harmless:

* GETs and revoke (revoking twice returns the same case) are retried;
* submit is retried with the *same* Idempotency-Key, so the insurer returns the one case;
* verify (would send a second SMS), confirm (the code is single-use) and quote are retried only
  when the request provably never left this machine (connection refused / connect timeout).

Every answer becomes one typed outcome of ``insurers.base``; money arrives as integer fen and
leaves as ``Decimal`` yuan. Logs carry masked policy numbers and phones; ID suffixes, SMS codes,
tokens and API keys are never logged, and no exception text (which holds URLs) is passed on.
"""
from __future__ import annotations

import asyncio
import contextvars
import datetime as dt
import enum
import logging
import random
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Callable, Dict, List, Mapping, Optional, Tuple
from urllib.parse import quote as _quote_path

import requests
from requests.adapters import HTTPAdapter
from urllib3.exceptions import NewConnectionError

from insurers.base import (
    CaseNotFound,
    CaseOutcome,
    CasesOutcome,
    Challenge,
    CodeRejected,
    ConfirmOutcome,
    HolderPolicies,
    HolderSession,
    IdentityMismatch,
    InsurerAdapter,
    InsurerUnavailable,
    ListedPolicy,
    Locked,
    TooManyCodes,
    LookupConfirmOutcome,
    LookupOutcome,
    NotEligible,
    NotRevocable,
    PolicySummary,
    QuoteExpired,
    QuoteLine,
    QuoteOutcome,
    RefundRoute,
    SessionExpired,
    SubmitOutcome,
    SummaryOutcome,
    SurrenderCase,
    SurrenderQuote,
    VerifyOutcome,
    VerifyPurpose,
    WithdrawOutcome,
)
from observability import metrics, tracing
from redaction import mask_phone, mask_policy_number

log = logging.getLogger(__name__)

_CENT = Decimal("0.01")
# Below this much time left an attempt cannot succeed; give up instead of starting it.
_MIN_ATTEMPT_S = 0.05
# The executor future is awaited a little past the budget: the worker stops itself at the
# deadline, this only guards against a read that trickles bytes forever.
_HARD_CAP_SLACK_S = 0.5


def call_outcome(outcome: Any) -> str:
    """The ``outcome`` label of ``tuibao_insurer_call_seconds``: ``unavailable`` (no usable
    answer: the insurer-error-rate alert counts these), ``session_expired`` or ``answered``."""
    if isinstance(outcome, InsurerUnavailable):
        return "unavailable"
    if isinstance(outcome, SessionExpired):
        return "session_expired"
    return "answered"


@dataclass(frozen=True)
class CallLimits:
    """Time and retry limits of one adapter (``timeouts`` in insurers.yml)."""

    connect_timeout: float = 1.0
    read_timeout: float = 2.5
    call_budget: float = 4.0  # whole call, retries and backoff included
    max_attempts: int = 3  # for calls that may be retried at all
    backoff_base: float = 0.2
    backoff_max: float = 1.0
    max_workers: int = 8  # threads (and pooled connections) per adapter

    def __post_init__(self) -> None:
        for name in ("connect_timeout", "read_timeout", "call_budget", "backoff_base", "backoff_max"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
                raise ValueError(f"{name} must be a non-negative number of seconds, not {value!r}")
        if self.call_budget <= 0:
            raise ValueError("call_budget must be positive")
        for name in ("max_attempts", "max_workers"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive integer, not {value!r}")


class _Retry(enum.Enum):
    IDEMPOTENT = "idempotent"  # safe to repeat after any transient failure
    IF_NOT_SENT = "if_not_sent"  # repeat only if the request never reached the insurer


class _Transient(Exception):
    """A failure that may pass: 5xx, timeout, connection trouble, unreadable body."""

    def __init__(self, detail: str, sent: bool = True) -> None:
        super().__init__(detail)
        self.detail = detail
        self.sent = sent


class _Malformed(_Transient):
    """The body is JSON but not the shape the API promises."""


@dataclass(frozen=True)
class _Request:
    op: str  # operation name for logs: verify, confirm, quote, …
    subject: str  # masked policy number or case number, for logs
    method: str
    path: str
    retry: _Retry
    json: Optional[Dict[str, Any]] = None
    token: Optional[str] = None
    idempotency_key: Optional[str] = None


Parse = Callable[[int, Any], Any]


class RestInsurerAdapter(InsurerAdapter):
    """An insurer that speaks the project's insurer HTTP API v1."""

    def __init__(
        self,
        base_url: str,
        api_key: str,
        *,
        insurer_id: str = "sandbox",
        limits: CallLimits = CallLimits(),
    ) -> None:
        if not api_key:
            raise ValueError(f"insurer {insurer_id!r}: an API key is required")
        self.insurer_id = insurer_id
        self.base_url = base_url.rstrip("/")
        self.limits = limits
        self._api_key = api_key
        self._session = requests.Session()
        # urllib3 must not retry on its own: retries are decided here, per call kind.
        pool = HTTPAdapter(pool_connections=1, pool_maxsize=limits.max_workers, max_retries=0)
        self._session.mount("http://", pool)
        self._session.mount("https://", pool)
        self._executor = ThreadPoolExecutor(
            max_workers=limits.max_workers, thread_name_prefix=f"insurer-{insurer_id}"
        )

    @classmethod
    def from_entry(cls, entry: Any, api_key: str) -> "RestInsurerAdapter":
        """Build from an ``insurers.registry.InsurerEntry`` (the registry calls this)."""
        return cls(entry.base_url, api_key, insurer_id=entry.id, limits=entry.limits)

    def close(self) -> None:
        """Release pooled connections and threads (calls in flight finish first)."""
        self._executor.shutdown(wait=True)
        self._session.close()

    def __repr__(self) -> str:  # never shows the API key
        return f"RestInsurerAdapter(insurer_id={self.insurer_id!r}, base_url={self.base_url!r})"

    # ------------------------------------------------------------ identity check
    async def verify_holder(
        self, *, id_suffix: str, policy_number: Optional[str] = None, case_number: Optional[str] = None,
        purpose: VerifyPurpose = VerifyPurpose.SURRENDER,
    ) -> VerifyOutcome:
        if (policy_number is None) == (case_number is None):
            raise ValueError("give exactly one of policy_number or case_number")
        body: Dict[str, Any] = {"id_suffix": id_suffix, "purpose": VerifyPurpose(purpose).value}
        if policy_number is not None:
            body["policy_number"] = policy_number
            subject = mask_policy_number(policy_number)
        else:
            body["case_number"] = case_number
            subject = str(case_number)

        def parse(status: int, data: Any) -> Optional[VerifyOutcome]:
            if status == 200:
                fields = _Fields(data, "challenge")
                challenge = Challenge(
                    challenge_id=fields.text("challenge_id"),
                    phone_masked=fields.text("phone_masked"),
                    expires_at=fields.instant("expires_at"),
                )
                log.info("insurer=%s verify %s: code sent to %s", self.insurer_id, subject,
                         _masked_phone(challenge.phone_masked))
                return challenge
            return _check_refused(status, data)

        # Not retried once sent: a second verify would text the holder a second code.
        return await self._call(_Request("verify", subject, "POST", "/v1/identity/verify", _Retry.IF_NOT_SENT,
                                         json=body), parse)

    async def confirm_code(self, challenge_id: str, code: str) -> ConfirmOutcome:
        def parse(status: int, data: Any) -> Optional[ConfirmOutcome]:
            if status == 200:
                fields = _Fields(data, "session")
                return HolderSession(
                    token=fields.text("token"),
                    policy_number=fields.text("policy_number"),
                    expires_at=fields.instant("expires_at"),
                )
            return _code_refused(status, data)

        # Not retried once sent: the code is single-use, a repeat would be refused.
        return await self._call(_Request("confirm", "challenge", "POST", "/v1/identity/confirm", _Retry.IF_NOT_SENT,
                                         json={"challenge_id": challenge_id, "code": code}), parse)

    # ------------------------------------------------------------ holder lookup (no policy number)
    async def start_lookup(self, phone: str, id_suffix: str) -> LookupOutcome:
        subject = mask_phone(phone)

        def parse(status: int, data: Any) -> Optional[LookupOutcome]:
            if status == 200:
                fields = _Fields(data, "challenge")
                return Challenge(challenge_id=fields.text("challenge_id"),
                                 phone_masked=_masked_phone(fields.text("phone_masked")),
                                 expires_at=fields.instant("expires_at"))
            return _check_refused(status, data)

        # Not retried once sent: a second lookup would text the holder a second code.
        return await self._call(_Request("lookup", subject, "POST", "/v1/holders/lookup", _Retry.IF_NOT_SENT,
                                         json={"phone": phone, "id_suffix": id_suffix}), parse)

    async def confirm_lookup(self, challenge_id: str, code: str) -> LookupConfirmOutcome:
        def parse(status: int, data: Any) -> Optional[LookupConfirmOutcome]:
            if status == 200:
                fields = _Fields(data, "holder_policies")
                policies = tuple(
                    ListedPolicy(policy_number=item.text("policy_number"),
                                 product_name=item.text("product_name"),
                                 status=item.choice("status", ("in_force", "terminated")),
                                 cover_start=item.date("cover_start"),
                                 cover_end=item.opt_date("cover_end"))
                    for item in fields.objects("policies"))
                session = HolderSession(token=fields.text("token"), policy_number=None,
                                        expires_at=fields.instant("expires_at"),
                                        covers=tuple(p.policy_number for p in policies))
                log.info("insurer=%s lookup found %d policies", self.insurer_id, len(policies))
                return HolderPolicies(session=session, policies=policies)
            return _code_refused(status, data)

        # Not retried once sent: the code is single-use.
        return await self._call(_Request("lookup_confirm", "challenge", "POST", "/v1/holders/lookup/confirm",
                                         _Retry.IF_NOT_SENT, json={"challenge_id": challenge_id, "code": code}),
                                parse)

    # ------------------------------------------------------------ policy and quote
    async def policy_summary(self, session: HolderSession) -> SummaryOutcome:
        def parse(status: int, data: Any) -> Optional[SummaryOutcome]:
            if status != 200:
                return None
            fields = _Fields(data, "policy")
            return PolicySummary(
                policy_number=fields.text("policy_number"),
                product_code=fields.text("product_code"),
                product_name=fields.text("product_name"),
                holder_name_masked=fields.text("holder_name_masked"),
                status=fields.choice("status", ("in_force", "terminated")),
                cover_start=fields.date("cover_start"),
                cover_end=fields.opt_date("cover_end"),
                premium=fields.fen("premium_fen"),
                open_case_number=fields.opt_text("open_case_number"),
            )

        return await self._call(self._policy_request("policy", session, "GET", "", _Retry.IDEMPOTENT), parse)

    async def quote(self, session: HolderSession) -> QuoteOutcome:
        def parse(status: int, data: Any) -> Optional[QuoteOutcome]:
            if status in (200, 201):
                return _surrender_quote(_Fields(data, "quote"))
            if status == 409 and _error_code(data) == "not_eligible":
                return _not_eligible(data)
            return None

        # A repeated quote is harmless but not free; repeat only what never reached the insurer.
        return await self._call(self._policy_request("quote", session, "POST", "/quotes", _Retry.IF_NOT_SENT), parse)

    async def submit(self, session: HolderSession, quote_id: str, idempotency_key: str) -> SubmitOutcome:
        if not 1 <= len(idempotency_key) <= 64:
            raise ValueError("idempotency_key must be 1–64 characters")

        def parse(status: int, data: Any) -> Optional[SubmitOutcome]:
            if status in (200, 201):
                return _surrender_case(_Fields(data, "case"))
            error = _error_code(data)
            if status == 409 and error == "not_eligible":
                return _not_eligible(data)
            if status == 410 and error == "quote_expired":
                return QuoteExpired()
            return None

        # Safe to repeat: the same Idempotency-Key makes the insurer return the case it made.
        request = self._policy_request("submit", session, "POST", "/surrenders", _Retry.IDEMPOTENT,
                                       json={"quote_id": quote_id}, idempotency_key=idempotency_key)
        return await self._call(request, parse)

    # ------------------------------------------------------------ cases
    async def list_cases(self, session: HolderSession) -> CasesOutcome:
        def parse(status: int, data: Any) -> Optional[CasesOutcome]:
            if status != 200:
                return None
            return tuple(_surrender_case(item) for item in _Fields(data, "cases").objects("cases"))

        return await self._call(self._policy_request("cases", session, "GET", "/cases", _Retry.IDEMPOTENT), parse)

    async def case_status(self, session: HolderSession, case_number: str) -> CaseOutcome:
        def parse(status: int, data: Any) -> Optional[CaseOutcome]:
            if status == 200:
                return _surrender_case(_Fields(data, "case"))
            if status == 404 and _error_code(data) == "case_not_found":
                return CaseNotFound(case_number)
            return None

        request = _Request("case", case_number, "GET", f"/v1/cases/{_quote_path(case_number, safe='')}",
                           _Retry.IDEMPOTENT, token=session.token)
        return await self._call(request, parse)

    async def withdraw(self, session: HolderSession, case_number: str) -> WithdrawOutcome:
        def parse(status: int, data: Any) -> Optional[WithdrawOutcome]:
            if status == 200:
                return _surrender_case(_Fields(data, "case"))
            error = _error_code(data)
            if status == 404 and error == "case_not_found":
                return CaseNotFound(case_number)
            if status == 409 and error == "not_revocable":
                return NotRevocable(state=_Fields(data, "not_revocable").text("state"))
            return None

        # Revoking a revoked case returns it unchanged, so a repeat is harmless.
        request = _Request("withdraw", case_number, "POST", f"/v1/cases/{_quote_path(case_number, safe='')}/revoke",
                           _Retry.IDEMPOTENT, token=session.token)
        return await self._call(request, parse)

    # ------------------------------------------------------------ transport
    def _policy_request(self, op: str, session: HolderSession, method: str, suffix: str, retry: _Retry,
                        **extra: Any) -> _Request:
        if not session.policy_number:
            raise ValueError("a holder-wide session must be pointed at a policy first (for_policy)")
        path = f"/v1/policies/{_quote_path(session.policy_number, safe='')}{suffix}"
        return _Request(op, mask_policy_number(session.policy_number), method, path, retry,
                        token=session.token, **extra)

    async def _call(self, request: _Request, parse: Parse) -> Any:
        # The budget starts now, so time spent queued for a worker thread counts too.
        deadline = time.monotonic() + self.limits.call_budget
        loop = asyncio.get_running_loop()
        started = time.monotonic()
        # The worker thread runs in this context: its log lines and headers carry the trace id.
        future = loop.run_in_executor(self._executor, contextvars.copy_context().run,
                                      self._attempts, request, parse, deadline)
        try:
            outcome = await asyncio.wait_for(future, self.limits.call_budget + _HARD_CAP_SLACK_S)
        except asyncio.TimeoutError:
            log.warning("insurer=%s %s %s: no answer within %.1f s", self.insurer_id, request.op,
                        request.subject, self.limits.call_budget)
            outcome = InsurerUnavailable(f"{request.op}: no answer within {self.limits.call_budget:g} s")
        metrics.observe_insurer_call(self.insurer_id, request.op, call_outcome(outcome),
                                     time.monotonic() - started)
        return outcome

    def _attempts(self, request: _Request, parse: Parse, deadline: float) -> Any:
        """Runs in a worker thread: send, interpret, and retry while the rules and budget allow."""
        limits = self.limits
        started = time.monotonic()
        attempt = 0
        while True:
            attempt += 1
            remaining = deadline - time.monotonic()
            if remaining < _MIN_ATTEMPT_S:
                return self._give_up(request, "time budget spent before an answer", attempt - 1, started)
            try:
                response = self._send(request, remaining)
                outcome = self._interpret(request, response, parse)
                log.info("insurer=%s %s %s -> HTTP %d %s in %d ms (attempt %d)", self.insurer_id, request.op,
                         request.subject, response.status_code, type(outcome).__name__,
                         (time.monotonic() - started) * 1000, attempt)
                return outcome
            except _Transient as failure:
                may_repeat = request.retry is _Retry.IDEMPOTENT or not failure.sent
                log.warning("insurer=%s %s %s attempt %d failed: %s", self.insurer_id, request.op,
                            request.subject, attempt, failure.detail)
                if not may_repeat or attempt >= limits.max_attempts:
                    return self._give_up(request, failure.detail, attempt, started)
            # Exponential backoff with full jitter spreads out clients hitting a struggling insurer.
            delay = random.uniform(0, min(limits.backoff_max, limits.backoff_base * 2 ** (attempt - 1)))
            if time.monotonic() + delay > deadline - _MIN_ATTEMPT_S:
                return self._give_up(request, "time budget spent before an answer", attempt, started)
            time.sleep(delay)

    def _give_up(self, request: _Request, detail: str, attempts: int, started: float) -> InsurerUnavailable:
        log.warning("insurer=%s %s %s unavailable after %d attempt(s), %d ms: %s", self.insurer_id, request.op,
                    request.subject, attempts, (time.monotonic() - started) * 1000, detail)
        return InsurerUnavailable(f"{request.op}: {detail}")

    def _send(self, request: _Request, remaining: float) -> requests.Response:
        headers = {"X-Api-Key": self._api_key, "Accept": "application/json",
                   **tracing.outgoing_headers()}
        if request.token is not None:
            headers["Authorization"] = f"Bearer {request.token}"
        if request.idempotency_key is not None:
            headers["Idempotency-Key"] = request.idempotency_key
        timeout = (min(self.limits.connect_timeout, remaining), min(self.limits.read_timeout, remaining))
        try:
            return self._session.request(request.method, self.base_url + request.path, json=request.json,
                                         headers=headers, timeout=timeout, allow_redirects=False)
        # Exception texts carry the URL (policy numbers): only a plain description goes on.
        except requests.ConnectTimeout:
            raise _Transient("connect timeout", sent=False) from None
        except requests.Timeout:
            raise _Transient("read timeout") from None
        except requests.ConnectionError as exc:
            refused = _caused_by(exc, (NewConnectionError, ConnectionRefusedError))
            raise _Transient("connection refused" if refused else "connection lost", sent=not refused) from None
        except requests.RequestException as exc:
            raise _Transient(f"request failed ({type(exc).__name__})") from None

    def _interpret(self, request: _Request, response: requests.Response, parse: Parse) -> Any:
        status = response.status_code
        if status >= 500 or (status == 429 and not _sms_rate_limited(response)):
            raise _Transient(f"HTTP {status}")
        try:
            data = response.json()
        except ValueError:
            raise _Transient(f"HTTP {status} with a body that is not JSON") from None
        error = _error_code(data)
        if status == 401 and error == "unauthorized":
            log.error("insurer=%s rejected our API key: check the key's environment variable", self.insurer_id)
            return InsurerUnavailable(f"{request.op}: the insurer rejected our API key")
        if request.token is not None and (
            (status == 401 and error == "token_invalid") or (status == 403 and error == "token_scope")
        ):
            return SessionExpired()
        outcome = parse(status, data)
        if outcome is None:
            if status in (400, 422):
                log.error("insurer=%s refused our %s request as invalid (HTTP %d)", self.insurer_id, request.op,
                          status)
            return InsurerUnavailable(f"{request.op}: unexpected HTTP {status} ({error or 'no error code'})")
        return outcome


# ---------------------------------------------------------------- answer shapes
def _error_code(data: Any) -> Optional[str]:
    if isinstance(data, dict) and isinstance(data.get("error"), str):
        return data["error"]
    return None


def _locked(status: int, data: Any) -> Optional[Locked]:
    if status == 423 and _error_code(data) == "locked":
        return Locked(until=_Fields(data, "locked").instant("locked_until"))
    return None


def _sms_rate_limited(response: requests.Response) -> bool:
    """A 429 that is the insurer's SMS sending limit (an answer), not overload (retried)."""
    try:
        return _error_code(response.json()) == "sms_rate_limited"
    except ValueError:
        return False


def _check_refused(status: int, data: Any) -> Optional[Any]:
    """The insurer's answers to an identity or lookup check it refused: the ID suffix does not
    match (403 identity_mismatch), too many failures locked the check (423 locked), or codes
    were sent too recently (429 sms_rate_limited, with when to ask again)."""
    if status == 403 and _error_code(data) == "identity_mismatch":
        return IdentityMismatch()
    if status == 429 and _error_code(data) == "sms_rate_limited":
        return TooManyCodes(retry_at=_Fields(data, "sms_rate_limited").instant("retry_at"))
    return _locked(status, data)


def _code_refused(status: int, data: Any) -> Optional[Any]:
    """The insurer's two answers to an SMS code it refused: wrong code (403 code_invalid, with
    the attempts left) or locked (423)."""
    if status == 403 and _error_code(data) == "code_invalid":
        return CodeRejected(attempts_left=_Fields(data, "code_invalid").opt_int("attempts_left"))
    return _locked(status, data)


def _caused_by(exc: BaseException, kinds: Tuple[type, ...]) -> bool:
    seen = set()
    todo: List[Any] = [exc]
    while todo:
        item = todo.pop()
        if item is None or id(item) in seen:
            continue
        seen.add(id(item))
        if isinstance(item, kinds):
            return True
        if isinstance(item, BaseException):
            todo.extend([item.__cause__, item.__context__, getattr(item, "reason", None), *item.args])
    return False


class _Fields:
    """Typed, checked reads from one JSON object; any mismatch raises ``_Malformed``."""

    def __init__(self, data: Any, what: str) -> None:
        if not isinstance(data, dict):
            raise _Malformed(f"{what}: expected a JSON object")
        self.data: Mapping[str, Any] = data
        self.what = what

    def _bad(self, key: str, expected: str) -> _Malformed:
        return _Malformed(f"{self.what}.{key}: expected {expected}")

    def text(self, key: str) -> str:
        value = self.data.get(key)
        if not isinstance(value, str) or not value:
            raise self._bad(key, "a non-empty string")
        return value

    def opt_text(self, key: str) -> Optional[str]:
        return None if self.data.get(key) is None else self.text(key)

    def opt_int(self, key: str) -> Optional[int]:
        value = self.data.get(key)
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int):
            raise self._bad(key, "an integer")
        return value

    def choice(self, key: str, allowed: Tuple[str, ...]) -> str:
        value = self.text(key)
        if value not in allowed:
            raise self._bad(key, f"one of {', '.join(allowed)}")
        return value

    def fen(self, key: str) -> Decimal:
        """Integer fen on the wire → Decimal yuan with two places."""
        value = self.data.get(key)
        if isinstance(value, bool) or not isinstance(value, int):
            raise self._bad(key, "an integer amount in fen")
        return (Decimal(value) / 100).quantize(_CENT)

    def date(self, key: str) -> dt.date:
        try:
            return dt.date.fromisoformat(self.text(key))
        except ValueError:
            raise self._bad(key, "a date YYYY-MM-DD") from None

    def opt_date(self, key: str) -> Optional[dt.date]:
        return None if self.data.get(key) is None else self.date(key)

    def instant(self, key: str) -> dt.datetime:
        text = self.text(key)
        try:
            value = dt.datetime.fromisoformat(text[:-1] + "+00:00" if text.endswith("Z") else text)
        except ValueError:
            raise self._bad(key, "an ISO 8601 instant") from None
        if value.tzinfo is None:
            raise self._bad(key, "an instant with a UTC offset")
        return value

    def opt_instant(self, key: str) -> Optional[dt.datetime]:
        return None if self.data.get(key) is None else self.instant(key)

    def obj(self, key: str) -> "_Fields":
        return _Fields(self.data.get(key), f"{self.what}.{key}")

    def objects(self, key: str) -> List["_Fields"]:
        value = self.data.get(key)
        if not isinstance(value, list):
            raise self._bad(key, "a list")
        return [_Fields(item, f"{self.what}.{key}[{i}]") for i, item in enumerate(value)]


def _route(fields: _Fields) -> RefundRoute:
    return RefundRoute(kind=fields.choice("kind", ("wechat_pay", "bank_card")), display=fields.text("display"))


def _refund_date_basis(fields: _Fields) -> str:
    """How the insurer counted the expected refund date. An insurer that does not say is taken
    to use the official calendar; a basis we do not know yet is passed on as given."""
    return fields.opt_text("expected_refund_date_basis") or "official_calendar"


def _surrender_quote(fields: _Fields) -> SurrenderQuote:
    return SurrenderQuote(
        quote_id=fields.text("quote_id"),
        policy_number=fields.text("policy_number"),
        product_code=fields.text("product_code"),
        product_name=fields.text("product_name"),
        basis=fields.choice("basis", ("cooling_off", "not_started", "unearned_premium", "cash_value",
                                      "claim_paid", "trip_started")),
        lines=tuple(
            QuoteLine(code=line.text("code"), label=line.text("label"), amount=line.fen("amount_fen"),
                      basis_text=line.opt_text("basis_text"))
            for line in fields.objects("lines")
        ),
        refund=fields.fen("refund_fen"),
        route=_route(fields.obj("refund_route")),
        expected_refund_date=fields.date("expected_refund_date"),
        legal_latest_date=fields.date("legal_latest_date"),
        valid_until=fields.instant("valid_until"),
        expected_refund_date_basis=_refund_date_basis(fields),
    )


def _surrender_case(fields: _Fields) -> SurrenderCase:
    return SurrenderCase(
        case_number=fields.text("case_number"),
        policy_number=fields.text("policy_number"),
        product_name=fields.text("product_name"),
        state=fields.choice("state", ("APPLY", "AGREE", "REFUND", "REJECT", "REVOKE")),
        submitted_on=fields.date("submitted_on"),
        expected_refund_date=fields.date("expected_refund_date"),
        legal_latest_date=fields.date("legal_latest_date"),
        refund=fields.fen("refund_fen"),
        route=_route(fields.obj("refund_route")),
        updated_at=fields.opt_instant("updated_at"),
        expected_refund_date_basis=_refund_date_basis(fields),
    )


def _not_eligible(data: Any) -> NotEligible:
    fields = _Fields(data, "not_eligible")
    return NotEligible(
        reason=fields.choice("reason", ("terminated", "case_open", "not_policyholder")),
        message=fields.text("message"),
        open_case_number=fields.opt_text("open_case_number"),
    )


def _masked_phone(phone: str) -> str:
    # The insurer should send it masked already; mask again in case one does not.
    return phone if "****" in phone else mask_phone(phone)
