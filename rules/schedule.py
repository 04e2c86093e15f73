"""When a rule is active (days and hours in a time zone) and when a household's quiet hours end.

All computations take event time (epoch seconds) and a zone, never the wall clock, so a replay of last week
gives the same answers as the live run did."""

from __future__ import annotations

import re
from datetime import date, datetime, time, timedelta
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, field_validator

from devices.model import QuietHours
from rules.conditions import StrictModel

Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
WEEKDAYS: tuple[Weekday, ...] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_SPAN = re.compile(r"^(\d{1,2}):(\d{2})-(\d{1,2}):(\d{2})$")
DAY_S = 86_400


def zone(name: str) -> ZoneInfo:
    """The zone `name`; ValueError with a readable reason for an unknown one."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown time zone {name!r}") from None


def parse_span(text: str) -> tuple[int, int]:
    """("08:00-20:00") -> (28800, 72000) seconds of the day; the end may be 24:00; start > end wraps midnight."""
    m = _SPAN.match(text.strip())
    if not m:
        raise ValueError(f"bad hours {text!r}, expected HH:MM-HH:MM")
    h1, m1, h2, m2 = (int(g) for g in m.groups())
    if h1 > 23 or m1 > 59 or h2 > 24 or m2 > 59 or (h2 == 24 and m2 != 0):
        raise ValueError(f"bad hours {text!r}")
    start, end = h1 * 3600 + m1 * 60, h2 * 3600 + m2 * 60
    if start == end:
        raise ValueError(f"empty hours {text!r}")
    return start, end


class ScheduleConfig(StrictModel):
    """`days` and `hours` (local time in `tz`, default the engine's zone) in which a rule may raise alerts."""

    days: list[Weekday] = Field(default_factory=lambda: list(WEEKDAYS), min_length=1)
    hours: list[str] = Field(default_factory=lambda: ["00:00-24:00"], min_length=1)
    tz: str | None = None

    @field_validator("hours")
    @classmethod
    def _hours(cls, v: list[str]) -> list[str]:
        for h in v:
            parse_span(h)
        return v

    @field_validator("tz")
    @classmethod
    def _tz(cls, v: str | None) -> str | None:
        if v is not None:
            zone(v)
        return v


class Schedule:
    """A compiled `ScheduleConfig`. A span that wraps midnight belongs to the day it starts on."""

    __slots__ = ("_days", "_spans", "_tz")

    def __init__(self, cfg: ScheduleConfig, default_tz: str) -> None:
        self._tz = zone(cfg.tz or default_tz)
        self._days = frozenset(WEEKDAYS.index(d) for d in cfg.days)
        self._spans = tuple(parse_span(h) for h in cfg.hours)

    def active(self, ts: float) -> bool:
        dt = datetime.fromtimestamp(ts, self._tz)
        wd = dt.weekday()
        sod = dt.hour * 3600 + dt.minute * 60 + dt.second
        for s, e in self._spans:
            if s < e:
                if wd in self._days and s <= sod < e:
                    return True
            elif (wd in self._days and sod >= s) or ((wd - 1) % 7 in self._days and sod < e):
                return True
        return False

    def next_active(self, ts: float) -> float:
        """`ts` when active, else the start of the next active span (at most 8 days ahead)."""
        if self.active(ts):
            return ts
        day0 = datetime.fromtimestamp(ts, self._tz).date()
        best: float | None = None
        for off in range(8):
            d = day0 + timedelta(days=off)
            if d.weekday() not in self._days:
                continue
            for s, _ in self._spans:
                t = _local_epoch(d, s, self._tz)
                if t > ts and (best is None or t < best):
                    best = t
            if best is not None:
                break
        return best if best is not None else ts


def _local_epoch(d: date, sod: int, tz: ZoneInfo) -> float:
    h, rest = divmod(sod, 3600)
    dt = datetime.combine(d, time(h % 24, rest // 60, rest % 60), tz)
    if h == 24:
        dt += timedelta(days=1)
    return dt.timestamp()


def quiet_end(ts: float, qh: QuietHours | None, tz: ZoneInfo) -> float:
    """`ts` when outside the quiet hours `qh` (local time in `tz`), else the moment they end."""
    if qh is None:
        return ts
    dt = datetime.fromtimestamp(ts, tz)
    if not qh.contains(dt.time()):
        return ts
    end = datetime.combine(dt.date(), qh.end, tz)
    if end.timestamp() <= ts:
        end = datetime.combine(dt.date() + timedelta(days=1), qh.end, tz)
    return end.timestamp()


def quiet_start(ts: float, qh: QuietHours | None, tz: ZoneInfo) -> float | None:
    """When the quiet hours `qh` that `ts` falls in began (local time in `tz`); None when `ts` is outside them."""
    if qh is None:
        return None
    dt = datetime.fromtimestamp(ts, tz)
    if not qh.contains(dt.time()):
        return None
    start = datetime.combine(dt.date(), qh.start, tz)
    if start.timestamp() > ts:
        start = datetime.combine(dt.date() - timedelta(days=1), qh.start, tz)
    return start.timestamp()


class QuietEnds:
    """`quiet_end` for one zone, remembered per UTC minute and quiet-hours window.

    When a whole street falls due in one sweep, most of its households share a few due minutes and one or two
    quiet-hours windows; `quiet_end` builds datetimes (~1.8 µs when inside the quiet hours), a look-up costs a
    tenth of that. Exact, not approximate: the answer is the same for every instant of a minute when the
    window's ends fall on whole minutes and the zone's offset is a whole number of minutes that does not change
    within it (true of every zone today; historical local mean times are not cached)."""

    __slots__ = ("_memo", "tz")

    LIMIT = 65_536  # entries before the memo starts over: a day of minutes for dozens of windows

    def __init__(self, tz: ZoneInfo) -> None:
        self.tz = tz
        self._memo: dict[tuple[int, QuietHours], float | None] = {}

    def __call__(self, ts: float, qh: QuietHours | None) -> float:
        if qh is None:
            return ts
        if qh.end.fold:  # equal (and hashing equal) to the same time without fold, but `combine` reads it
            return quiet_end(ts, qh, self.tz)
        minute = int(ts // 60)
        key = (minute, qh)
        try:
            end = self._memo[key]
        except KeyError:
            end = self._compute(ts, minute, qh, key)
        return ts if end is None else end

    def _compute(self, ts: float, minute: int, qh: QuietHours, key: tuple[int, QuietHours]) -> float | None:
        found = quiet_end(ts, qh, self.tz)
        end = None if found == ts else found
        if self._cacheable(minute, qh):
            if len(self._memo) >= self.LIMIT:
                self._memo.clear()
            self._memo[key] = end
        return end

    def _cacheable(self, minute: int, qh: QuietHours) -> bool:
        if any(t.second or t.microsecond for t in (qh.start, qh.end)):
            return False
        first = datetime.fromtimestamp(minute * 60, self.tz).utcoffset()
        last = datetime.fromtimestamp(minute * 60 + 59, self.tz).utcoffset()
        return first is not None and first == last and first.total_seconds() % 60 == 0
