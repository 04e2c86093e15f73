"""What the data says happened, independently of the rules: when each household used water, whether an alert
was false, and the injected incidents (a resident who fell: no water used after a moment).

Uses are read from the register with a high-water mark, so the oddities of real meters do not invent water
use: a register that steps back (a litre or two, or a stale reading a few minutes late) shows no use until it
passes its highest value again; a reading far above (more than `MAX_LPM` litres a minute over its interval: a
second meter's series interleaved) or far below it is another series and ignored; a register that stays
below its mark for `REBASE_S` (a replaced meter) is followed from there on.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

import numpy as np

from bench.care.data import Floats, Household

MAX_LPM = 100.0
"""More than this many litres a minute over a reading's interval is not one household's use (a household's
supply gives 20-40 L/min with every tap open)."""
TOLERANCE_L = 10.0
"""A register up to this far below its mark is the same meter stepping back."""
REBASE_S = 86_400.0
"""A register below its mark for this long (every reading of it) belongs to a replaced meter."""
FALSE_WITHIN_S = 24 * 3600.0
"""An absence alert is false when water was used again within this long of the last use before it."""
ABSENCE_S = 48 * 3600.0
"""A stretch without use at least this long is what a community wants to hear about."""


@dataclass
class Uses:
    """The readings that showed water use: `at[i]` the reading, `since[i]` the reading before it (the use
    happened in between), `litres[i]` how much; `top[i]` the register mark after reading i of the series."""

    at: Floats
    since: Floats
    litres: Floats
    top: Floats


def uses(h: Household) -> Uses:
    at: list[float] = []
    since: list[float] = []
    litres: list[float] = []
    top = np.empty(len(h.ts))
    mark = last = float("nan")
    below_from: float | None = None
    for i, (t, v) in enumerate(zip(h.ts.tolist(), h.litres.tolist(), strict=True)):
        if mark != mark:  # first reading
            mark, last = v, t
        elif v > mark:
            if v - mark <= MAX_LPM * max(t - last, 3600.0) / 60.0:
                at.append(t)
                since.append(last)
                litres.append(v - mark)
                mark, last = v, t
            below_from = None  # another series above: the meter's own is not below its mark
        elif v >= mark - TOLERANCE_L:
            last = t
            below_from = None
        else:
            if below_from is None:
                below_from = t
            elif t - below_from >= REBASE_S:
                mark, last, below_from = v, t, None
        top[i] = mark
    f = np.float64
    return Uses(np.asarray(at, f), np.asarray(since, f), np.asarray(litres, f), top)


def around(u: Uses, ts: float) -> tuple[int | None, int | None]:
    """Indexes of the last use shown by a reading at or before `ts` and of the next one after it."""
    i = int(np.searchsorted(u.at, ts, "right"))
    return (i - 1 if i > 0 else None), (i if i < len(u.at) else None)


def gap_after(u: Uses, ts: float) -> float:
    """The longest the household can have gone without water around `ts`: from the earliest moment of the
    last use before it (the start of the interval that showed it) to the latest moment of the next use (the
    reading that showed it); inf when there is no next use."""
    last, nxt = around(u, ts)
    if nxt is None:
        return float("inf")
    start = float(u.since[last]) if last is not None else float(u.since[0])
    return float(u.at[nxt]) - start


def is_false(u: Uses, alert_ts: float) -> bool:
    """Water surely used again within `FALSE_WITHIN_S` of the last use before the alert: even if the last use
    was as early and the next one as late as the readings allow, they are at most that far apart."""
    last, _ = around(u, alert_ts)
    return last is not None and gap_after(u, alert_ts) <= FALSE_WITHIN_S


@dataclass(frozen=True)
class Incident:
    """From `cut` on the household uses no more water (its register stays flat; the meter keeps reporting).
    `last_use`: the reading that showed its last use."""

    key: str
    cut: float
    last_use: float


def pick_incidents(
    households: dict[str, Household],
    all_uses: dict[str, Uses],
    rng: np.random.Generator,
    tz: str,
    *,
    hours: tuple[int, int] = (7, 23),
    recent_s: float = 3 * 3600.0,
    margin_s: float = 4 * 86_400.0,
) -> dict[str, Incident]:
    """One incident per household: a moment drawn uniformly over its series (but `margin_s` from its end, so
    the outcome is known), at a local hour in `hours` (day and evening), at which the household had used water
    within `recent_s` (the resident was up and about). Drawn again until one fits (at most 1,000 tries)."""
    zone = ZoneInfo(tz)
    out: dict[str, Incident] = {}
    for key in sorted(households):
        h = households[key]
        u = all_uses[key]
        lo, hi = float(h.ts[0]) + 86_400.0, float(h.ts[-1]) - margin_s
        if hi <= lo or len(u.at) == 0:
            continue
        for _ in range(1000):
            t = float(rng.uniform(lo, hi))
            if not hours[0] <= datetime.fromtimestamp(t, zone).hour < hours[1]:
                continue
            last, _ = around(u, t)
            if last is not None and t - float(u.at[last]) <= recent_s:
                out[key] = Incident(key, t, float(u.at[last]))
                break
    return out


def cut(h: Household, u: Uses, inc: Incident, until: float = float("inf")) -> Household:
    """The household's series with no use after `inc.cut`: every later reading shows the register's mark.
    Readings after `until` are left out (what comes after the incident's horizon cannot change its outcome)."""
    keep = h.ts <= until
    ts, litres = h.ts[keep], h.litres[keep].copy()
    i = int(np.searchsorted(ts, inc.cut, "right")) - 1
    litres[ts > inc.cut] = u.top[max(i, 0)]
    return Household(h.key, ts, litres)
