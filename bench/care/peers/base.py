"""What every gap-based peer shares: the activity events, the training period, one alert per inactivity.

A detector sees one household's activity events (`activity.activity_times`) in time order. Between two events
(a gap) its learned model is fixed; it is asked for the first instant of the gap at which the inactivity since
the gap's start is abnormal, and then, once the next event closes the gap, it learns from the gap. So an alert
at time t uses only data up to t, and at most one alert is raised per gap (the detector re-arms at the next
activity). The last gap stays open until the last reading: the run's clock ends there.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from typing import Protocol

from bench.care.peers.activity import activity_times, checked
from bench.care.peers.clock import DAY, Floats, LocalClock

# The first 14 days of a household are its training period for every learned peer: enough for each half-hour
# slot (Cuddihy) and hour (Moshtaghi) to hold 14 or more observations and for four weekend days to exist as
# reference days (Wilhelm & Wahl). The papers report results after a learning phase without one common length.
TRAIN_DAYS = 14.0


class Model(Protocol):
    def first_alarm(self, start: float, lo: float, hi: float) -> float | None:
        """The first t in [lo, hi) at which the inactivity since `start` (the last activity) is abnormal."""
        ...

    def learn(self, start: float, end: float) -> None:
        """Take in the inactivity from `start` to `end` (two consecutive activities)."""
        ...


class GapPeer(ABC):
    """A peer detector run gap by gap. Subclasses are dataclasses holding the paper's parameters."""

    name: str
    train_days: float
    min_litres: float

    @abstractmethod
    def model(self, clock: LocalClock) -> Model:
        """A fresh model for one household."""

    def alerts(self, ts: Floats, litres: Floats, tz: str) -> list[float]:
        ts, litres = checked(ts, litres)
        if ts.size == 0:
            return []
        events = activity_times(ts, litres, self.min_litres).tolist()
        model = self.model(LocalClock(tz, float(ts[0]), float(ts[-1])))
        return run_gaps(model, events, float(ts[0]) + self.train_days * DAY, float(ts[-1]))


def run_gaps(model: Model, events: list[float], not_before: float, end: float) -> list[float]:
    """Alerts of `model` over the gaps between `events`: none before `not_before`, none after `end`."""
    out: list[float] = []
    last = math.nextafter(end, math.inf)  # an alert exactly at the last reading still counts
    for k, start in enumerate(events):
        nxt = events[k + 1] if k + 1 < len(events) else None
        hi = min(nxt, last) if nxt is not None else last
        lo = max(start, not_before)
        if lo < hi:
            t = model.first_alarm(start, lo, hi)
            if t is not None:
                out.append(t)
        if nxt is not None:
            model.learn(start, nxt)
    return out
