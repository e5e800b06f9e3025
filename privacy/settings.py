"""Where the stores Tuibao owns live, and how long their data may stay (environment only).

The action server's settings (``actions.config``) take the stores' places from here, so the
privacy tools and the actions read one set of variables.
"""
from __future__ import annotations

import base64
import datetime as dt
import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_RETENTION_DAYS = 30.0
# The console's audit log: at least six months (the Cybersecurity Law, art. 21, for network logs).
DEFAULT_AUDIT_RETENTION_DAYS = 180.0


class RetentionSettingError(ValueError):
    """TUIBAO_RETENTION_DAYS (or --older-than) is not a positive period."""


def parse_period_days(text: str) -> float:
    """``30d`` / ``12h`` / ``90m`` / ``30`` (days) → days; refuses zero, negatives, junk."""
    raw = (text or "").strip().lower()
    units = {"d": 1.0, "h": 1 / 24, "m": 1 / 1440}
    factor = units.get(raw[-1:], None)
    number = raw[:-1] if factor is not None else raw
    try:
        days = float(number) * (factor or 1.0)
    except ValueError:
        raise RetentionSettingError(
            f"retention period {text!r} is not understood: write e.g. 30d, 12h or 30") from None
    if not days > 0:
        raise RetentionSettingError(f"retention period {text!r} must be longer than zero")
    return days


@dataclass(frozen=True)
class StoreSettings:
    """Where the handoff desk and the sealed credentials live, and the key sealing them."""

    # SQLAlchemy URL of the handoff store the agent console reads.
    handoff_db_url: str
    # Where insurers' bearer tokens are kept (privacy.credentials), and the key sealing them.
    credentials_db_url: str
    credentials_key: str
    credentials_previous_key: str
    credentials_lifetime: dt.timedelta


def demo_key() -> str:
    """The demo's embedded credentials key (never for production: set TUIBAO_CREDENTIALS_KEY)."""
    return base64.urlsafe_b64encode(hashlib.sha256(b"tuibao-demo-credentials-key").digest()).decode()


def load_store_settings() -> StoreSettings:
    """Read the stores' places from the environment (call it where needed; cheap)."""
    return StoreSettings(
        handoff_db_url=os.environ.get("TUIBAO_HANDOFF_DB_URL", f"sqlite:///{ROOT / 'var' / 'handoff.db'}"),
        credentials_db_url=os.environ.get("TUIBAO_CREDENTIALS_DB_URL",
                                          f"sqlite:///{ROOT / 'var' / 'credentials.db'}"),
        credentials_key=os.environ.get("TUIBAO_CREDENTIALS_KEY") or demo_key(),
        credentials_previous_key=os.environ.get("TUIBAO_CREDENTIALS_PREVIOUS_KEY", ""),
        credentials_lifetime=dt.timedelta(
            minutes=float(os.environ.get("TUIBAO_CREDENTIALS_TTL_MINUTES", "30"))),
    )


@dataclass(frozen=True)
class PrivacySettings:
    """Every store that may hold something about a user, and the retention period."""

    tracker_db_url: str  # Rasa's tracker store (SQLAlchemy URL of the same database)
    handoff_db_url: str
    credentials_db_url: str
    credentials_key: str
    credentials_previous_key: str
    redis_url: str  # the WeChat connector's delivery state (empty: in memory, in Rasa)
    redis_prefix: str
    retention_days: float
    audit_retention_days: float = DEFAULT_AUDIT_RETENTION_DAYS

    @classmethod
    def from_env(cls) -> "PrivacySettings":
        stores = load_store_settings()  # the same places the action server uses
        return cls(
            tracker_db_url=os.environ.get("TUIBAO_TRACKER_DB_URL",
                                          f"sqlite:///{ROOT / 'var' / 'tracker.db'}"),
            handoff_db_url=stores.handoff_db_url,
            credentials_db_url=stores.credentials_db_url,
            credentials_key=stores.credentials_key,
            credentials_previous_key=stores.credentials_previous_key,
            redis_url=os.environ.get("WECHAT_DEDUPE_REDIS_URL", ""),
            redis_prefix=os.environ.get("WECHAT_REDIS_PREFIX", "tuibao:wechat"),
            retention_days=parse_period_days(
                os.environ.get("TUIBAO_RETENTION_DAYS", str(DEFAULT_RETENTION_DAYS))),
            audit_retention_days=parse_period_days(
                os.environ.get("TUIBAO_AUDIT_RETENTION_DAYS", str(DEFAULT_AUDIT_RETENTION_DAYS))),
        )
