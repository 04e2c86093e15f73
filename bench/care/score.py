"""Scoring alerts against what the data says: rates per household-month, false no-water alerts, absences that
raised more than one ticket, and the detection of injected incidents. cwatch's alerts and the peers' are
scored by the same functions."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from zoneinfo import ZoneInfo

import numpy as np

from bench.care.truth import Incident, Uses, around, is_false

MONTH_S = 365.25 / 12 * 86_400.0
HORIZON_S = 7 * 86_400.0
"""An injected incident not reported within this long after it happened counts as missed."""
QUIET = (22, 6)
"""The quiet hours every household has in the benchmark (local hours, 22:00-06:00)."""


@dataclass(frozen=True)
class Raised:
    """One alert raised for a household: `dated` when its condition fell due, `at` when it went out."""

    key: str
    rule: str
    dated: float
    at: float


@dataclass(frozen=True)
class Change:
    """One raise or clear of the rule engine about a household: `dedup` the condition, `group` the group key
    its ticket is filed under (None: the condition's own)."""

    key: str
    rule: str
    dedup: str
    group: str | None
    raised: bool
    dated: float
    at: float
    reopen_within: float = 0.0  # the raise's `Alert.reopen_within`


def tickets(changes: Iterable[Change], reopened: list[Raised] | None = None) -> list[Raised]:
    """The tickets the alerts service opens for `changes` (in the order they went out), each as the raise that
    opened it. As `alerts.store` files them: a raise joins the ticket of its group (or its own condition's)
    while a condition of it is live (raised and not cleared); a ticket whose conditions have all cleared is
    resolved (lone-elderly tickets are major or minor: they auto-resolve with their last clear), so the next
    raise opens a new one, unless it comes within its rule's `reopen_within` of that resolution: it reopens
    the ticket (appended to `reopened`, if given). The service's 10-minute flap window is left out: no rule
    here raises again within 10 minutes of a clear."""
    live: dict[str, set[str]] = {}
    resolved: dict[str, float] = {}
    out: list[Raised] = []
    for c in changes:
        key = c.group or c.dedup
        members = live.setdefault(key, set())
        if c.raised:
            if not members:
                was = resolved.get(key)
                if was is not None and c.at - was <= c.reopen_within:
                    if reopened is not None:
                        reopened.append(Raised(c.key, c.rule, c.dated, c.at))
                else:
                    out.append(Raised(c.key, c.rule, c.dated, c.at))
            members.add(c.dedup)
        elif c.dedup in members:
            members.discard(c.dedup)
            if not members:
                resolved[key] = c.at
    return out


OFFLINE = ("device_offline", "gateway_offline")
"""The offline tickets: a meter's own, and one for many silent together (charged to the first silent one)."""


@dataclass
class Span:
    """What is scored: the households and, per household, the time range (epoch s) of its data."""

    ranges: dict[str, tuple[float, float]]

    @property
    def months(self) -> float:
        return sum(hi - lo for lo, hi in self.ranges.values()) / MONTH_S

    def holds(self, r: Raised) -> bool:
        rng = self.ranges.get(r.key)
        return rng is not None and rng[0] <= r.dated < rng[1]


@dataclass
class Quiet:
    """Alert rates per household-month of one detector over one `Span`."""

    months: float
    per_rule: dict[str, float]
    no_water: float
    false: float
    multi: float  # absences that raised more than one no-water ticket
    absences: float  # absences that raised at least one
    offline: float
    counts: dict[str, int] = field(default_factory=dict)


def quiet(raised: Iterable[Raised], uses: dict[str, Uses], span: Span, no_water: frozenset[str]) -> Quiet:
    per_rule: Counter[str] = Counter()
    nw = false = 0
    episodes: Counter[tuple[str, int]] = Counter()
    for r in raised:
        if not span.holds(r):
            continue
        per_rule[r.rule] += 1
        if r.rule not in no_water:
            continue
        nw += 1
        u = uses[r.key]
        false += is_false(u, r.dated)
        last, _ = around(u, r.dated)
        episodes[(r.key, -1 if last is None else last)] += 1
    m = span.months or 1.0
    multi = sum(1 for n in episodes.values() if n > 1)
    return Quiet(
        months=span.months,
        per_rule={k: v / m for k, v in sorted(per_rule.items())},
        no_water=nw / m,
        false=false / m,
        multi=multi / m,
        absences=len(episodes) / m,
        offline=sum(per_rule.get(rule, 0) for rule in OFFLINE) / m,
        counts={"no_water": nw, "false": false, "multi": multi, "absences": len(episodes)},
    )


@dataclass
class Fast:
    """How injected incidents were reported: `delays` from the last use (h) of those detected."""

    incidents: int
    detected: int
    delays: list[float]
    in_quiet: int  # reported inside the quiet hours

    @property
    def rate(self) -> float:
        return self.detected / self.incidents if self.incidents else float("nan")

    def pct(self, q: float) -> float:
        return float(np.percentile(self.delays, q)) if self.delays else float("nan")


def in_quiet(ts: float, zone: ZoneInfo) -> bool:
    h = datetime.fromtimestamp(ts, zone).hour
    return h >= QUIET[0] or h < QUIET[1]


def fast(raised: Iterable[Raised], incidents: Iterable[Incident], no_water: frozenset[str], tz: str) -> Fast:
    """Each incident is reported by the first no-water alert of its household that went out after it happened
    (and within `HORIZON_S`); its delay is counted from the household's last use."""
    zone = ZoneInfo(tz)
    first: dict[str, list[Raised]] = {}
    for r in raised:
        if r.rule in no_water:
            first.setdefault(r.key, []).append(r)
    n = det = quiet_n = 0
    delays: list[float] = []
    for inc in incidents:
        n += 1
        after = [r for r in first.get(inc.key, ()) if inc.cut < r.at <= inc.cut + HORIZON_S]
        if not after:
            continue
        r = min(after, key=lambda x: x.at)
        det += 1
        delays.append((r.at - inc.last_use) / 3600.0)
        quiet_n += in_quiet(r.at, zone)
    return Fast(n, det, delays, quiet_n)
