"""Settings of the action server, read from the environment when asked for, never at import.

Every setting has a default that runs the demo on one machine.
"""
from __future__ import annotations

import datetime as dt
import os
from dataclasses import dataclass
from pathlib import Path

from privacy.settings import load_store_settings

ROOT = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class ActionSettings:
    """What the custom actions need to know about their surroundings."""

    # SQLAlchemy URL of the handoff store the agent console reads.
    handoff_db_url: str
    # Said when no insurer-specific hotline is configured for the conversation's policy.
    fallback_hotline: str
    fallback_service_name: str
    # Where insurers' bearer tokens are kept (privacy.credentials), and the key sealing them.
    credentials_db_url: str = ""
    credentials_key: str = ""
    credentials_previous_key: str = ""
    credentials_lifetime: dt.timedelta = dt.timedelta(minutes=30)


def load_settings() -> ActionSettings:
    """Read the settings from the environment (call it where needed; cheap). The stores'
    places come from ``privacy.settings``, which the privacy tools read too."""
    stores = load_store_settings()
    return ActionSettings(
        handoff_db_url=stores.handoff_db_url,
        fallback_hotline=os.environ.get("TUIBAO_HANDOFF_HOTLINE", "400-000-0000"),
        fallback_service_name=os.environ.get("TUIBAO_HANDOFF_SERVICE_NAME", "保险公司客服"),
        credentials_db_url=stores.credentials_db_url,
        credentials_key=stores.credentials_key,
        credentials_previous_key=stores.credentials_previous_key,
        credentials_lifetime=stores.credentials_lifetime,
    )


DEMO_ACTION_SECRET = "tuibao-demo-action-secret"


def action_secret() -> str:
    """The shared secret Rasa presents to the action server (``TUIBAO_ACTION_SECRET``)."""
    return os.environ.get("TUIBAO_ACTION_SECRET") or DEMO_ACTION_SECRET
