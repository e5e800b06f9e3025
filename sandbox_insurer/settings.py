"""Settings of the sandbox insurer, read from the environment in one place.

Every default runs the demo; nothing here touches the disk or the network.
"""
from __future__ import annotations

import datetime as dt
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping, Optional

REPO_ROOT = Path(__file__).resolve().parents[1]
ERROR_MODES = ("500", "hang", "malformed")


class SettingsError(ValueError):
    """An environment variable holds a value the service cannot run with."""


@dataclass(frozen=True)
class FaultSettings:
    """Faults injected into /v1 calls: added latency, and a share of calls that fail."""

    latency_ms: int = 0
    error_rate: float = 0.0  # a probability, not money
    error_mode: str = "500"

    def __post_init__(self) -> None:
        if not 0 <= self.latency_ms <= 60_000:
            raise SettingsError("latency_ms must be between 0 and 60000")
        if not 0.0 <= self.error_rate <= 1.0:
            raise SettingsError("error_rate must be between 0 and 1")
        if self.error_mode not in ERROR_MODES:
            raise SettingsError(f"error_mode must be one of {', '.join(ERROR_MODES)}")


@dataclass(frozen=True)
class Settings:
    host: str = "127.0.0.1"
    port: int = 8090
    database_url: str = f"sqlite:///{REPO_ROOT / 'var' / 'sandbox.db'}"
    today: Optional[dt.date] = None  # fixed "today" (Asia/Shanghai); None = the real date
    sandbox_mode: bool = True
    api_key: str = "sandbox-demo-key"
    hengxin_api_key: str = "hengxin-demo-key"  # 恒信人寿, the second insurer in this service
    faults: FaultSettings = field(default_factory=FaultSettings)
    case_advance_seconds: int = 0  # APPLY→AGREE→REFUND every N seconds; 0 = never
    hang_seconds: float = 600.0  # how long a "hang" fault holds the request
    # SMS codes sent per phone and per holder: at most one per interval and so many an hour
    # (0 = no limit; test stacks switch them off except where the limits are the test).
    sms_min_interval_s: int = 60
    sms_max_per_hour: int = 5

    @classmethod
    def from_env(cls, environ: Mapping[str, str] = os.environ) -> "Settings":
        """Build settings from SANDBOX_* variables (see docs/insurer-api.md)."""

        def get(name: str, default: str) -> str:
            return environ.get(name, "").strip() or default

        try:
            today_text = environ.get("SANDBOX_TODAY", "").strip()
            today = dt.date.fromisoformat(today_text) if today_text else None
            faults = FaultSettings(
                latency_ms=int(get("SANDBOX_LATENCY_MS", "0")),
                error_rate=float(get("SANDBOX_ERROR_RATE", "0")),
                error_mode=get("SANDBOX_ERROR_MODE", "500"),
            )
            settings = cls(
                host=get("SANDBOX_HOST", cls.host),
                port=int(get("SANDBOX_PORT", str(cls.port))),
                database_url=get("SANDBOX_DATABASE_URL", cls.database_url),
                today=today,
                sandbox_mode=get("SANDBOX_MODE", "1").lower() not in ("0", "false", "no", "off"),
                api_key=get("SANDBOX_API_KEY", cls.api_key),
                hengxin_api_key=get("SANDBOX_HENGXIN_API_KEY", cls.hengxin_api_key),
                faults=faults,
                case_advance_seconds=int(get("SANDBOX_CASE_ADVANCE_SECONDS", "0")),
                sms_min_interval_s=int(get("SANDBOX_SMS_MIN_INTERVAL_S", "60")),
                sms_max_per_hour=int(get("SANDBOX_SMS_MAX_PER_HOUR", "5")),
            )
        except ValueError as exc:
            raise SettingsError(f"invalid sandbox setting: {exc}") from exc
        if settings.api_key == settings.hengxin_api_key:
            raise SettingsError("SANDBOX_API_KEY and SANDBOX_HENGXIN_API_KEY must differ")
        if settings.case_advance_seconds < 0:
            raise SettingsError("SANDBOX_CASE_ADVANCE_SECONDS must be >= 0")
        return settings
