"""Local wall-clock time of an IANA zone for epoch seconds: the detectors learn by time of day and weekday."""

from __future__ import annotations

import bisect
import math
from datetime import datetime
from zoneinfo import ZoneInfo

import numpy as np
import numpy.typing as npt

DAY = 86_400.0
HOUR = 3_600.0

Floats = npt.NDArray[np.float64]


def _offset(zone: ZoneInfo, t: float) -> float:
    off = datetime.fromtimestamp(t, zone).utcoffset()
    return off.total_seconds() if off is not None else 0.0


class LocalClock:
    """UTC offsets of `tz` between `start` and `end` (epoch s) as a list of changes, found by sampling each day
    and bisecting to the minute where the offset differs (about 400 zone look-ups a year instead of one per
    call). Outside the span the nearest offset holds. A bad zone name raises `ZoneInfoNotFoundError`."""

    def __init__(self, tz: str, start: float, end: float) -> None:
        zone = ZoneInfo(tz)
        lo = math.floor(start / DAY) * DAY - DAY
        hi = math.ceil(end / DAY) * DAY + DAY
        self._at = [lo]
        self._off = [_offset(zone, lo)]
        day = lo
        while day < hi:
            nxt = day + DAY
            off = _offset(zone, nxt)
            if off != self._off[-1]:
                a, b = day, nxt  # offset(a) is the old one, offset(b) the new one
                while b - a > 60.0:
                    mid = a + math.floor((b - a) / 120.0) * 60.0
                    if _offset(zone, mid) == self._off[-1]:
                        a = mid
                    else:
                        b = mid
                self._at.append(b)
                self._off.append(off)
            day = nxt
        self._at_arr = np.asarray(self._at, dtype=np.float64)
        self._off_arr = np.asarray(self._off, dtype=np.float64)

    def offset(self, t: float) -> float:
        return self._off[max(bisect.bisect_right(self._at, t) - 1, 0)]

    def offsets(self, t: Floats) -> Floats:
        i = np.maximum(np.searchsorted(self._at_arr, t, side="right") - 1, 0)
        return self._off_arr[i]

    def second_of_day(self, t: float) -> float:
        return (t + self.offset(t)) % DAY

    def seconds_of_day(self, t: Floats) -> Floats:
        return np.mod(t + self.offsets(t), DAY)

    def next_boundary(self, t: float, step: float) -> float:
        """The first local `step` boundary (e.g. every half hour) strictly after `t`."""
        local = t + self.offset(t)
        return (math.floor(local / step) + 1.0) * step - self.offset(t)

    def days(self, t: Floats) -> npt.NDArray[np.int64]:
        """Local day number (days since 1970-01-01 in local time)."""
        return np.floor((t + self.offsets(t)) / DAY).astype(np.int64)
