"""The fixed rule the community platforms use: alert after `hours` without water use (24 h: Taicang, K-water;
see docs of issue 12 and the domain notes). No learning and no training period."""

from __future__ import annotations

from dataclasses import dataclass, field

from bench.care.peers.activity import MIN_LITRES
from bench.care.peers.base import GapPeer, Model
from bench.care.peers.clock import HOUR, LocalClock


@dataclass
class _Window:
    window: float

    def first_alarm(self, start: float, lo: float, hi: float) -> float | None:
        t = max(lo, start + self.window)
        return t if t < hi else None

    def learn(self, start: float, end: float) -> None:
        pass


@dataclass
class FixedWindow(GapPeer):
    """Alert when `hours` pass without an activity (a use of at least `min_litres`)."""

    hours: float = 24.0
    min_litres: float = MIN_LITRES
    train_days: float = 0.0
    name: str = field(default="fixed-24h", init=False)

    def __post_init__(self) -> None:
        if self.hours != 24.0:
            self.name = f"fixed-{self.hours:g}h"

    def model(self, clock: LocalClock) -> Model:
        return _Window(self.hours * HOUR)
