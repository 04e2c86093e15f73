"""What every behaviour model gets, and the small time helpers they share."""

from __future__ import annotations

import heapq
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import numpy as np

from devices.model import Device, Household
from devices.payloads import Channel
from simulator.groundtruth import Truth
from simulator.incidents import Incident
from simulator.message import CST
from simulator.scenario import Background

Out = tuple[float, Channel, dict[str, Any]]
DAY = 86_400.0


@dataclass(slots=True)
class DeviceContext:
    device: Device
    household: Household | None
    floors: int
    seed: int
    start: float
    end: float
    rng: np.random.Generator
    incidents: list[Incident]
    background: Background
    served: int = 0
    """Households behind an access door (building or compound gate)."""
    truths: list[Truth] = field(default_factory=list)
    status: Callable[[float], dict[str, Any]] | None = None
    """Body of a keep-alive heartbeat at time t; set by models of battery devices."""
    media_base: str = "http://nvr.local"
    """Where a camera's snapshot URLs point (`Scenario.media_base`)."""
    registers: dict[str, float] | None = None
    """Water meters' registers (litres) by device id, shared by runs that follow one another: a meter listed
    starts from its register, and its register at the end of the period is written as soon as its readings start
    (`Simulation(registers=...)`)."""

    def days(self) -> Iterator[tuple[float, datetime]]:
        """Local midnights (epoch, datetime) of every day that overlaps the period."""
        d = datetime.fromtimestamp(self.start, CST).replace(hour=0, minute=0, second=0, microsecond=0)
        while d.timestamp() < self.end:
            yield d.timestamp(), d
            d = datetime.fromtimestamp(d.timestamp() + DAY + 3600, CST).replace(hour=0, minute=0, second=0)

    def day_number(self, t: float) -> int:
        """1-based day of the scenario for time t."""
        d0 = datetime.fromtimestamp(self.start, CST).date()
        return (datetime.fromtimestamp(t, CST).date() - d0).days + 1

    def incidents_of(self, *kinds: str) -> list[Incident]:
        return [i for i in self.incidents if i.kind in kinds]


def periodic(rng: np.random.Generator, start: float, end: float, interval: float, jitter: float = 0.0) -> list[float]:
    """Times k*interval + phase in [start, end), with a per-device phase and small jitter (seconds)."""
    if interval <= 0:
        return []
    phase = float(rng.uniform(0, interval))
    first = start + phase
    n = int(max(0.0, (end - first) // interval)) + 1
    times = first + interval * np.arange(n)
    if jitter:
        times = times + rng.uniform(-jitter, jitter, size=n)
    return [float(t) for t in times if start <= t < end]


def poisson_times(rng: np.random.Generator, start: float, end: float, rate_per_day: float) -> list[float]:
    """Uniformly random times of a Poisson process with `rate_per_day` in [start, end)."""
    n = int(rng.poisson(max(0.0, rate_per_day) * max(0.0, end - start) / DAY))
    return sorted(float(t) for t in rng.uniform(start, end, size=n))


def merge(*streams: Iterable[Out]) -> Iterator[Out]:
    """Merge time-ordered streams into one (stable for equal times)."""
    return heapq.merge(*streams, key=lambda o: o[0])


def clip(outs: Iterable[Out], start: float, end: float) -> Iterator[Out]:
    return (o for o in outs if start <= o[0] < end)


def r(x: float, nd: int = 2) -> float:
    """Round for stable, realistic text (sensors do not report 17 digits)."""
    return round(float(x), nd)


def battery_at(t: float, start: float, level0: float, drain_per_day: float) -> float:
    return max(0.0, level0 - drain_per_day * (t - start) / DAY)
