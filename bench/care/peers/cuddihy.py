"""Cuddihy, Weisenberg, Graichen & Ganesh (2007): "Algorithm to automatically detect abnormally long periods of
inactivity in a home", HealthNet '07 (ACM), doi:10.1145/1248054.1248081.

The day is cut into 48 half-hour slots of local time. At every slot boundary (hh:00, hh:30) the elapsed inactive
time (time since the last activity) is recorded for that boundary's slot; each slot keeps its last `history_days`
values (one a day). The alert line of slot i is

    A(i) = M(i) + UB(i) + VB(i)
    m(i)  = the `percentile` (97th) of slot i's recorded values
    M(i)  = max(m(i-2), ..., m(i+2))                               (the high percentile, widened by an hour)
    UB(i) = `uniform_buffer` (0.30) * m(i)
    VB(i) = `variable_buffer` (0.40) * sum_r w_r m(i+r) / sum_r w_r,  w = (1, 2, 3, 2, 1), r = -2..2

and an alert is raised at the first boundary at which the elapsed inactive time exceeds the alert line of its
slot: the check is made where the history was recorded, every half hour.

Parameters: 48 slots, 60 days, 97th percentile, UB 30 %, VB 40 %, weights 1-2-3-2-1 are the paper's as carried
by the IBED re-implementation (github.com/WilhelmSebastian/IBED, `IBED_CuddihyEtAl_2007.py`, which annotates each
"according to (Cuddihy et al., 2007)"); the paper's own text was not available to us, so no page is cited. The
percentile is the nearest-rank value `sorted(x)[int(n * p)]` as in IBED.

Choices where IBED differs:
- IBED compares, between events, the inactivity at every tick with the alert line of the slot in which the last
  activity fell. The paper's alert line is a function of the time of day, and its history holds the elapsed time
  at each boundary, so the elapsed time at each boundary is compared with that boundary's line. (Comparing the
  inactivity inside a slot with values recorded at its start alarms within the hour on a perfectly regular
  routine of hourly use: the inactivity grows by up to 30 minutes past what was recorded.)
- Values are recorded when the inactivity ends (at the next activity), as in IBED: the ongoing inactivity is not
  part of the history it is judged against.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, field

from bench.care.peers.activity import MIN_LITRES
from bench.care.peers.base import TRAIN_DAYS, GapPeer, Model
from bench.care.peers.clock import LocalClock

SLOT = 1800.0
SLOTS = 48


class _Lines:
    def __init__(self, p: Cuddihy2007, clock: LocalClock) -> None:
        self.p = p
        self.clock = clock
        self.data: list[deque[float]] = [deque(maxlen=p.history_days) for _ in range(SLOTS)]
        self.m_cache: list[float | None] = [None] * SLOTS
        self.line_cache: list[float | None] = [None] * SLOTS
        self.weights = p.weights
        self.wsum = float(sum(p.weights))

    def slot(self, boundary: float) -> int:
        return round(self.clock.second_of_day(boundary) / SLOT) % SLOTS

    def boundary_from(self, t: float) -> float:
        """The first boundary at or after `t`."""
        return self.clock.next_boundary(math.nextafter(t, -math.inf), SLOT)

    def m(self, i: int) -> float:
        v = self.m_cache[i]
        if v is None:
            x = sorted(self.data[i])
            v = x[min(int(len(x) * self.p.percentile), len(x) - 1)] if x else 0.0
            self.m_cache[i] = v
        return v

    def line(self, i: int) -> float:
        v = self.line_cache[i]
        if v is None:
            ms = [self.m((i + r) % SLOTS) for r in range(-2, 3)]
            vb = self.p.variable_buffer * sum(w * m for w, m in zip(self.weights, ms, strict=True)) / self.wsum
            v = max(ms) + self.p.uniform_buffer * ms[2] + vb
            self.line_cache[i] = v
        return v

    def learn(self, start: float, end: float) -> None:
        t = self.boundary_from(start)
        while t < end:
            i = self.slot(t)
            self.data[i].append(t - start)
            self.m_cache[i] = None
            for r in range(-2, 3):
                self.line_cache[(i + r) % SLOTS] = None
            t = self.clock.next_boundary(t, SLOT)

    def first_alarm(self, start: float, lo: float, hi: float) -> float | None:
        t = self.boundary_from(lo)
        while t < hi:
            if t - start > self.line(self.slot(t)):
                return t
            t = self.clock.next_boundary(t, SLOT)
        return None


@dataclass
class Cuddihy2007(GapPeer):
    """Per half-hour slot: 97th percentile of past elapsed inactivity, widened and buffered (see module doc)."""

    history_days: int = 60
    percentile: float = 0.97
    uniform_buffer: float = 0.30
    variable_buffer: float = 0.40
    weights: tuple[int, int, int, int, int] = (1, 2, 3, 2, 1)
    min_litres: float = MIN_LITRES
    train_days: float = TRAIN_DAYS
    name: str = field(default="cuddihy-2007", init=False)

    def model(self, clock: LocalClock) -> Model:
        return _Lines(self, clock)
