"""The one clock every part of the sandbox reads, so tests can fix and move time."""
from __future__ import annotations

import datetime as dt
import threading
import time
from typing import Optional

# China has kept UTC+8 without daylight saving since 1991: a fixed offset is exact and needs
# no tz database.
SHANGHAI = dt.timezone(dt.timedelta(hours=8), "Asia/Shanghai")


class Clock:
    """Now and today in Asia/Shanghai.

    With a fixed ``today`` the clock starts at 10:00 that day and runs at real speed from
    process start (so codes still expire), which keeps "today" stable for a test run.
    ``offset`` moves it forward or back (sandbox-only, for expiry tests).
    """

    def __init__(self, today: Optional[dt.date] = None) -> None:
        self._fixed_today = today
        self._started = time.monotonic()
        self._offset = dt.timedelta(0)
        self._lock = threading.Lock()

    def now(self) -> dt.datetime:
        if self._fixed_today is not None:
            base = dt.datetime.combine(self._fixed_today, dt.time(10, 0), SHANGHAI)
            base += dt.timedelta(seconds=time.monotonic() - self._started)
        else:
            base = dt.datetime.now(SHANGHAI)
        with self._lock:
            return base + self._offset

    def today(self) -> dt.date:
        return self.now().date()

    @property
    def offset(self) -> dt.timedelta:
        with self._lock:
            return self._offset

    def set_offset(self, offset: dt.timedelta) -> None:
        with self._lock:
            self._offset = offset
