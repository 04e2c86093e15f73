"""How far a detector that decides from the hour of a household's last use can go on the shared data.

A *policy* gives, for each household and local hour of its last use, the delay after which the absence is
raised (pushed to the end of the quiet hours when it falls inside them). Every gap between two uses of the
year is scored as `bench.care` scores a ticket: raised when a reading without the next use comes at or after
the raise (the rule waits for a reading to prove the absence), false when the next use was surely within 24 h
(`truth.is_false`). The injected incidents are `bench.care`'s (same seed and rounds); an incident is reported
at the first reading at or after its raise, kept to the end of the quiet hours if that reading falls in them.

Three kinds of policy:

- *fixed*: one delay for every household and hour (a plain "no use for d hours" rule with quiet hours);
- *learned*: chosen on one half of the year and scored on the other (both ways, added up): per hour of the
  day for the whole street, or per household and hour drawn toward the street's hour (`SHRINK` gaps);
- *hindsight*: per household and hour, chosen on the very year it is scored on. No detector can do this: it
  knows in advance which hours of which household will hold departures and long days out. It is the bound.

A policy minimises, per cell, false + nu * all + lam * (share of falls reported after 18 h) + mu * (share
after 12 h), the falls' share estimated from the time the household was up and about in that hour (never
from the injected incidents, so no policy can aim at the moments they were drawn); over a grid of weights the
rows no other row beats on all of false, all, median and p95 are printed.

`python -m bench.care.bounds [--rounds 5]` (about a minute).
"""

from __future__ import annotations

import argparse
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import numpy as np
import numpy.typing as npt

from bench.care import truth
from bench.care.data import DataMissingError, Dataset, Household, find_data, load
from bench.care.run import MIN_READINGS, SEED, count
from bench.care.score import HORIZON_S, QUIET

H = 3600.0
DAY = 86_400.0
MONTH = 365.25 / 12 * DAY
DELAYS_H = np.arange(3.0, 48.5, 0.5)
"""The delays a policy may choose, in hours from the last use."""
WEEK = 7 * 24
SHRINK = 20.0
"""A household's hour is judged as if it had this many more gaps at the street's rates for that hour."""
WEIGHTS = [(nu, lam, mu) for nu in (0.0, 0.5, 1.0, 2.0) for lam in (0.0, 1, 2, 4, 8, 16, 32) for mu in (0.0, 0.5, 1, 2)]
TARGETS = {"false": 0.3, "all": 1.0, "median": 12.0, "p95": 18.0}
Bools = npt.NDArray[np.bool_]
Ints = npt.NDArray[np.int64]
Floats = npt.NDArray[np.float64]


class Clock:
    """Local time of the trial's zone for arrays of epoch seconds (the offset looked up per hour)."""

    def __init__(self, tz: str, lo: float, hi: float) -> None:
        zone = ZoneInfo(tz)
        self.h0 = int(lo // H) - 72
        hours = np.arange(self.h0, int(hi // H) + 24 * 60) * H
        self.off = np.array([zone.utcoffset(datetime.fromtimestamp(t, UTC)).total_seconds() for t in hours])  # type: ignore[union-attr]

    def offset(self, ts: Floats) -> Floats:
        i = np.clip((ts // H).astype(np.int64) - self.h0, 0, len(self.off) - 1)
        return self.off[i]

    def hour(self, ts: Floats) -> Ints:
        return (((ts + self.offset(ts)) % DAY) // H).astype(np.int64)

    def weekday(self, ts: Floats) -> Ints:
        """Monday 0 (1970-01-01 was a Thursday)."""
        return ((((ts + self.offset(ts)) // DAY) + 3) % 7).astype(np.int64)

    def cell(self, household: int, ts: Floats) -> Ints:
        return household * WEEK + self.weekday(ts) * 24 + self.hour(ts)

    def unquiet(self, ts: Floats) -> Floats:
        """`ts`, or the end of the quiet hours when it falls inside them (with the offset of `ts`: an hour off
        on the two nights a year the clocks change)."""
        off = self.offset(ts)
        local = ts + off
        sod = local % DAY
        start, end = QUIET[0] * H, QUIET[1] * H
        morning = local - sod + end + np.where(sod >= start, DAY, 0.0)
        return np.where((sod >= start) | (sod < end), morning - off, ts)


@dataclass
class Gaps:
    """Every gap between two uses of every household, scored for each delay of `DELAYS_H`."""

    cell: Ints  # household index * WEEK + local weekday * 24 + hour of the last use
    first_half: Bools  # the last use is before the split
    raised: Bools  # [gap, delay]
    false: Bools  # [gap, delay]
    up: Floats  # seconds the household was up and about after this use, within 3 h, 07:00-23:00 only
    late18: Bools  # [gap, delay]: a fall after this use would be raised more than 18 h later
    late12: Bools


@dataclass
class Outcome:
    false: float
    all: float
    median: float
    p95: float
    detected: int
    incidents: int

    def meets(self) -> bool:
        return (
            self.false <= TARGETS["false"]
            and self.all <= TARGETS["all"]
            and self.median <= TARGETS["median"]
            and self.p95 <= TARGETS["p95"]
            and self.detected == self.incidents
        )


class Bounds:
    """The year's gaps and the injected incidents of `households`, scored once for every delay; the policies
    are chosen and scored from them. A household's stretch before its first use or after its last is left out
    (no gap: it has no next use to judge it by)."""

    def __init__(self, households: dict[str, Household], tz: str, rounds: int, seed: int = SEED) -> None:
        self.keys = sorted(households)
        self.households = households
        uses = {k: truth.uses(h) for k, h in households.items()}
        rng = np.random.default_rng(seed)
        self.incidents = [i for _ in range(rounds) for i in truth.pick_incidents(households, uses, rng, tz).values()]
        lo = min(float(h.ts[0]) for h in households.values())
        hi = max(float(h.ts[-1]) for h in households.values())
        self.clock = Clock(tz, lo, hi)
        spans = [(float(h.ts[0]), float(h.ts[-1])) for h in households.values()]
        self.split = float(np.median([(a + b) / 2 for a, b in spans]))  # as `bench.care`'s year halves
        self.months = {
            True: sum(max(0.0, min(b, self.split) - a) for a, b in spans) / MONTH,
            False: sum(max(0.0, b - max(a, self.split)) for a, b in spans) / MONTH,
        }
        self.gaps = self._gaps(uses)
        self._totals: dict[tuple[bool | None, str], tuple[Floats, Floats, Floats, Floats, Floats, Floats]] = {}
        self.inc_cell, self.inc_first, self.inc_delay = self._incidents()

    def _gaps(self, uses: dict[str, truth.Uses]) -> Gaps:
        d = DELAYS_H * H
        parts: list[tuple[Ints, Bools, Bools, Bools, Floats, Bools, Bools]] = []
        for idx, k in enumerate(self.keys):
            u = uses[k]
            if len(u.at) < 2:
                continue
            start, proven = u.at[:-1], u.since[1:]
            surely = (u.at[1:] - u.since[:-1]) <= truth.FALSE_WITHIN_S
            hour = self.clock.hour(start)
            cell = self.clock.cell(idx, start)
            raise_at = self.clock.unquiet((start[:, None] + d[None, :]).ravel()).reshape(len(start), len(d))
            raised = proven[:, None] >= raise_at
            up = np.where((hour >= 7) & (hour < 23), np.clip(proven - start, 0.0, 3 * H), 0.0)
            late = raise_at - start[:, None]
            parts.append((cell, start < self.split, raised, raised & surely[:, None], up, late > 18 * H, late > 12 * H))
        return Gaps(*(np.concatenate([p[i] for p in parts]) for i in range(7)))  # type: ignore[arg-type]

    def _incidents(self) -> tuple[Ints, Bools, Floats]:
        """Each incident's cell, half and delay (h) for every delay of `DELAYS_H` (inf: not reported)."""
        index = {k: i for i, k in enumerate(self.keys)}
        cells, first, delays = [], [], []
        for inc in self.incidents:
            ts = self.households[inc.key].ts
            raise_at = self.clock.unquiet(inc.last_use + DELAYS_H * H)
            j = np.searchsorted(ts, raise_at, "left")
            reading = np.where(j < len(ts), ts[np.minimum(j, len(ts) - 1)], np.inf)
            at = np.where(
                np.isfinite(reading), self.clock.unquiet(np.where(np.isfinite(reading), reading, 0.0)), np.inf
            )
            delay = np.where(at <= inc.cut + HORIZON_S, (at - inc.last_use) / H, np.inf)
            cells.append(int(self.clock.cell(index[inc.key], np.array([inc.last_use]))[0]))
            first.append(inc.cut < self.split)
            delays.append(delay)
        return np.array(cells, np.int64), np.array(first, np.bool_), np.vstack(delays)

    # --- choosing and scoring ------------------------------------------------------------------------------

    def group(self, cells: Ints, level: str) -> Ints:
        """The group of each fine cell at `level`: the hour of the day ("street"), the household and hour
        ("household") or the household, weekday and hour ("week")."""
        if level == "street":
            return cells % 24
        if level == "household":
            return (cells // WEEK) * 24 + cells % 24
        return cells

    def groups(self, level: str) -> int:
        return {"street": 24, "household": len(self.keys) * 24}.get(level, len(self.keys) * WEEK)

    def totals(self, half: bool | None, level: str) -> tuple[Floats, Floats, Floats, Floats, Floats, Floats]:
        """Per group of `level` over the gaps of one half of the year (`None`: the whole): false, raised,
        up-weighted late18 and late12, up, gaps. Cached: they do not depend on the weights."""
        cached = self._totals.get((half, level))
        if cached is not None:
            return cached
        g = self.gaps
        keep = np.ones(len(g.cell), np.bool_) if half is None else g.first_half == half
        by = self.group(g.cell, level)[keep]
        n = self.groups(level)
        order = np.argsort(by, kind="stable")
        by_sorted = by[order]
        starts = np.searchsorted(by_sorted, np.arange(n))
        nonempty = starts < len(by_sorted)

        def add(x: npt.NDArray[np.generic]) -> Floats:
            x = x[keep][order].astype(np.float64)
            out = np.zeros((n, *x.shape[1:]))
            if len(x):
                sums = np.add.reduceat(x, np.minimum(starts, len(x) - 1), axis=0)
                counts = np.diff(np.append(starts, len(x)))
                out[nonempty & (counts > 0)] = sums[nonempty & (counts > 0)]
            return out

        up = g.up[:, None]
        out = (
            add(g.false),
            add(g.raised),
            add(g.late18 * up),
            add(g.late12 * up),
            add(g.up),
            add(np.ones(len(g.up))),
        )
        self._totals[(half, level)] = out
        return out

    def choose(self, half: bool | None, weights: tuple[float, float, float], level: str) -> Ints:
        """The delay index per fine cell, chosen per group of `level` on the gaps of `half` (`None`: the
        year); a household's groups are drawn toward the street's hour by `SHRINK` gaps at its rates."""
        nu, lam, mu = weights
        months = self.months[True] + self.months[False] if half is None else self.months[half]
        fine = np.arange(len(self.keys) * WEEK)
        f, a, l18, l12, up, n = self.totals(half, "street")
        up_all = max(float(up.sum()), 1.0)
        if level == "street":
            cost = f / months + nu * a / months + (lam * l18 + mu * l12) / up_all
        else:
            cf, ca, c18, c12, _, cn = self.totals(half, level)
            if half is not None:
                h = np.arange(self.groups(level)) % 24
                scale = (cn / (cn + SHRINK))[:, None]
                cf = (cf + SHRINK * (f / np.maximum(n, 1.0)[:, None])[h]) * scale
                ca = (ca + SHRINK * (a / np.maximum(n, 1.0)[:, None])[h]) * scale
            cost = cf / months + nu * ca / months + (lam * c18 + mu * c12) / up_all
        return np.argmin(cost, axis=1).astype(np.int64)[self.group(fine, level)]

    def outcome(self, parts: Sequence[tuple[Ints, bool | None]]) -> Outcome:
        """Each part a policy (delay index per fine cell) and the half of the year it is scored on (`None`:
        the whole year); the parts' tickets and incidents added up."""
        g = self.gaps
        false = raised = months = 0.0
        delays = []
        for choice, half in parts:
            keep = np.ones(len(g.cell), np.bool_) if half is None else g.first_half == half
            inc = np.ones(len(self.inc_cell), np.bool_) if half is None else self.inc_first == half
            pick = choice[g.cell[keep]]
            rows = np.arange(int(keep.sum()))
            false += float(g.false[keep][rows, pick].sum())
            raised += float(g.raised[keep][rows, pick].sum())
            months += self.months[True] + self.months[False] if half is None else self.months[half]
            delays.append(self.inc_delay[inc, choice[self.inc_cell[inc]]])
        d = np.concatenate(delays)
        found = d[np.isfinite(d)]
        nan = float("nan")
        return Outcome(
            false / months,
            raised / months,
            float(np.median(found)) if len(found) else nan,
            float(np.percentile(found, 95)) if len(found) else nan,
            len(found),
            len(d),
        )

    def fixed(self, hours: float) -> Outcome:
        i = int(np.argmin(abs(DELAYS_H - hours)))
        return self.outcome([(np.full(len(self.keys) * WEEK, i, np.int64), None)])

    def hindsight(self, weights: tuple[float, float, float], level: str) -> Outcome:
        """Chosen on the year it is scored on."""
        return self.outcome([(self.choose(None, weights, level), None)])

    def learned(self, weights: tuple[float, float, float], level: str) -> Outcome:
        """Chosen on each half of the year, scored on the other."""
        return self.outcome([(self.choose(train, weights, level), not train) for train in (True, False)])


def frontier(rows: Iterable[tuple[str, Outcome]]) -> list[tuple[str, Outcome]]:
    """The rows no other row beats (or equals) on every one of false, all, median and p95, by p95."""
    rows = [(n, o) for n, o in rows if o.detected == o.incidents]

    def key(o: Outcome) -> tuple[float, float, float, float]:
        return (o.false, o.all, o.median, o.p95)

    keep = []
    for n, o in rows:
        if not any(
            all(x <= y for x, y in zip(key(p), key(o), strict=True)) and key(p) != key(o) for _, p in rows
        ) and all(key(o) != key(p) for _, p in keep):
            keep.append((n, o))
    return sorted(keep, key=lambda r: (r[1].p95, r[1].false))


LEVELS = {"street": "street per hour", "household": "household per hour", "week": "household per weekday and hour"}


def shown(rows: list[tuple[str, Outcome]], most: int = 6) -> list[tuple[str, Outcome]]:
    """At most `most` rows of a frontier sorted by p95: those with p95 up to 24 h, the fastest first."""
    return [r for r in rows if r[1].p95 <= 24.0][:most]


def least(rows: list[tuple[str, Outcome]], what: str, p95: float) -> str:
    """The least `what` ("false" or "all") among `rows` with a p95 up to `p95`, or a dash."""
    ok = [o for _, o in rows if o.p95 <= p95]
    return f"{min(getattr(o, what) for o in ok):.2f}" if ok else "-"


def line(name: str, o: Outcome) -> str:
    mark = " **meets every target**" if o.meets() else ""
    return f"| {name} | {o.false:.2f} | {o.all:.2f} | {o.detected}/{o.incidents} | {o.median:.1f} | {o.p95:.1f} |{mark}"


def report(b: Bounds) -> str:
    out = [
        f"{len(b.keys)} households, {b.months[True] + b.months[False]:.0f} household-months, "
        f"{len(b.incidents)} incidents (seed {SEED}); per household-month, delays in hours from the last use.",
        "",
        "| policy | false | all no-water | detected | median | p95 |",
        "| --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    out += [line(f"fixed: {h:g} h", b.fixed(h)) for h in (10, 12, 14, 16, 18, 24)]
    best: dict[str, list[tuple[str, Outcome]]] = {}
    for kind, score in (("learned", b.learned), ("hindsight", b.hindsight)):
        for level, title in LEVELS.items():
            rows = frontier((str(w), score(w, level)) for w in WEIGHTS)
            out += [line(f"{kind}, {title} {w}", o) for w, o in shown(rows)]
            best[f"{kind}, {title}"] = rows
    out += ["", "Weights (nu, lam, mu): false + nu * all + lam * late over 18 h + mu * late over 12 h.", ""]
    out += ["| policy | least false with p95 <= 18 h | least all with p95 <= 18 h | least all with p95 <= 24 h |"]
    out += ["| --- | ---: | ---: | ---: |"]
    for name, rows in best.items():
        cells = [least(rows, "false", 18.0), least(rows, "all", 18.0), least(rows, "all", 24.0)]
        out.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(out)


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.care.bounds", description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", type=lambda s: __import__("pathlib").Path(s), default=None, help="the CSV or its folder")
    ap.add_argument("--rounds", type=count, default=5, help="rounds of injected incidents (45 each), as bench.care")
    args = ap.parse_args(argv)
    try:
        ds: Dataset = load(find_data(args.data))
    except DataMissingError as e:
        print(f"bench.care.bounds: {e}")  # as bench.care: said plainly, and `make bench` goes on
        return 0
    households = {k: h for k, h in ds.households.items() if len(h.ts) >= MIN_READINGS}
    print(report(Bounds(households, ds.tz, args.rounds)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
