"""Water use from a cumulative register: the difference between two readings of one meter, dated at the
start of the interval it was used in (it happened somewhere after the earlier reading), but at most
`USE_SPAN_S` before the reading that shows it."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import NamedTuple

from devices.model import DeviceClass
from devices.payloads import Channel
from devices.reading import Reading
from rules.conditions import NUMBER

RESTART = -1.0
"""The m3 `UseTracker.use` reports for a meter's first reading: nothing is known about the time before it."""
USE_SPAN_S = 3600.0
"""A use is dated at most this long before the reading that shows it: the interval of an hourly meter. After a
longer silence the readings say nothing about when in it the water was used; dated at the start of the
silence, the use would let the next readings prove an absence as long as the silence itself."""
STEP_BACK_M3 = 0.010
"""A register up to this much below its series is the same meter stepping back: no use, and the series keeps
its highest value. Real registers do (161 of the 184 decreases in the DAIAD trial's 46 households are of
1-10 L, most of them 1-2 L)."""
MAX_FLOW_M3_PER_H = 3.125
"""A register that rose faster than this over its interval (taken as at least an hour) is another series: the
overload flow Q4 of a DN15 household meter (ISO 4064), more than it can count."""
SERIES_KEPT_S = 6 * 3600.0
"""A second series that goes on while the meter's own has been silent this long replaces it (a replaced meter,
whose successor counts from its own register)."""


class Use(NamedTuple):
    """What one reading says: no use up to `start` (the series' previous reading), then `m3` used, dated `at`
    (`start`, or `USE_SPAN_S` before the reading after a longer interval)."""

    start: float
    at: float
    m3: float


class UseTracker:
    """Per meter, the register series its readings continue: its own, and at times a second one (a few real
    households show a second meter's readings interleaved with their own for hours; a replaced meter's successor
    counts from its own register). A reading continues the meter's series when it is at most `STEP_BACK_M3`
    below its highest register and rose no faster than `MAX_FLOW_M3_PER_H`; otherwise it belongs to the second
    series and says nothing, neither use nor its absence. A decrease of the register is never use and never
    restarts the clocks. When the second series goes on while the meter's own has been silent for
    `SERIES_KEPT_S`, it becomes the meter's series, and the clocks restart at its first reading: nothing is known
    about the time between the two.

    `use(r)` returns the `Use` of a newer reading (RESTART for a meter's first reading, or its series' first
    reading after a replacement), or None. `last[m]`: (time, highest register) of the meter's series; its time
    is up to when the meter has shown no use. `other[m]`: (first reading, time, register) of the second series."""

    __slots__ = ("last", "other")

    def __init__(self) -> None:
        self.last: dict[str, tuple[float, float]] = {}
        self.other: dict[str, tuple[float, float, float]] = {}

    def use(self, r: Reading) -> Use | None:
        if r.device_class is not DeviceClass.WATER_METER or r.channel is not Channel.TELEMETRY:
            return None
        raw = r.fields.get("volume_m3")
        if not isinstance(raw, NUMBER) or isinstance(raw, bool):
            return None
        m, t, v = r.device_id, r.ts, float(raw)
        cur = self.last.get(m)
        if cur is None:
            self.last[m] = (t, v)
            return Use(t, t, RESTART)
        other = self.other.get(m)
        if t <= cur[0] or (other is not None and t <= other[1]):
            return None  # older than what we know: the register already counted it
        if not _continues(cur[0], cur[1], t, v):
            if other is None or not _continues(other[1], other[2], t, v):
                self.other[m] = (t, t, v)  # a series of its own (replacing an older second one)
                return None
            if cur[0] >= t - SERIES_KEPT_S:
                self.other[m] = (other[0], t, max(other[2], v))
                return None  # the meter's own series is alive: the second one says nothing
            del self.other[m]  # the meter's own series is gone: the second one replaces it
            self.last[m] = (t, max(other[2], v))
            return Use(other[0], other[0], RESTART)
        self.last[m] = (t, max(cur[1], v))
        if v <= cur[1]:
            return Use(cur[0], cur[0], 0.0)  # unchanged, or stepped back: no use
        return Use(cur[0], max(cur[0], t - USE_SPAN_S), v - cur[1])

    def newest(self, meters: Sequence[str]) -> float | None:
        """Up to when the readings of `meters` show no use (None when none was read yet)."""
        last = self.last
        if len(meters) == 1:  # the usual household: one meter (a timer sweep asks for each)
            got = last.get(meters[0])
            return None if got is None else got[0]
        return max((last[m][0] for m in meters if m in last), default=None)

    def dump(self) -> dict[str, Sequence[float]]:
        """Each meter's (ts, register), then its second series' (first, ts, register) if it has one. Tuples, which
        the snapshot encodes as lists: a copy of `last` costs a district's save far less than a list per meter."""
        out: dict[str, Sequence[float]] = dict(self.last)
        for k, (first, t, v) in self.other.items():
            out[k] = (*out[k], first, t, v)
        return out

    def load(self, data: Mapping[str, Sequence[float]]) -> None:
        self.last = {str(k): (float(v[0]), float(v[1])) for k, v in data.items()}
        self.other = {str(k): (float(v[2]), float(v[3]), float(v[4])) for k, v in data.items() if len(v) >= 5}


def _continues(ts: float, top: float, t: float, v: float) -> bool:
    """Whether a reading of `v` m3 at `t` can be the next of a series last read at `ts` with register `top`."""
    return top - STEP_BACK_M3 - 1e-9 <= v <= top + MAX_FLOW_M3_PER_H * max(t - ts, 3600.0) / 3600.0
