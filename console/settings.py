"""Settings of the agent console, from the environment, with defaults that run the demo."""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping, Optional

from handoff.settings import HandoffSettings

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_REVIEW_DB = f"sqlite:///{ROOT / 'var' / 'review.db'}"


@dataclass(frozen=True)
class ConsoleSettings:
    handoff: HandoffSettings
    host: str = "127.0.0.1"
    port: int = 8080
    rasa_url: str = "http://127.0.0.1:5005"
    rasa_token: str = "tuibao-demo-api-token"
    session_ttl_s: int = 8 * 3600
    # Brute force: this many failed sign-ins for one name within the window lock it.
    max_failures: int = 5
    failure_window_s: int = 900
    lockout_s: int = 900
    # … and this many from one source address, whatever names they tried, lock the address.
    max_source_failures: int = 20
    # past them, one try per this many seconds from that address (a right password included)
    source_throttle_s: int = 10
    # Proxies whose X-Forwarded-For names the client (uvicorn's forwarded_allow_ips); empty:
    # the TCP peer is the client.
    forwarded_allow_ips: str = ""
    # Set in production (HTTPS): the session cookie is then sent over TLS only.
    cookie_secure: bool = False
    # How often the console looks for chats nobody took in time.
    sweep_every_s: float = 15.0
    # The review queue trainers label (``tuibao review export`` fills it; training/review.py).
    review_db_url: str = DEFAULT_REVIEW_DB

    @classmethod
    def from_env(cls, env: Optional[Mapping[str, str]] = None) -> "ConsoleSettings":
        env = os.environ if env is None else env
        return cls(
            handoff=HandoffSettings.from_env(env),
            host=env.get("CONSOLE_HOST") or "127.0.0.1",
            port=int(env.get("CONSOLE_PORT") or 8080),
            rasa_url=env.get("TUIBAO_RASA_URL") or "http://127.0.0.1:5005",
            rasa_token=env.get("TUIBAO_API_TOKEN") or "tuibao-demo-api-token",
            session_ttl_s=int(env.get("CONSOLE_SESSION_TTL_S") or 8 * 3600),
            max_failures=int(env.get("CONSOLE_MAX_FAILURES") or 5),
            failure_window_s=int(env.get("CONSOLE_FAILURE_WINDOW_S") or 900),
            lockout_s=int(env.get("CONSOLE_LOCKOUT_S") or 900),
            max_source_failures=int(env.get("CONSOLE_MAX_SOURCE_FAILURES") or 20),
            source_throttle_s=int(env.get("CONSOLE_SOURCE_THROTTLE_S") or 10),
            forwarded_allow_ips=env.get("CONSOLE_FORWARDED_ALLOW_IPS") or "",
            cookie_secure=(env.get("CONSOLE_COOKIE_SECURE") or "").lower() in ("1", "true", "yes"),
            sweep_every_s=float(env.get("CONSOLE_SWEEP_EVERY_S") or 15.0),
            review_db_url=env.get("TUIBAO_REVIEW_DB_URL") or DEFAULT_REVIEW_DB,
        )
