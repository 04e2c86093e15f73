"""Floeck & Litz (2009): "Inactivity patterns and alarm generation in senior citizens' houses", European Control
Conference (ECC), doi:10.23919/ecc.2009.7074979.

The inactivity duration (time since the last activity) is a sawtooth over the day. A polynomial of degree 4 in
the time of day, f(tau) (tau = local time of day as a fraction of the day), is fitted by least squares to the last
N = 1000 samples of that sawtooth (the paper's Eq. 7 and 9); it is then shifted up by the least A >= 0 that puts
every sample under it (no past inactivity spike would have raised an alarm), and a tolerance margin M = 0.1 is
added (Eq. 10):

    Th(t) = f(tau(t)) + (1 + M) * A,    A = max(0, max_k (d_k - f(tau_k)))

An alert is raised when the current inactivity exceeds Th at the current time of day. N = 1000, M = 0.1 and
degree 4 are the paper's as carried by the IBED re-implementation (github.com/WilhelmSebastian/IBED,
`IBED_FloeckLitz_2009.py`, "according to (Floeck & Litz, 2009)", equation numbers from there); the paper's text
was not available to us.

Choices:
- Samples: IBED samples the sawtooth once per tick; here it is sampled at every full local hour (the meter's
  reporting interval) and at its spike, the end of each inactivity, so 1000 samples cover about 30 days (24
  hourly samples and a median of 9.6 activities a day on the shared data).
- Samples of an inactivity are taken when it ends (at the next activity): the ongoing inactivity is not part of
  the fit it is judged against (with it, A would always cover it and no alarm could ever be raised).
- The fit keeps its intercept and A is the largest residual, as Eq. 10 describes; IBED drops the intercept
  (`LinearRegression.coef_`) and takes max(d) - max(f).
- Th is evaluated every minute of an inactivity (the alert is dated to the minute).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from numpy.polynomial import polynomial as npoly

from bench.care.peers.activity import MIN_LITRES
from bench.care.peers.base import TRAIN_DAYS, GapPeer, Model
from bench.care.peers.clock import DAY, HOUR, Floats, LocalClock

STEP = 60.0


class _Envelope:
    def __init__(self, p: FloeckLitz2009, clock: LocalClock) -> None:
        self.p = p
        self.clock = clock
        # a ring of the last `samples` samples: powers of the time of day (fraction of the day) and the inactivity
        self.powers = np.zeros((p.samples, p.degree + 1))
        self.dur = np.zeros(p.samples)  # hours
        self.n = 0  # samples taken so far
        self.fit: tuple[Floats, float, float] | None = None
        self.dirty = True
        self.day = np.vander(np.linspace(0.0, 1.0, 1441), p.degree + 1, increasing=True)  # every minute

    def _take(self, t: float, start: float) -> None:
        i = self.n % self.p.samples
        tau = self.clock.second_of_day(t) / DAY
        self.powers[i] = [tau**k for k in range(self.p.degree + 1)]
        self.dur[i] = (t - start) / HOUR
        self.n += 1

    def learn(self, start: float, end: float) -> None:
        t = self.clock.next_boundary(start, HOUR)
        while t < end:
            self._take(t, start)
            t = self.clock.next_boundary(t, HOUR)
        self._take(end, start)
        self.dirty = True

    def _fitted(self) -> tuple[Floats, float, float] | None:
        """Least-squares coefficients (lowest degree first), the lift (1 + M) * A, and a lower bound of Th over
        the day; None before there are enough samples. The normal equations are solved directly: powers up to 4
        of numbers in [0, 1) are well enough conditioned."""
        if self.dirty:
            self.dirty = False
            self.fit = None
            m = min(self.n, self.p.samples)
            if m > self.p.degree:
                v, dur = self.powers[:m], self.dur[:m]
                coef: Floats = np.linalg.solve(v.T @ v, v.T @ dur).astype(np.float64)
                lift = (1.0 + self.p.margin) * max(0.0, float(np.max(dur - v @ coef)))
                day = self.day @ coef
                floor = float(np.min(day) - np.max(np.abs(np.diff(day)))) + lift
                self.fit = (coef, lift, floor)
        return self.fit

    def first_alarm(self, start: float, lo: float, hi: float) -> float | None:
        fit = self._fitted()
        if fit is None:
            return None
        coef, lift, floor = fit
        if (hi - start) / HOUR <= floor:
            return None  # the inactivity cannot reach Th before the gap ends
        t0 = lo
        while t0 < hi:
            g = np.arange(t0, min(t0 + DAY, hi), STEP)
            th = npoly.polyval(self.clock.seconds_of_day(g) / DAY, coef) + lift
            hit = np.flatnonzero((g - start) / HOUR > th)
            if hit.size:
                return float(g[hit[0]])
            t0 = float(g[-1]) + STEP
        return None


@dataclass
class FloeckLitz2009(GapPeer):
    """A degree-4 polynomial of the time of day fitted to past inactivity, lifted over every past spike."""

    samples: int = 1000
    degree: int = 4
    margin: float = 0.1
    min_litres: float = MIN_LITRES
    train_days: float = TRAIN_DAYS
    name: str = field(default="floeck-litz-2009", init=False)

    def model(self, clock: LocalClock) -> Model:
        return _Envelope(self, clock)
