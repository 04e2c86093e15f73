"""The naive fixed rule the issue compares against: under 10 L in the last 12 h raises, once per episode.

A dozen lines over the raw register, no engine: at every reading, the litres since the last reading at least
12 h older; an alert when that falls under 10 L after having been at or over it. No quiet hours, no learning,
no care for meter gaps or registers that step back. Same interface as the peers (`bench.care.peers`)."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

Floats = npt.NDArray[np.float64]


class NaiveFixed:
    name = "naive: < 10 L in 12 h"

    def __init__(self, window_s: float = 12 * 3600.0, min_litres: float = 10.0) -> None:
        self.window_s = window_s
        self.min_litres = min_litres

    def alerts(self, ts: Floats, litres: Floats, tz: str) -> list[float]:
        out: list[float] = []
        j = 0
        low = False
        for i in range(len(ts)):
            while j + 1 < i and ts[j + 1] <= ts[i] - self.window_s:
                j += 1
            if ts[j] > ts[i] - self.window_s:
                continue  # the data does not reach 12 h back yet
            now_low = litres[i] - litres[j] < self.min_litres
            if now_low and not low:
                out.append(float(ts[i]))
            low = now_low
        return out
