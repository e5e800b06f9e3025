"""Settings of the action server, read from the environment when asked for, never at import.

Every setting has a default that runs the demo on one machine.
"""
from __future__ import annotations

import base64
import datetime as dt
import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class ActionSettings:
    """What the custom actions need to know about their surroundings."""

    # SQLAlchemy URL of the handoff store the agent console reads.
    handoff_db_url: str
    # Said when no insurer-specific hotline is configured for the conversation's policy.
    fallback_hotline: str
    fallback_service_name: str
    # Where insurers' bearer tokens are kept (actions.credentials), and the key sealing them.
    credentials_db_url: str = ""
    credentials_key: str = ""
    credentials_previous_key: str = ""
    credentials_lifetime: dt.timedelta = dt.timedelta(minutes=30)


def demo_key() -> str:
    """The demo's embedded credentials key (never for production: set TUIBAO_CREDENTIALS_KEY)."""
    return base64.urlsafe_b64encode(hashlib.sha256(b"tuibao-demo-credentials-key").digest()).decode()


def load_settings() -> ActionSettings:
    """Read the settings from the environment (call it where needed; cheap)."""
    default_db = f"sqlite:///{ROOT / 'var' / 'handoff.db'}"
    return ActionSettings(
        handoff_db_url=os.environ.get("TUIBAO_HANDOFF_DB_URL", default_db),
        fallback_hotline=os.environ.get("TUIBAO_HANDOFF_HOTLINE", "400-000-0000"),
        fallback_service_name=os.environ.get("TUIBAO_HANDOFF_SERVICE_NAME", "保险公司客服"),
        credentials_db_url=os.environ.get("TUIBAO_CREDENTIALS_DB_URL",
                                          f"sqlite:///{ROOT / 'var' / 'credentials.db'}"),
        credentials_key=os.environ.get("TUIBAO_CREDENTIALS_KEY") or demo_key(),
        credentials_previous_key=os.environ.get("TUIBAO_CREDENTIALS_PREVIOUS_KEY", ""),
        credentials_lifetime=dt.timedelta(
            minutes=float(os.environ.get("TUIBAO_CREDENTIALS_TTL_MINUTES", "30"))),
    )


DEMO_ACTION_SECRET = "tuibao-demo-action-secret"


def action_secret() -> str:
    """The shared secret Rasa presents to the action server (``TUIBAO_ACTION_SECRET``)."""
    return os.environ.get("TUIBAO_ACTION_SECRET") or DEMO_ACTION_SECRET
