"""Wilhelm & Wahl (2024): "Emergency Detection in Smart Homes Using Inactivity Score for Handling Uncertain Sensor
Data", Sensors 24(20), 6583, doi:10.3390/s24206583 (section 3); reference code: github.com/WilhelmSebastian/IBED,
`IBED_WilhelmWahl_2024.py`. Its evaluation includes smart-water-meter households (Wilhelm et al. 2023, "Exploiting
Smart Meter Water Consumption Measurements for Human Activity Event Recognition", J. Sens. Actuator Netw. 12(3),
46, doi:10.3390/jsan12030046).

Inactivity Score (section 3.1): S grows by one per second; an activity event of certainty c multiplies it by
(1 - c * w), where w = min(1, dt / (R * (1 - c))) weighs how long ago the same sensor last fired (linear, maximal
release time R = 6 h). Events of a trusted sensor (c = 1) reset S to 0.

Threshold (section 3.2): at time t, the reference days are the days of the score buffer (the last 30 days) before
today of the same kind (Monday-Friday, or Saturday-Sunday); on each, the highest S within one hour either side of
the same clock time. With Q1 and Q3 of those maxima,

    threshold = 1.1 * min(max(maxima), Q3 + 1.5 * (Q3 - Q1))

and an alert is raised when S exceeds it. Defaults as in IBED's constructor: 30-day buffer, R = 6 h, linear
weighting, weekdays and weekend apart, +-1 h, "maximum filtered", factor 1.1.

Choices:
- Certainty c = 0.86: the precision Wilhelm et al. (2023) measured for activity events taken from a smart water
  meter (recall 1.00). With c = 0.86 and R = 6 h a use an hour after the previous one cuts S to 14 %.
- S is evaluated on a one-minute grid (IBED ticks every second); the highest S in a window includes its value
  just before each activity, so no spike is lost between grid points.
- A reference day needs its clock time inside the data (IBED starts its days at the buffer's first entry).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from bench.care.peers.activity import MIN_LITRES, activity_times, checked
from bench.care.peers.base import TRAIN_DAYS
from bench.care.peers.clock import DAY, HOUR, Floats, LocalClock

STEP = 60.0
CHUNK = 7 * 1440  # grid points judged at once


def scores(events: Floats, start: float, certainty: float, release: float) -> tuple[Floats, Floats]:
    """S just before and just after each event; S starts at 0 at `start`."""
    before = np.empty_like(events)
    after = np.empty_like(events)
    s, at, last = 0.0, start, -np.inf
    hold = release * (1.0 - certainty)
    for k, e in enumerate(events.tolist()):
        s += e - at
        before[k] = s
        w = min(1.0, (e - last) / hold) if hold > 0 else 1.0
        s *= 1.0 - certainty * w
        after[k] = s
        at, last = e, e
    return before, after


def row_percentiles(v: Floats, qs: tuple[float, ...]) -> list[Floats]:
    """`np.nanpercentile(v, q, axis=1)` (linear interpolation) for rows holding at least one number, without
    numpy's one-row-at-a-time loop for arrays with NaN."""
    x = np.sort(v, axis=1)  # NaN last
    n = np.sum(~np.isnan(v), axis=1)
    rows = np.arange(x.shape[0])
    out = []
    for q in qs:
        pos = (q / 100.0) * (n - 1)
        lo = np.floor(pos).astype(np.int64)
        hi = np.minimum(lo + 1, n - 1)
        frac = pos - lo
        out.append(x[rows, lo] + frac * (x[rows, hi] - x[rows, lo]))
    return out


def sliding_max(x: Floats, half: int) -> Floats:
    """max(x[j - half], ..., x[j + half]) for every j (the ends shortened)."""
    pad = np.concatenate([np.full(half, -np.inf), x, np.full(half, -np.inf)])
    out: Floats = np.lib.stride_tricks.sliding_window_view(pad, 2 * half + 1).max(axis=1)
    return out


@dataclass
class WilhelmWahl2024:
    """Inactivity Score against the filtered maximum of past days' scores at the same time (see module doc)."""

    certainty: float = 0.86
    release_hours: float = 6.0
    buffer_days: int = 30
    window_hours: float = 1.0
    factor: float = 1.1
    min_litres: float = MIN_LITRES
    train_days: float = TRAIN_DAYS
    name: str = field(default="wilhelm-wahl-2024", init=False)

    def alerts(self, ts: Floats, litres: Floats, tz: str) -> list[float]:
        ts, litres = checked(ts, litres)
        if ts.size == 0:
            return []
        events = activity_times(ts, litres, self.min_litres)
        if events.size == 0:
            return []
        start, end = float(ts[0]), float(ts[-1])
        clock = LocalClock(tz, start, end)
        before, after = scores(events, start, self.certainty, self.release_hours * HOUR)

        g0 = np.floor(start / STEP) * STEP
        grid = g0 + STEP * np.arange(int((end - g0) // STEP) + 1, dtype=np.float64)
        k = np.searchsorted(events, grid, side="right") - 1
        s = np.where(k >= 0, after[np.maximum(k, 0)] + grid - events[np.maximum(k, 0)], grid - start)
        peak = s.copy()  # highest S in (grid[j-1], grid[j]]: the value before an event in it counts
        j = np.searchsorted(grid, events, side="left")
        inside = j < grid.size
        np.maximum.at(peak, j[inside], before[inside])
        ref = sliding_max(peak, round(self.window_hours * HOUR / STEP))

        days = clock.days(grid)
        off = clock.offsets(grid)
        lags = np.arange(1, self.buffer_days + 1)
        weekday = np.arange(7)  # Monday = 0
        same_kind = (weekday[:, None] - lags[None, :]) % 7 >= 5
        same_kind = same_kind == (weekday >= 5)[:, None]  # [weekday, lag]: that earlier day is of the same kind
        begin = max(start + self.train_days * DAY, float(events[0]))
        judged = np.flatnonzero((grid >= begin) & (k >= 0))
        out: list[float] = []
        alarmed = -1  # the gap (index of its first event) that has alerted already
        for c0 in range(0, judged.size, CHUNK):
            idx = judged[c0 : c0 + CHUNK]
            idx = idx[k[idx] > alarmed]
            if idx.size == 0:
                continue
            alarm = self._alarm(idx, grid, s, ref, off, days, lags, same_kind)
            for i in idx[alarm].tolist():
                if k[i] > alarmed:
                    alarmed = int(k[i])
                    out.append(float(grid[i]))
        return out

    def _alarm(
        self,
        idx: npt.NDArray[np.int64],
        grid: Floats,
        s: Floats,
        ref: Floats,
        off: Floats,
        days: npt.NDArray[np.int64],
        lags: npt.NDArray[np.int64],
        same_kind: npt.NDArray[np.bool_],
    ) -> npt.NDArray[np.bool_]:
        """Whether S exceeds the threshold at each grid point `idx`."""
        ri = idx[:, None] - lags[None, :] * int(DAY / STEP)  # the same instant on each earlier day ...
        ok = ri >= 0
        ri = np.where(ok, ri, 0)
        ri = ri + np.rint((off[idx][:, None] - off[ri]) / STEP).astype(np.int64)  # ... at the same clock time
        ok &= (ri >= 0) & (ri < grid.size)
        ri = np.clip(ri, 0, grid.size - 1)
        ok &= same_kind[(days[idx] + 3) % 7]
        vals = np.where(ok, ref[np.clip(ri, 0, grid.size - 1)], np.nan)
        has = ok.any(axis=1)
        lowest = np.min(np.where(ok, vals, np.inf), axis=1)
        maybe = has & (s[idx] > self.factor * lowest)  # the threshold is never below factor * the lowest maximum
        alarm = np.zeros(idx.size, dtype=np.bool_)
        if maybe.any():
            v = vals[maybe]
            q1, q3, top = row_percentiles(v, (25.0, 75.0, 100.0))
            alarm[maybe] = s[idx][maybe] > self.factor * np.minimum(top, q3 + 1.5 * (q3 - q1))
        return alarm
