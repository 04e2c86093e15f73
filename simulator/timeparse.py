"""Parsing of the time expressions scenarios use: durations ("90s", "20m", "1h30m", "2d") and instants
(RFC 3339, or "day 3 18:30" counted from the scenario's first day, or "+2h" from its start)."""

from __future__ import annotations

import re
from datetime import datetime, timedelta

from simulator.message import CST

_DUR = re.compile(r"(\d+(?:\.\d+)?)\s*(d|h|m|s)")
_DAY = re.compile(r"day\s+(\d+)\s+(\d{1,2}):(\d{2})(?::(\d{2}))?")
_UNIT = {"d": 86_400.0, "h": 3_600.0, "m": 60.0, "s": 1.0}


def parse_duration(value: str | float | int) -> float:
    """Seconds from a number (seconds) or a string such as "1h30m"."""
    if isinstance(value, int | float):
        if value < 0:
            raise ValueError(f"duration {value!r} is negative")
        return float(value)
    text = value.strip().lower().replace(" ", "")
    pos, total = 0, 0.0
    for m in _DUR.finditer(text):
        if m.start() != pos:
            break
        total += float(m.group(1)) * _UNIT[m.group(2)]
        pos = m.end()
    if pos != len(text) or not text:
        raise ValueError(f"duration {value!r} is not like 90s, 20m, 1h30m or 2d")
    return total


def as_local(dt: datetime) -> datetime:
    """Naive datetimes in scenarios are China Standard Time."""
    return dt.replace(tzinfo=CST) if dt.tzinfo is None else dt


def parse_instant(value: str | datetime, start: datetime) -> float:
    """Epoch seconds of an absolute time, "day N HH:MM" (day 1 is the start date) or "+<duration>"."""
    if isinstance(value, datetime):
        return as_local(value).timestamp()
    text = value.strip()
    if text.startswith("+"):
        return start.timestamp() + parse_duration(text[1:])
    m = _DAY.fullmatch(text.lower())
    if m:
        day, hh, mm, ss = int(m.group(1)), int(m.group(2)), int(m.group(3)), int(m.group(4) or 0)
        if day < 1:
            raise ValueError("days are counted from 1")
        base = start.astimezone(CST).replace(hour=0, minute=0, second=0, microsecond=0)
        return (base + timedelta(days=day - 1, hours=hh, minutes=mm, seconds=ss)).timestamp()
    try:
        return as_local(datetime.fromisoformat(text)).timestamp()
    except ValueError:
        raise ValueError(f"time {value!r} is not RFC 3339, 'day N HH:MM' or '+<duration>'") from None
