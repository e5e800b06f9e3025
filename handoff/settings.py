"""Settings of the handoff desk, read from the environment when asked for (never at import).

Defaults run the demo on one machine: SQLite ``var/handoff.db``, the desk open 09:00–21:00
Beijing time every day but statutory holidays, a waiting chat called unattended after 10 minutes.
"""
from __future__ import annotations

import datetime as dt
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping, Optional

ROOT = Path(__file__).resolve().parents[1]
_HOURS = re.compile(r"^(\d{1,2}):(\d{2})-(\d{1,2}):(\d{2})$")


def _clock(hours: str, minutes: str) -> dt.time:
    h, m = int(hours), int(minutes)
    if h == 24 and m == 0:
        return dt.time(23, 59, 59, 999999)
    return dt.time(h, m)


def parse_desk_hours(text: str) -> tuple:
    """``"09:00-21:00"`` → ``(time(9), time(21))``; ``24:00`` means the end of the day."""
    found = _HOURS.match(text.strip())
    if not found:
        raise ValueError(f"desk hours must look like 09:00-21:00, not {text!r}")
    opens, closes = _clock(*found.group(1, 2)), _clock(*found.group(3, 4))
    if opens >= closes:
        raise ValueError(f"desk hours {text!r} close before they open")
    return opens, closes


@dataclass(frozen=True)
class HandoffSettings:
    """Where the queue lives and when people answer it."""

    db_url: str
    desk_hours: str = "09:00-21:00"
    # "all": every day but statutory holidays; "workdays": China's official working days only
    # (weekends off, swapped working Saturdays on), from the chinesecalendar library.
    desk_days: str = "all"
    # A waiting chat nobody took within this many seconds: the user is told and offered a
    # call-back or a message.
    unattended_after_s: int = 600
    # An agent whose console page had its live stream open within this many seconds counts as
    # at the desk: after hours the user is then told their place, not to wait for the morning.
    presence_window_s: int = 60
    hotline: str = "400-000-0000"
    service_name: str = "保险公司客服"
    # The kf account agent replies are sent as (WeChat customer-service messages), if any.
    wechat_kf_account: Optional[str] = None

    @classmethod
    def from_env(cls, env: Optional[Mapping[str, str]] = None) -> "HandoffSettings":
        env = os.environ if env is None else env
        default_db = f"sqlite:///{ROOT / 'var' / 'handoff.db'}"
        settings = cls(
            db_url=env.get("TUIBAO_HANDOFF_DB_URL") or default_db,
            desk_hours=env.get("TUIBAO_DESK_HOURS") or "09:00-21:00",
            desk_days=env.get("TUIBAO_DESK_DAYS") or "all",
            unattended_after_s=int(env.get("TUIBAO_HANDOFF_UNATTENDED_S") or 600),
            presence_window_s=int(env.get("TUIBAO_DESK_PRESENCE_S") or 60),
            hotline=env.get("TUIBAO_HANDOFF_HOTLINE") or "400-000-0000",
            service_name=env.get("TUIBAO_HANDOFF_SERVICE_NAME") or "保险公司客服",
            wechat_kf_account=env.get("WECHAT_KF_ACCOUNT") or None,
        )
        parse_desk_hours(settings.desk_hours)
        if settings.desk_days not in ("all", "workdays"):
            raise ValueError("TUIBAO_DESK_DAYS is 'all' or 'workdays'")
        return settings
