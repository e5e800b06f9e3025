"""When the desk answers: its hours in Beijing time, and China's statutory holidays from the
``chinesecalendar`` library (which also knows the swapped working weekends)."""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Optional

import chinese_calendar

from handoff.settings import HandoffSettings, parse_desk_hours

SHANGHAI = dt.timezone(dt.timedelta(hours=8))


@dataclass(frozen=True)
class Desk:
    """The desk's opening hours on the days it works."""

    opens: dt.time
    closes: dt.time
    days: str = "all"

    @classmethod
    def from_settings(cls, settings: HandoffSettings) -> "Desk":
        opens, closes = parse_desk_hours(settings.desk_hours)
        return cls(opens, closes, settings.desk_days)

    def works_on(self, day: dt.date) -> bool:
        """Whether the desk works on ``day`` (outside the library's years: every day works)."""
        try:
            if self.days == "workdays":
                return chinese_calendar.is_workday(day)
            holiday, name = chinese_calendar.get_holiday_detail(day)
            return not (holiday and name)  # a named holiday; plain weekends stay open
        except NotImplementedError:
            return True

    def is_open(self, at: Optional[dt.datetime] = None) -> bool:
        local = (at or dt.datetime.now(dt.timezone.utc)).astimezone(SHANGHAI)
        return self.works_on(local.date()) and self.opens <= local.time() < self.closes

    def next_opening(self, at: Optional[dt.datetime] = None) -> dt.datetime:
        """The next moment the desk opens (``at`` itself when it is open)."""
        local = (at or dt.datetime.now(dt.timezone.utc)).astimezone(SHANGHAI)
        if self.is_open(local):
            return local
        day = local.date()
        if local.time() >= self.opens:
            day += dt.timedelta(days=1)
        for _ in range(60):
            if self.works_on(day):
                return dt.datetime.combine(day, self.opens, tzinfo=SHANGHAI)
            day += dt.timedelta(days=1)
        return dt.datetime.combine(day, self.opens, tzinfo=SHANGHAI)

    def hours_text(self) -> str:
        """``每天 09:00-21:00，法定节假日除外`` or ``工作日 09:00-18:00`` (it stands inside brackets)."""
        closes = "24:00" if self.closes == dt.time(23, 59, 59, 999999) else f"{self.closes:%H:%M}"
        span = f"{self.opens:%H:%M}-{closes}"
        if self.days == "workdays":
            return f"工作日 {span}"
        return f"每天 {span}，法定节假日除外"
