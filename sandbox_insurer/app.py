"""The sandbox insurer's HTTP API (FastAPI). ``create_app(settings)`` builds it; nothing
connects to the database until the app starts.

Handlers are plain ``def``: FastAPI runs them in its worker threads, so the synchronous
SQLAlchemy session never blocks the event loop. Faults and latency are ``asyncio.sleep``.
"""
from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import hmac
import logging
import random
import threading
from typing import List, Optional

from fastapi import APIRouter, Depends, FastAPI, Header, Path, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer
from starlette.exceptions import HTTPException as StarletteHTTPException

from . import rules, schemas
from .clock import Clock
from .db import Database
from .errors import ApiError
from observability.logs import install as install_trace_logs
from observability.web import TraceAndMetrics
from redaction.logs import RedactingFilter, install as install_log_redaction
from .brands import HENGXIN, SANDBOX
from .service import Grant, SandboxInsurer, SmsLimits
from .settings import FaultSettings, Settings

log = logging.getLogger("sandbox_insurer")

MAX_BODY_BYTES = 16 * 1024
API_VERSION = "1.0.0"
_api_key_header = APIKeyHeader(name="X-Api-Key", auto_error=False)
_bearer = HTTPBearer(auto_error=False)
ERROR_RESPONSES = {code: {"model": schemas.ErrorOut} for code in (401, 403, 404, 409, 410, 422,
                                                                   423)}


class FaultInjector:
    """Run-time fault settings for /v1 calls (sandbox tests and demo)."""

    def __init__(self, settings: FaultSettings, hang_seconds: float) -> None:
        self._lock = threading.Lock()
        self._settings = settings
        self.hang_seconds = hang_seconds
        self._random = random.Random()

    @property
    def settings(self) -> FaultSettings:
        with self._lock:
            return self._settings

    def update(self, settings: FaultSettings) -> None:
        with self._lock:
            self._settings = settings

    def should_fail(self) -> bool:
        rate = self.settings.error_rate
        return rate > 0 and self._random.random() < rate


def _validation_message(exc: RequestValidationError) -> tuple:
    """(status, sentence): malformed JSON is 400, anything else the body/path/header says is 422."""
    errors = exc.errors()
    if any(e.get("type") in ("json_invalid", "value_error.jsondecode") for e in errors):
        return 400, "请求体不是合法的 JSON。"
    parts = []
    for error in errors[:5]:
        where = ".".join(str(p) for p in error.get("loc", ()) if p != "__root__")
        parts.append(f"{where}: {error.get('msg', 'invalid')}")  # never the value itself
    return 422, "请求参数不正确：" + "；".join(parts)


def create_app(settings: Settings) -> FastAPI:
    """Build the sandbox insurer app for ``settings`` (see ``Settings.from_env``)."""
    clock = Clock(settings.today)
    db = Database(settings.database_url)
    insurer = SandboxInsurer(db, clock, settings.case_advance_seconds,
                             sms_limits=SmsLimits(settings.sms_min_interval_s,
                                                  settings.sms_max_per_hour))
    faults = FaultInjector(settings.faults, settings.hang_seconds)

    @contextlib.asynccontextmanager
    async def lifespan(_app: FastAPI):
        install_log_redaction()  # every record masked at creation, whoever logs it
        install_trace_logs()  # and names the request it belongs to (X-Request-ID)
        for handler in logging.getLogger().handlers:  # and whatever reaches the root's handlers
            handler.addFilter(RedactingFilter())
        await run_in_threadpool(insurer.start)
        # Missing holiday data never blocks a surrender; say so if the next month needs it.
        horizon = rules.expected_refund_date(clock.today() + dt.timedelta(days=31))
        if horizon.basis != rules.OFFICIAL_CALENDAR:
            log.warning("no holiday data for %s within the next month: expected refund dates will "
                        "be Monday–Friday estimates (%s); quotes and surrenders go on "
                        "(upgrade chinesecalendar when it has %s)", horizon.date.year,
                        horizon.basis, horizon.date.year)
        yield
        db.dispose()

    app = FastAPI(title="Sandbox insurer (退保助手 reference insurer)", version=API_VERSION,
                  description="The insurer surrender API of docs/insurer-api.md. "
                              "Money is integer fen; dates are Asia/Shanghai.",
                  lifespan=lifespan)
    app.state.settings, app.state.clock, app.state.insurer = settings, clock, insurer
    app.state.faults = faults
    # GET /metrics, the caller's X-Request-ID on every log line, one line per request.
    app.add_middleware(TraceAndMetrics, access_logger="sandbox_insurer.requests")

    # ---------------------------------------------------------------- errors
    @app.exception_handler(ApiError)
    async def _api_error(_request: Request, exc: ApiError):
        return JSONResponse(exc.body(), status_code=exc.status)

    @app.exception_handler(RequestValidationError)
    async def _invalid(_request: Request, exc: RequestValidationError):
        status, message = _validation_message(exc)
        return JSONResponse({"error": "invalid_request", "message": message}, status_code=status)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(_request: Request, exc: StarletteHTTPException):
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
        return JSONResponse({"error": code, "message": "没有这个接口。" if exc.status_code == 404
                             else "请求方式不正确。"}, status_code=exc.status_code)

    @app.exception_handler(Exception)
    async def _unexpected(_request: Request, exc: Exception):
        log.exception("unexpected error: %s", type(exc).__name__)
        return JSONResponse({"error": "internal", "message": "保险公司系统暂时出错，请稍后再试。"},
                            status_code=500)

    # ---------------------------------------------------------------- middleware
    @app.middleware("http")
    async def _limits_and_faults(request: Request, call_next):
        if request.method in ("POST", "PUT", "PATCH"):
            declared = request.headers.get("content-length")
            if declared is not None and (not declared.isdigit() or int(declared) > MAX_BODY_BYTES):
                return JSONResponse({"error": "invalid_request", "message": "请求体过大。"},
                                    status_code=413)
            if len(await request.body()) > MAX_BODY_BYTES:
                return JSONResponse({"error": "invalid_request", "message": "请求体过大。"},
                                    status_code=413)
        if request.url.path.startswith("/v1/"):
            current = faults.settings
            if current.latency_ms:
                await asyncio.sleep(current.latency_ms / 1000)
            if faults.should_fail():
                if current.error_mode == "hang":
                    await asyncio.sleep(faults.hang_seconds)
                if current.error_mode == "malformed":
                    return Response(b'{"quote_id": "', media_type="application/json")
                return JSONResponse({"error": "internal", "message": "保险公司系统暂时出错，请稍后再试。"},
                                    status_code=500)
        return await call_next(request)

    # ---------------------------------------------------------------- dependencies
    insurer_keys = ((HENGXIN.id, settings.hengxin_api_key.encode()),
                    (SANDBOX.id, settings.api_key.encode()))

    def require_api_key(api_key: Optional[str] = Depends(_api_key_header)) -> str:
        """The insurer whose key this is; every call then sees that insurer's data only."""
        given = (api_key or "").encode()
        matched = None
        for insurer_id, key in insurer_keys:  # every key compared, in constant time each
            if hmac.compare_digest(given, key):
                matched = insurer_id
        if matched is None:
            raise ApiError(401, "unauthorized", "缺少或错误的 API 密钥。")
        return matched

    def _token(credentials: Optional[HTTPAuthorizationCredentials]) -> Optional[str]:
        if credentials is None or len(credentials.credentials) > 128:
            return None
        return credentials.credentials

    def policy_grant(policy_number: str = Path(..., max_length=16, regex=schemas.POLICY_NUMBER_RE),
                     credentials=Depends(_bearer), insurer_id: str = Depends(require_api_key)) -> Grant:
        return insurer.grant(insurer_id, _token(credentials), policy_number)

    def any_grant(credentials=Depends(_bearer), insurer_id: str = Depends(require_api_key)) -> Grant:
        return insurer.grant(insurer_id, _token(credentials), None)

    v1 = APIRouter(prefix="/v1", dependencies=[Depends(require_api_key)], responses=ERROR_RESPONSES)
    case_number_path = Path(..., max_length=16, regex=schemas.CASE_NUMBER_RE)

    @v1.post("/identity/verify", response_model=schemas.ChallengeOut, tags=["identity"])
    def verify_holder(body: schemas.VerifyRequest, insurer_id: str = Depends(require_api_key)):
        """Policy (or case) number + last 6 of the holder's ID → SMS code to the phone on file,
        its text naming the purpose."""
        return insurer.verify_holder(insurer_id, body.id_suffix, body.policy_number,
                                     body.case_number, body.purpose)

    @v1.post("/identity/confirm", response_model=schemas.HolderTokenOut, tags=["identity"])
    def confirm_code(body: schemas.ConfirmRequest, insurer_id: str = Depends(require_api_key)):
        """SMS code → bearer token for that one policy, valid 30 minutes."""
        return insurer.confirm_code(insurer_id, body.challenge_id, body.code)

    @v1.post("/holders/lookup", response_model=schemas.ChallengeOut, tags=["identity"])
    def lookup_holder(body: schemas.LookupRequest, insurer_id: str = Depends(require_api_key)):
        """Mobile number + last 6 of the holder's ID → SMS code to that phone (no policy number
        needed). A wrong pair and an unknown holder get the same answer; failures lock per phone."""
        return insurer.lookup_holder(insurer_id, body.phone, body.id_suffix)

    @v1.post("/holders/lookup/confirm", response_model=schemas.HolderPoliciesOut, tags=["identity"])
    def confirm_lookup(body: schemas.ConfirmRequest, insurer_id: str = Depends(require_api_key)):
        """SMS code → the holder's policies here and a token opening all of them for 30 minutes."""
        return insurer.confirm_lookup(insurer_id, body.challenge_id, body.code)

    @v1.get("/policies/{policy_number}", response_model=schemas.PolicyOut, tags=["policies"])
    def policy_summary(grant: Grant = Depends(policy_grant)):
        return insurer.policy_summary(grant)

    @v1.post("/policies/{policy_number}/quotes", response_model=schemas.QuoteOut, status_code=201,
             tags=["surrender"])
    def quote(grant: Grant = Depends(policy_grant)):
        """What a surrender today pays, line by line; valid 30 minutes."""
        return insurer.quote(grant)

    @v1.post("/policies/{policy_number}/surrenders", response_model=schemas.CaseOut,
             status_code=201, tags=["surrender"],
             responses={200: {"model": schemas.CaseOut, "description": "Same key again"}})
    def submit_surrender(body: schemas.SurrenderRequest, response: Response,
                         grant: Grant = Depends(policy_grant),
                         idempotency_key: str = Header(..., alias="Idempotency-Key", max_length=64,
                                                       regex=schemas.IDEMPOTENCY_KEY_RE)):
        """Apply for the surrender; the same Idempotency-Key returns the same case (200)."""
        created, case = insurer.submit(grant, body.quote_id, idempotency_key, body.reason)
        response.status_code = 201 if created else 200
        return case

    @v1.get("/policies/{policy_number}/cases", response_model=schemas.CasesOut, tags=["cases"])
    def list_cases(grant: Grant = Depends(policy_grant)):
        return {"cases": insurer.list_cases(grant)}

    @v1.get("/cases/{case_number}", response_model=schemas.CaseOut, tags=["cases"])
    def case_status(case_number: str = case_number_path, grant: Grant = Depends(any_grant)):
        return insurer.case_status(grant, case_number)

    @v1.post("/cases/{case_number}/revoke", response_model=schemas.CaseOut, tags=["cases"])
    def revoke_case(case_number: str = case_number_path, grant: Grant = Depends(any_grant)):
        """Withdraw a case still in APPLY."""
        return insurer.revoke(grant, case_number)

    app.include_router(v1)

    @app.get("/health", response_model=schemas.HealthOut, tags=["service"])
    async def health():
        return {"status": "ok", "today": clock.today().isoformat()}

    if settings.sandbox_mode:
        app.include_router(_sandbox_router(insurer, clock, faults))
    return app


def _sandbox_router(insurer: SandboxInsurer, clock: Clock, faults: FaultInjector) -> APIRouter:
    """Endpoints that exist only in sandbox mode: SMS outbox, faults, clock, reset."""
    router = APIRouter(prefix="/sandbox", tags=["sandbox"])

    @router.get("/sms", response_model=List[schemas.SmsOut])
    def sms_outbox(phone: str = Query(..., max_length=11, regex=schemas.PHONE_RE)):
        """SMS messages "sent" to ``phone``, newest first."""
        return insurer.sms_outbox(phone)

    @router.get("/faults", response_model=schemas.FaultsBody)
    async def get_faults():
        return vars(faults.settings)

    @router.put("/faults", response_model=schemas.FaultsBody)
    async def put_faults(body: schemas.FaultsBody):
        faults.update(FaultSettings(**body.dict()))
        return vars(faults.settings)

    def clock_view() -> dict:
        now = clock.now()
        return {"now": now.isoformat(), "today": now.date().isoformat(),
                "offset_seconds": int(clock.offset.total_seconds())}

    @router.get("/clock", response_model=schemas.ClockOut)
    async def get_clock():
        return clock_view()

    @router.put("/clock", response_model=schemas.ClockOut)
    async def put_clock(body: schemas.ClockBody):
        """Shift the clock by ``offset_seconds`` (expiry and lockout tests)."""
        clock.set_offset(dt.timedelta(seconds=body.offset_seconds))
        return clock_view()

    @router.get("/sms-limits", response_model=schemas.SmsLimitsBody)
    async def get_sms_limits():
        return vars(insurer.sms_limits)

    @router.put("/sms-limits", response_model=schemas.SmsLimitsBody)
    async def put_sms_limits(body: schemas.SmsLimitsBody):
        """Codes per phone and holder: one per ``min_interval_s``, ``max_per_hour`` an hour
        (0 = no limit). Tests of the limits switch them on; a reset keeps them."""
        insurer.sms_limits = SmsLimits(body.min_interval_s, body.max_per_hour)
        return vars(insurer.sms_limits)

    @router.post("/load-policies", status_code=201, response_model=List[schemas.LoadedPolicyOut])
    def load_policies(body: schemas.LoadPoliciesBody):
        """``count`` more policies, each quoting like seed policy 1, each of its own holder."""
        return insurer.load_policies(body.count)

    @router.get("/cases", response_model=List[schemas.CaseOut])
    def cases_of_policy(policy_number: str = Query(..., max_length=16)):
        """Every case of one policy, newest first (the sandbox's own view, no token)."""
        return insurer.cases_of_policy(policy_number)

    @router.post("/reset", response_model=schemas.ClockOut)
    def reset():
        """Put the clock back, wipe every table and re-seed relative to today."""
        clock.set_offset(dt.timedelta(0))
        insurer.reset()
        return clock_view()

    return router
