"""Moshtaghi, Zukerman & Russell (2015): "Statistical models for unobtrusively detecting abnormal periods of
inactivity in older adults", User Modeling and User-Adapted Interaction 25(3), 231-265,
doi:10.1007/s11257-015-9162-6.

Inactivity periods (from the end of one sensor event to the next event) are modelled per region and hour of the
day: a period is added to the model of every local hour it spans, and each model keeps the last `window` (50)
periods. The alert threshold of an hour is the boundary of the upper `alpha` (10 %) tail of its model, and an alert
is raised when the current inactivity exceeds the threshold of the current hour.

The paper models the periods as hyper-exponential and estimates the tail's outlier region with its CV method; the
IBED re-implementation (github.com/WilhelmSebastian/IBED, `IBED_Moshtaghi_2015.py`, class
`ThresholdEstimator_CV`), written for the comparison in Wilhelm & Wahl (2024), reduces that estimate to the
(1 - alpha) percentile of the hour's periods (its comment: the estimated factor g cancels out). The paper's text
was not available to us, so this peer follows IBED: threshold = 90th percentile (linear interpolation) of the
hour's last 50 periods; alpha = 0.1 and 50 are IBED's defaults for the CV estimator.

Choices where IBED differs:
- IBED's hour range does not wrap past midnight (`range(22, 3)` is empty); here a period spanning midnight reaches
  the hours on both sides, and one of a day or more reaches all 24.
- IBED caps how fast the threshold may rise (one second per second); while the inactivity also grows one second
  per second this never changes when an alarm starts, so it is left out.
- A water meter is one sensor in no particular room: one region.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, field

from bench.care.peers.activity import MIN_LITRES
from bench.care.peers.base import TRAIN_DAYS, GapPeer, Model
from bench.care.peers.clock import HOUR, LocalClock


def percentile(x: list[float], q: float) -> float:
    """`np.percentile(x, q)` (linear interpolation) of a sorted, non-empty list, without numpy's overhead."""
    pos = q / 100.0 * (len(x) - 1)
    lo = math.floor(pos)
    hi = min(lo + 1, len(x) - 1)
    return x[lo] + (pos - lo) * (x[hi] - x[lo])


class _Hours:
    def __init__(self, p: Moshtaghi2015, clock: LocalClock) -> None:
        self.q = 100.0 * (1.0 - p.alpha)
        self.clock = clock
        self.periods: list[deque[float]] = [deque(maxlen=p.window) for _ in range(24)]
        self.cache: list[float | None] = [None] * 24

    def hour(self, t: float) -> int:
        return int(self.clock.second_of_day(t) // HOUR) % 24

    def threshold(self, h: int) -> float:
        v = self.cache[h]
        if v is None:
            data = self.periods[h]
            v = percentile(sorted(data), self.q) if data else math.inf
            self.cache[h] = v
        return v

    def learn(self, start: float, end: float) -> None:
        hours: set[int] = set()
        t = start
        while t < end and len(hours) < 24:
            hours.add(self.hour(t))
            t = self.clock.next_boundary(t, HOUR)
        for h in hours:
            self.periods[h].append(end - start)
            self.cache[h] = None

    def first_alarm(self, start: float, lo: float, hi: float) -> float | None:
        t = lo
        while t < hi:
            nb = self.clock.next_boundary(t, HOUR)
            at = max(t, start + self.threshold(self.hour(t)))
            if at < nb and at < hi:
                return at
            t = nb
        return None


@dataclass
class Moshtaghi2015(GapPeer):
    """Per hour of the day: the upper 10 % boundary of the last 50 inactivity periods spanning that hour."""

    alpha: float = 0.1
    window: int = 50
    min_litres: float = MIN_LITRES
    train_days: float = TRAIN_DAYS
    name: str = field(default="moshtaghi-2015", init=False)

    def model(self, clock: LocalClock) -> Model:
        return _Hours(self, clock)
