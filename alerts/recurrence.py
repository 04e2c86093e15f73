"""Weekly windows of a recurring silence ("every Tuesday 09:00-11:00" for meter maintenance), in the street's
time zone. A window may cross midnight (22:00-02:00 belongs to the day it starts). Pure."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta, tzinfo

#: ISO weekdays: 1 Monday ... 7 Sunday.
WEEKDAYS = range(1, 8)
_HHMM = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$")


class RecurrenceError(ValueError):
    """A weekly window that cannot be (a day out of 1-7, a malformed time, an empty window); `key` names the
    catalog message, `values` its placeholders."""

    def __init__(self, key: str, **values: object) -> None:
        super().__init__(key)
        self.key = key
        self.values = values


@dataclass(frozen=True, slots=True)
class Weekly:
    days: tuple[int, ...]  # ISO weekdays the window starts on, ascending
    start_min: int  # minutes after local midnight
    end_min: int  # == start_min is refused; < start_min crosses midnight

    @property
    def start(self) -> str:
        return f"{self.start_min // 60:02d}:{self.start_min % 60:02d}"

    @property
    def end(self) -> str:
        return f"{self.end_min // 60:02d}:{self.end_min % 60:02d}"

    @property
    def length_min(self) -> int:
        return (self.end_min - self.start_min) % (24 * 60)

    def covers(self, ts: float, tz: tzinfo) -> bool:
        """Whether the instant `ts` lies in one of the windows."""
        local = datetime.fromtimestamp(ts, tz)
        minute = local.hour * 60 + local.minute
        today = local.isoweekday()
        if self.end_min > self.start_min:
            return today in self.days and self.start_min <= minute < self.end_min
        yesterday = (today - 2) % 7 + 1
        return (today in self.days and minute >= self.start_min) or (yesterday in self.days and minute < self.end_min)

    def windows(self, start: float, end: float, tz: tzinfo, limit: int = 5) -> list[tuple[float, float]]:
        """The first `limit` windows within `[start, end)`, clipped to it."""
        out: list[tuple[float, float]] = []
        day = datetime.fromtimestamp(start, tz).date() - timedelta(days=1)
        last = datetime.fromtimestamp(end, tz).date()
        while day <= last and len(out) < limit:
            if day.isoweekday() in self.days:
                opens = datetime(day.year, day.month, day.day, tzinfo=tz) + timedelta(minutes=self.start_min)
                closes = opens + timedelta(minutes=self.length_min)
                a, b = max(opens.timestamp(), start), min(closes.timestamp(), end)
                if a < b:
                    out.append((a, b))
            day += timedelta(days=1)
        return out


def parse_weekly(days: list[int], start: str, end: str) -> Weekly:
    """A window from the API's fields; raises `RecurrenceError` naming what is wrong."""
    if not days or any(d not in WEEKDAYS for d in days):
        raise RecurrenceError("errors.weekly_days")
    minutes = []
    for text in (start, end):
        m = _HHMM.match(text)
        if m is None:
            raise RecurrenceError("errors.weekly_time", time=text)
        minutes.append(int(m[1]) * 60 + int(m[2]))
    if minutes[0] == minutes[1]:
        raise RecurrenceError("errors.weekly_empty")
    return Weekly(tuple(sorted(set(days))), minutes[0], minutes[1])


def encode(w: Weekly | None) -> tuple[str | None, str | None, str | None]:
    """The store's columns: days as "2,4", start and end as HH:MM."""
    if w is None:
        return None, None, None
    return ",".join(str(d) for d in w.days), w.start, w.end


def decode(days: str | None, start: str | None, end: str | None) -> Weekly | None:
    if not days or not start or not end:
        return None
    return parse_weekly([int(d) for d in days.split(",")], start, end)
