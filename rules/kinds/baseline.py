"""Learned-baseline rules per watched household: unusual inactivity (per half-hour slot of the day) and
unusually high daily use, both learned from the household's own history."""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import datetime, time, timedelta, tzinfo
from typing import Any

import numpy as np

from devices.reading import Reading, Scalar
from rules.config import BaselineRule
from rules.emit import Emitter
from rules.kinds.base import NEVER, Context
from rules.kinds.watched import WatchedMeters
from rules.kinds.water import RESTART
from rules.learned import (
    DAY_S,
    SLOT_S,
    SLOTS,
    day_inactivity,
    first_exceedance,
    high_use_limit,
    late_slots,
    observed,
    observed_rows,
    slot_thresholds,
    street_thresholds,
)
from rules.schedule import Schedule, parse_span

_EPS = 1e-6
STREET_DAYS = 14
"""Days of each household the street's routine is learned from."""
STREET_HOUSEHOLDS = 2000
"""At most this many households (evenly spread over the scope) make up the street's routine."""


class BaselineEvaluator(WatchedMeters):
    """Per household: `last_use`, today's use times and volume, and one row of 48 inactivity values per past
    day (days the meter never reported are skipped, so a dead meter does not teach "inactive is normal").

    Nothing is known before a meter's first reading (`known_from`), and until the first use after it the time
    since the last use is known only as a lower bound (the time since that reading). A day that began before
    the first reading is therefore not learned for the household's own limits. It still tells the street's
    routine (`prior: street`), which is recomputed every half hour from the last `STREET_DAYS` days of every
    household of the scope and from the part of the current day the meters have already reported: on a cold
    start, the first night is judged against the street's night so far. Lower bounds only lower a percentile,
    so what is not known never makes the street's limits more lenient."""

    kind = "baseline"
    rule: BaselineRule

    def __init__(self, rule: BaselineRule, schedule: Schedule | None) -> None:
        super().__init__(rule, Emitter(rule.id, rule.title.text(), rule.severity, rule.cooldown, True), schedule)
        self.last_use: dict[str, float] = {}
        self.day: dict[str, float] = {}  # local day start the fields below are about
        self.prior: dict[str, float] = {}  # last use before that day
        self.today_uses: dict[str, list[float]] = {}
        self.today_m3: dict[str, float] = {}
        self.today_seen: dict[str, bool] = {}
        self.history: dict[str, list[list[float]]] = {}
        self.daily: dict[str, list[float]] = {}
        self.known_from: dict[str, float] = {}  # the meter's first reading: nothing is known before it
        self.mornings: dict[str, list[float]] = {}  # per learned day, its first use after the middle of the night
        self.unlearned: dict[str, tuple[float, float]] = {}  # an answered absence: its days are not learned
        self.away_over: dict[str, float] = {}  # the care profile's away that a water use ended (`end_away`)
        self.partial: dict[str, list[float]] = {}  # a first day known in part (NaN where not): street only
        self._thr: dict[str, np.ndarray[Any, np.dtype[np.float64]]] = {}
        # for the street's limits: each household's past rows, all of them stacked, and its current day's row
        self._past: dict[str, np.ndarray[Any, np.dtype[np.float64]]] = {}
        self._past_stack: np.ndarray[Any, np.dtype[np.float64]] | None = None
        # each household's current day's `day_inactivity`, while its uses, prior and first reading are unchanged
        self._today: dict[str, tuple[tuple[float, int, float, float], np.ndarray[Any, np.dtype[np.float64]]]] = {}
        # what the street's limits take from each household's current day: (day, first reading, newest reading,
        # `_day_row`), rebuilt at a refresh only for the households read since the last one (`_read`); None: all
        self._current: dict[str, tuple[float, float, float, np.ndarray[Any, np.dtype[np.float64]]]] | None = None
        self._read: set[str] = set()
        self._sample: list[str] = []
        self._sampled: frozenset[str] = frozenset()
        # the last `first_exceedance` per household: (last use, limits, result); limits compared by identity
        self._exceed: dict[str, tuple[float, np.ndarray[Any, np.dtype[np.float64]], float]] = {}
        self._street_slot = -1  # the half hour (epoch s // 1800) the street's limits were computed in
        self._street_thr: np.ndarray[Any, np.dtype[np.float64]] | None = None
        self._day_span: tuple[float, float, tzinfo | None] = (0.0, 0.0, None)  # see `_day_start`
        self._morning_day: dict[str, float] = {}  # the day of the last entry of `mornings`
        span = parse_span(rule.prior_late_hours) if rule.prior_late_hours is not None else None
        self._late_into = None if span is None else late_slots(float(span[0]), float(span[1]))

    # --- scope and timers ----------------------------------------------------------------------------------

    def rescope(self, ctx: Context) -> None:
        super().rescope(ctx)
        hs = self.households
        self._sample = hs[:: max(1, -(-len(hs) // STREET_HOUSEHOLDS))]  # the households the street learns from
        self._sampled = frozenset(self._sample)
        self._past_stack = None
        self._current = None

    def start(self, ctx: Context, birth: float) -> None:
        self._start_clocks(ctx, birth, self.last_use)

    def clocks(self) -> dict[str, float]:
        return self.last_use

    def _day_start(self, ts: float, ctx: Context) -> float:
        """The local midnight `ts` falls after. Every watched reading asks (~2 µs of `datetime`), so the last day
        is kept as its span [start, next midnight) when the zone's offset is the same all day long."""
        lo, hi, tz = self._day_span
        if lo <= ts < hi and tz is ctx.tz:
            return lo
        d = datetime.fromtimestamp(ts, ctx.tz).date()
        start = datetime.combine(d, time(0), ctx.tz)
        end = datetime.combine(d + timedelta(days=1), time(0), ctx.tz)
        if start.utcoffset() == end.utcoffset() and end.timestamp() - start.timestamp() == DAY_S:
            self._day_span = (start.timestamp(), end.timestamp(), ctx.tz)
        return start.timestamp()

    def _offset(self, ts: float, ctx: Context) -> float:
        off = datetime.fromtimestamp(ts, ctx.tz).utcoffset()
        return off.total_seconds() if off is not None else 0.0

    def _row(self, h: str, day: float, upto: float) -> np.ndarray[Any, np.dtype[np.float64]]:
        """The inactivity row of `h`'s current day (starting at `day`), NaN where not known by `upto`."""
        return observed(self._day_row(h, day), day, self.known_from.get(h, NEVER), upto)

    def _day_row(self, h: str, day: float) -> np.ndarray[Any, np.dtype[np.float64]]:
        """`day_inactivity` of `h`'s current day (starting at `day`), all 48 slots, as if nothing came after its
        last use. It changes only with a use (or a new day), so it is kept until then: the street's limits,
        recomputed every half hour, rebuild only the rows of the households that used water since."""
        since = self.known_from.get(h, NEVER)
        uses = self.today_uses.get(h, [])
        prior = self.prior.get(h, max(day, since))
        key = (day, len(uses), prior, since)
        cached = self._today.get(h)
        if cached is not None and cached[0] == key:
            return cached[1]
        row = day_inactivity(np.asarray(sorted(uses), dtype=np.float64), day, prior)
        self._today[h] = (key, row)
        return row

    def _street(self) -> np.ndarray[Any, np.dtype[np.float64]] | None:
        """Limits learned from the households of the scope (the street's routine): their last `STREET_DAYS`
        days, and the part of the current day their meters have reported. A slot needs `min_days` x 10 known
        household-days of its own; None when no slot has them."""
        sample = self._sample
        if self._past_stack is None:
            parts: list[np.ndarray[Any, np.dtype[np.float64]]] = [np.empty((0, SLOTS))]
            for h in sample:
                past = self._past.get(h)
                if past is None:
                    own = self.history.get(h, [])
                    part = self.partial.get(h)
                    rows = ([part] if part is not None and len(own) < STREET_DAYS else []) + own[-STREET_DAYS:]
                    past = self._past[h] = np.asarray(rows, dtype=np.float64).reshape(-1, SLOTS)
                parts.append(past)
            self._past_stack = np.concatenate(parts)
        current = self._current
        if current is None:
            current, changed = {}, sample
        else:
            changed = [h for h in self._read if h in self._sampled]
        for h in changed:
            day = self.day.get(h)
            if day is not None and self.today_seen.get(h):
                newest = self.use.newest(self.meters.get(h, ()))
                upto = day if newest is None else newest
                current[h] = (day, self.known_from.get(h, NEVER), upto, self._day_row(h, day))
            else:
                current.pop(h, None)
        self._current = current
        self._read.clear()
        today = [current[h] for h in sample if h in current]
        arr = self._past_stack
        if today:
            days, firsts, newest_, day_rows = zip(*today, strict=True)
            seen = observed_rows(np.stack(day_rows), np.array(days), np.array(firsts), np.array(newest_))
            arr = np.concatenate([arr, seen])
        min_count = 10 * self.rule.min_days
        if len(arr) < min_count:
            return None
        if not (np.count_nonzero(~np.isnan(arr), axis=0) >= min_count).any():
            return None
        rule = self.rule
        return street_thresholds(arr, rule.percentile, rule.buffer, rule.late_by, min_count, self._late_into)

    def _refresh_street(self, ts: float) -> None:
        """Recompute the street's limits once per half hour of the readings' time (while a household of the
        scope is still without `min_days` of its own). Computed when a reading arrives, never by a timer, so
        the limits depend on the readings only, not on when sweeps ran."""
        slot = int(ts // SLOT_S)
        if slot <= self._street_slot:
            return
        self._street_slot = slot
        if any(len(self.history.get(h, ())) < self.rule.min_days for h in self.households):
            self._street_thr = self._street()
        else:
            self._street_thr = None

    def _thresholds(self, h: str, *, guard: bool = False) -> np.ndarray[Any, np.dtype[np.float64]] | None:
        """The household's learned limits; for a guard (never for raising) the street's until it has its own."""
        rows = self.history.get(h)
        if not rows or len(rows) < self.rule.min_days:
            if guard and self.rule.prior == "street":
                if self._street_slot < 0 and self._street_thr is None:
                    self._street_thr = self._street()  # restored from a snapshot without them
                return self._street_thr
            return None
        thr = self._thr.get(h)
        if thr is None:
            thr = slot_thresholds(
                np.asarray(rows, dtype=np.float64), self.rule.percentile, self.rule.buffer, self.rule.late_by
            )
            self._thr[h] = thr
        return thr

    def usual_until(self, h: str, last_use: float, ctx: Context) -> float | None:
        """When the inactivity since `last_use` becomes unusual for `h` (None before enough days are learned)."""
        thr = self._thresholds(h, guard=True)
        if thr is None:
            return None
        return self._first_exceedance(h, last_use, thr, ctx)

    def _first_exceedance(
        self, h: str, last_use: float, thr: np.ndarray[Any, np.dtype[np.float64]], ctx: Context
    ) -> float:
        """`first_exceedance` for `h`, kept while its last use and limits stay the same (a long night is judged
        at every reading of it; the limits change with a new day or, for the street's, a new half hour)."""
        cached = self._exceed.get(h)
        if cached is not None and cached[0] == last_use and cached[1] is thr:
            return cached[2]
        at = first_exceedance(last_use, thr, self._offset(last_use, ctx))
        self._exceed[h] = (last_use, thr, at)
        return at

    # --- learning ------------------------------------------------------------------------------------------

    def _roll(self, ctx: Context, h: str, ts: float) -> None:
        """Close the days before the one `ts` falls in: one inactivity row per day the meter reported."""
        day = self.day.get(h)
        today = self._day_start(ts, ctx)
        if day is None:
            self.day[h] = today
            return
        if today <= day:
            return
        if self.today_seen.get(h) and not self._unlearned(ctx, h, day):
            if self.rule.mode == "inactivity":
                row = self._row(h, day, float("inf"))
                known = ~np.isnan(row)
                whole = day > self.known_from.get(h, NEVER)  # the day began after the first reading
                if whole and float(row.max()) <= self.rule.learn_max:
                    rows = self.history.setdefault(h, [])
                    rows.append([float(x) for x in row])
                    del rows[: max(0, len(rows) - self.rule.history_days)]
                    self._thr.pop(h, None)
                    self._forget_past(h)
                    if len(rows) >= STREET_DAYS:
                        self.partial.pop(h, None)
                elif not whole and known.any() and float(np.nanmax(row)) <= self.rule.learn_max:
                    self.partial[h] = [float(x) for x in row]  # a first day: the street's, not its own
                    self._forget_past(h)
            else:
                daily = self.daily.setdefault(h, [])
                daily.append(self.today_m3.get(h, 0.0))
                del daily[: max(0, len(daily) - self.rule.history_days)]
        self.day[h] = today
        self.prior[h] = self.last_use.get(h, today)
        self.today_uses[h] = []
        self.today_m3[h] = 0.0
        self.today_seen[h] = False
        if self.rule.mode == "high_use":
            key = self.emitter.key(h)
            place = ctx.household_place(h)
            if place is not None and self.emitter.is_open(key):
                self.emitter.clear(ctx.out, key, today, place, {"reason": "new day"})

    def _unlearned(self, ctx: Context, h: str, day: float) -> bool:
        """Whether the day starting at `day` is not to be learned: the household was away (its `away_until` is
        later than the day's start), or a person answered an absence that the day was part of (a visit may
        have found an incident; away confirmed is a trip). Silence then says nothing about the routine."""
        if self._away_until(ctx, h) > day:
            return True
        span = self.unlearned.get(h)
        return span is not None and span[0] < day + DAY_S and day < span[1]

    def _morning(self, ctx: Context, h: str, use: float) -> None:
        """Record `use` as the day's start if it is the household's first use after the middle of its quiet
        hours (02:00 for 22:00-06:00; midnight without quiet hours) on that local day."""
        hh = ctx.registry.households.get(h)
        qh = hh.care.quiet_hours if hh is not None else None
        mid = 0.0
        if qh is not None:
            s, e = qh.start.hour * 3600 + qh.start.minute * 60, qh.end.hour * 3600 + qh.end.minute * 60
            mid = ((s + ((e - s) % DAY_S) / 2) % DAY_S) if s != e else 0.0
        day = self._day_start(use, ctx)
        if use - day < mid or self.last_use.get(h, NEVER) >= day + mid or self._morning_day.get(h) == day:
            return  # before the middle of the night, or not the first use after it
        self._morning_day[h] = day
        got = self.mornings.setdefault(h, [])
        got.append(use - day)
        del got[: max(0, len(got) - self.rule.history_days)]

    def usual_morning(self, h: str) -> float | None:
        """When the household usually starts its day: the median, in seconds after local midnight, of its first
        use after the middle of the night on the days learned (None before `min_days` of them)."""
        got = self.mornings.get(h)
        if not got or len(got) < self.rule.min_days:
            return None
        return float(np.median(got))

    def morning_after(self, h: str, at: float, ctx: Context) -> float:
        """`at` (the end of the quiet hours), or the household's usual start of that day if later."""
        m = self.usual_morning(h)
        if m is None:
            return at
        return max(at, self._day_start(at, ctx) + m)

    # --- judging -------------------------------------------------------------------------------------------

    def on_reading(self, r: Reading, prev: Mapping[str, Scalar] | None, ctx: Context) -> None:
        h = self.home.get(r.device_id)
        if h is None:
            return
        self._learn(r, h, ctx)
        if self.rule.prior == "street":
            self._read.add(h)  # its current day changed for the street's limits
            if self.rule.mode == "inactivity":
                self._refresh_street(r.ts)

    def _learn(self, r: Reading, h: str, ctx: Context) -> None:
        used = self.use.use(r)
        if used is None or r.ts + 1 < self.day.get(h, NEVER):
            return  # not a newer register reading, or older than the day being learned
        self._roll(ctx, h, r.ts)
        self.today_seen[h] = True
        start, since, m3 = used
        if m3 == RESTART:
            self.known_from.setdefault(h, since)  # the meter's first reading (a second meter of it keeps it)
            self.last_use[h] = max(self.last_use.get(h, since), since)
            return
        if m3 <= 0 or m3 < self.rule.min_use_m3:
            if m3 > 0:
                self.today_m3[h] = self.today_m3.get(h, 0.0) + m3
            self._judge(ctx, h, r.ts, r.ts)
            return
        self.today_m3[h] = self.today_m3.get(h, 0.0) + m3
        if self.rule.mode == "high_use":
            self._check_high(ctx, h, r.ts)
            return
        self._judge(ctx, h, start, start)  # the register proves no use up to the interval's start
        self.today_uses.setdefault(h, []).append(since)
        if since > self.last_use.get(h, NEVER):
            self._morning(ctx, h, since)
            self.last_use[h] = since
        key = self.emitter.key(h)
        place = ctx.household_place(h)
        if place is not None and self.emitter.is_open(key):
            self.emitter.clear(ctx.out, key, r.ts, place, {"reason": "water used", "used_at": since})

    def _check_high(self, ctx: Context, h: str, ts: float) -> None:
        daily = self.daily.get(h, [])
        if len(daily) < self.rule.min_days:
            return
        limit = high_use_limit(np.asarray(daily), self.rule.percentile, self.rule.factor, self.rule.min_high_m3)
        today = self.today_m3.get(h, 0.0)
        if today <= limit or not self.active_at(ts):
            return
        place = ctx.household_place(h)
        key = self.emitter.key(h)
        if place is not None and not self.emitter.is_open(key):
            self.emitter.raise_(ctx.out, key, ts, place, {"today_m3": today, "limit_m3": limit})

    def _judge(self, ctx: Context, h: str, proven: float, upto: float) -> None:
        """Raise when the inactivity since the last use exceeded its slot's learned limit by `proven` (readings
        show no use until then), at the limit or the end of quiet hours, if that is at or before `upto`."""
        if self.rule.mode != "inactivity" or not self.rule.raises or self.emitter.is_open(self.emitter.key(h)):
            return
        hh = ctx.registry.households.get(h)
        thr = self._thresholds(h)
        if hh is None or not hh.care.watched or thr is None:
            return
        last = self.last_use.get(h, self.birth)
        if last + self.rule.min_inactivity > proven + _EPS:
            return  # not even the minimum inactivity is proven: the limits need not be looked at
        due = max(self._first_exceedance(h, last, thr, ctx), last + self.rule.min_inactivity)
        if due > proven + _EPS:
            return
        if self._away_until(ctx, h) > due:
            return  # away: nothing to learn from silence
        at = self.when_active(ctx.quiet_end(due, hh.care.quiet_hours))
        if at > upto + _EPS:
            if self.armed.get(h) != at:
                self._set_timer(ctx, h, at)
            return
        place = ctx.household_place(h)
        if place is not None:
            self.emitter.raise_(ctx.out, self.emitter.key(h), at, place, {"last_use": last, "inactive_s": due - last})

    def _away_until(self, ctx: Context, h: str) -> float:
        """When the care profile's away of `h` ends (NEVER: not away, or a water use ended it)."""
        hh = ctx.registry.households.get(h)
        if hh is None or hh.care.away_until is None:
            return NEVER
        away = hh.care.away_until.timestamp()
        return NEVER if self.away_over.get(h) == away else away

    def end_away(self, h: str, since: float, profile_away: float | None) -> None:
        """An absence rule with `away_ends_on_use` saw water used at `since` while `h` was away: the inactivity
        counts from that use (not from the answered away's end), the days after it are learned again, and the
        care profile's away until `profile_away` (if one) no longer holds."""
        if self.last_use.get(h, NEVER) > since:
            self.last_use[h] = since
        span = self.unlearned.get(h)
        if span is not None and span[1] > since:
            self.unlearned[h] = (span[0], since)
        if profile_away is not None:
            self.away_over[h] = profile_away

    def answer(self, ctx: Context, h: str, until: float | None, at: float) -> None:
        key = self.emitter.key(h)
        place = ctx.household_place(h)
        if place is not None and self.emitter.is_open(key):
            self.emitter.clear(ctx.out, key, at, place, {"reason": "answered", "until": until})
        if self.rule.mode == "inactivity" and h in self.meters:
            end = until if until is not None else at
            self.unlearned[h] = (self.last_use.get(h, at), end)
            self.last_use[h] = max(self.last_use.get(h, at), end)

    # --- state ---------------------------------------------------------------------------------------------

    def seed(self, h: str, rows: list[list[float]], daily_m3: list[float]) -> None:
        """Start a household with history learned elsewhere (e.g. from InfluxDB): rows of 48 inactivity
        seconds per day, and daily volumes."""
        self.history[h] = [list(map(float, r)) for r in rows][-self.rule.history_days :]
        self.daily[h] = [float(x) for x in daily_m3][-self.rule.history_days :]
        self._thr.pop(h, None)
        self._forget_past(h)

    def _forget_past(self, h: str) -> None:
        self._past.pop(h, None)
        self._past_stack = None

    def dump(self) -> dict[str, Any]:
        d = super().dump()
        d.update(
            last_use=self.last_use,
            day=self.day,
            prior=self.prior,
            today_uses=self.today_uses,
            today_m3=self.today_m3,
            today_seen=self.today_seen,
            history={h: [[round(x, 1) for x in row] for row in rows] for h, rows in self.history.items()},
            daily=self.daily,
            known_from={h: (None if t == NEVER else t) for h, t in self.known_from.items()},
            mornings=self.mornings,
            morning_day=self._morning_day,
            unlearned={h: list(v) for h, v in self.unlearned.items()},
            away_over=self.away_over,
            partial={h: [None if math.isnan(x) else round(x, 1) for x in row] for h, row in self.partial.items()},
            street={
                "slot": self._street_slot,
                "limits": None if self._street_thr is None else [float(x) for x in self._street_thr],
            },
        )
        return d

    def load(self, data: dict[str, Any]) -> None:
        super().load(data)
        self.last_use = {str(k): float(v) for k, v in data.get("last_use", {}).items()}
        self.day = {str(k): float(v) for k, v in data.get("day", {}).items()}
        self.prior = {str(k): float(v) for k, v in data.get("prior", {}).items()}
        self.today_uses = {str(k): [float(x) for x in v] for k, v in data.get("today_uses", {}).items()}
        self.today_m3 = {str(k): float(v) for k, v in data.get("today_m3", {}).items()}
        self.today_seen = {str(k): bool(v) for k, v in data.get("today_seen", {}).items()}
        self.history = {str(k): [[float(x) for x in r] for r in v] for k, v in data.get("history", {}).items()}
        self.daily = {str(k): [float(x) for x in v] for k, v in data.get("daily", {}).items()}
        self.mornings = {str(k): [float(x) for x in v] for k, v in data.get("mornings", {}).items()}
        self._morning_day = {str(k): float(v) for k, v in data.get("morning_day", {}).items()}
        self.unlearned = {str(k): (float(v[0]), float(v[1])) for k, v in data.get("unlearned", {}).items()}
        self.away_over = {str(k): float(v) for k, v in data.get("away_over", {}).items()}
        self._thr = {}
        self._past = {}
        self._past_stack = None
        self._today = {}
        self._current = None
        self._exceed = {}
        if "known_from" in data:
            self.known_from = {str(k): NEVER if v is None else float(v) for k, v in data["known_from"].items()}
        else:  # a snapshot from before first readings were kept: what it had learned was taken as known
            self.known_from = {h: NEVER for h in self.day}
        self.partial = {
            str(k): [float("nan") if x is None else float(x) for x in v] for k, v in data.get("partial", {}).items()
        }
        street = data.get("street") or {}
        self._street_slot = int(street.get("slot", -1))
        limits = street.get("limits")
        self._street_thr = None if limits is None else np.asarray(limits, dtype=np.float64)
