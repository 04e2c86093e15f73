"""Water use from a cumulative register: the difference between two readings of one meter, dated at the
start of the interval it was used in (it happened somewhere after the earlier reading), but at most
`USE_SPAN_S` before the reading that shows it."""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

from devices.model import DeviceClass
from devices.payloads import Channel
from devices.reading import Reading
from rules.conditions import NUMBER

RESTART = -1.0
"""The m3 `UseTracker.use` reports when a meter's register went down."""
USE_SPAN_S = 3600.0
"""A use is dated at most this long before the reading that shows it: the interval of an hourly meter. After a
longer silence the readings say nothing about when in it the water was used; dated at the start of the
silence, the use would let the next readings prove an absence as long as the silence itself."""


class Use(NamedTuple):
    """What one reading says: no use up to `start` (the meter's previous reading), then `m3` used, dated `at`
    (`start`, or `USE_SPAN_S` before the reading after a longer interval)."""

    start: float
    at: float
    m3: float


class UseTracker:
    """Last (time, register) per meter. `use(r)` returns the `Use` of a newer reading, or None.
    The first reading of a meter, and a register that goes down (meter replaced or reset), start over: `use`
    returns (r.ts, RESTART) and the evaluators restart their clocks there, because nothing is known about the
    time before."""

    __slots__ = ("last",)

    def __init__(self) -> None:
        self.last: dict[str, tuple[float, float]] = {}

    def use(self, r: Reading) -> Use | None:
        if r.device_class is not DeviceClass.WATER_METER or r.channel is not Channel.TELEMETRY:
            return None
        v = r.fields.get("volume_m3")
        if not isinstance(v, NUMBER) or isinstance(v, bool):
            return None
        before = self.last.get(r.device_id)
        if before is not None and r.ts <= before[0]:
            return None  # older than what we know: the register already counted it
        self.last[r.device_id] = (r.ts, float(v))
        if before is None or float(v) < before[1]:
            return Use(r.ts, r.ts, RESTART)  # a meter heard for the first time, or replaced
        return Use(before[0], max(before[0], r.ts - USE_SPAN_S), float(v) - before[1])

    def newest(self, meters: Sequence[str]) -> float | None:
        """The time of the newest reading of any of `meters` (None when none was read yet)."""
        last = self.last
        if len(meters) == 1:  # the usual household: one meter (a timer sweep asks for each)
            got = last.get(meters[0])
            return None if got is None else got[0]
        return max((last[m][0] for m in meters if m in last), default=None)

    def dump(self) -> dict[str, list[float]]:
        return {k: [t, v] for k, (t, v) in self.last.items()}

    def load(self, data: dict[str, list[float]]) -> None:
        self.last = {str(k): (float(v[0]), float(v[1])) for k, v in data.items()}
