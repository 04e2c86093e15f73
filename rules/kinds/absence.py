"""Absence rule: a watched household (lone elderly resident who consented) used less than `min_use_m3` of
water for `window`. One alert per absence, then it waits for water use or a person's answer."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from devices.model import Household
from devices.reading import Reading, Scalar
from rules.alert import AWAY_ENDED, Alert, AlertAction, Severity
from rules.config import AbsenceRule
from rules.emit import Emitter
from rules.kinds.base import NEVER, Context
from rules.kinds.baseline import BaselineEvaluator
from rules.kinds.watched import WatchedMeters
from rules.kinds.water import RESTART
from rules.schedule import Schedule, parse_span, quiet_start

_EPS = 1e-6
QUIET_LEAD_S = 3600.0
"""`before_quiet`: how long before the quiet hours an absence is judged, so that an hourly meter's last reading
before them can prove it."""


class AbsenceEvaluator(WatchedMeters):
    """`mark[h]`: when the household last used water (the start of the interval in which the use that reached
    `min_use_m3` happened). Small amounts are accumulated over one window, so a dripping tap (< min_use per
    window) does not hide an absence. The absence is due at `mark + window`, moved later by an away period or
    an "away" answer (the clock restarts when it ends). It is proven only by a meter reading at or after that
    time (a silent meter or a daily upload proves nothing until its data arrives); the alert is then dated when
    it fell due, or at the end of the household's quiet hours if it fell due inside them."""

    kind = "absence"
    rule: AbsenceRule

    def __init__(self, rule: AbsenceRule, schedule: Schedule | None) -> None:
        super().__init__(rule, Emitter(rule.id, rule.title.text(), rule.severity, rule.cooldown, True), schedule)
        self.window = rule.window
        self.mark: dict[str, float] = {}
        self.acc: dict[str, list[tuple[float, float]]] = {}
        self.answered: dict[str, float] = {}
        self.answered_at: dict[str, float] = {}  # when each "away confirmed" was given (event time)
        self.away_over: dict[str, float] = {}  # `away_ends_on_use`: the care profile's away a use ended
        # `away_ends_on_use`: the care profile's away (its date) and the first reading's time it was seen at
        self.away_seen: dict[str, tuple[float, float]] = {}
        self.all_well_day: dict[str, str] = {}
        self.all_well = parse_span(rule.all_well.hours) if rule.all_well is not None else None
        self.routine: BaselineEvaluator | None = None  # linked by the engine when `rule.routine` names one

    def start(self, ctx: Context, birth: float) -> None:
        self._start_clocks(ctx, birth, self.mark)

    def clocks(self) -> dict[str, float]:
        return self.mark

    def _arm(self, ctx: Context, h: str, due: float) -> None:
        cur = self.armed.get(h)
        if cur is not None and cur <= due + _EPS:
            return  # the earlier timer re-arms itself when it fires
        self._set_timer(ctx, h, due)

    def _clock_start(self, ctx: Context, h: str, hh: Household | None = None) -> float:
        """When the absence clock of `h` started: its last use, moved later by an away period or an answer.
        `hh`: the household, when the caller has it already."""
        start = self.mark.get(h, self.birth)
        if hh is None:
            hh = ctx.registry.households.get(h)
        if self.rule.away and hh is not None and hh.care.away_until is not None:
            away = hh.care.away_until.timestamp()
            if away > start and self.away_over.get(h) != away:
                start = away
        if self.answered:
            ans = self.answered.get(h)
            if ans is not None and ans > start:
                start = ans
        return start

    def _usual_until(self, ctx: Context, h: str, start: float, upto: float) -> float | None:
        """When the routine finds the inactivity since `start` unusual, judged as of `upto` (None: no routine,
        or not learned)."""
        if self.routine is None:
            return None
        # measured as the routine was learned: from the baseline's own last use (it counts smaller uses), but
        # not one at or after `upto`: a reading that shows use judges the absence up to that use's interval,
        # and the routine has seen the use already
        last = self.routine.last_use.get(h, start)
        return self.routine.usual_until(h, max(start, last) if last < upto else start, ctx)

    def _usual(self, ctx: Context, h: str, start: float, due: float, upto: float) -> float:
        """`due`, moved later to when the resident's routine makes the inactivity unusual, but at most to
        `max_window` after `start`. Only ever later: so `_judge` asks only once the readings prove `due` itself
        (the routine's arithmetic is ~20 µs)."""
        usual = self._usual_until(ctx, h, start, upto)
        if usual is not None and usual > due:
            cap = self.rule.max_window
            return usual if cap is None else max(due, min(usual, start + cap))  # a usual long night: wait
        return due

    def _before_quiet(self, ctx: Context, h: str, start: float, hh: Household, upto: float) -> float | None:
        """`before_quiet`: when the absence since `start` would fall due inside the quiet hours (held by the
        routine or not), the hour before they begin, if it has lasted `before_quiet` by then and the routine
        does not hold it then, or holding it to the quiet hours' end would pass `max_window`. None: not moved."""
        bq = self.rule.before_quiet
        qh = hh.care.quiet_hours
        if bq is None or qh is None:
            return None
        due = self._usual(ctx, h, start, start + self.window, upto)
        q0 = quiet_start(due, qh, ctx.tz)
        if q0 is None:
            return None  # due outside the quiet hours
        early = q0 - QUIET_LEAD_S
        if early < start + bq - _EPS or early >= due:
            return None
        usual = self._usual_until(ctx, h, start, upto)
        if usual is not None and usual > early + _EPS:
            cap = self.rule.max_window
            if cap is None or start + cap >= ctx.quiet_end(due, qh) - _EPS:
                return None  # usual then (out all day), and the quiet hours' end is within `max_window`
        return early

    def _release(self, ctx: Context, h: str, due: float, upto: float, hh: Household, start: float) -> float:
        """When an absence due at `due` may be raised, judged at `upto`: not inside the household's quiet hours,
        neither the moment it fell due nor the moment the readings prove it (a meter silent since the evening
        and heard at 23:00); then at their end, or with `quiet_until: morning` when the household usually starts
        its day, if that is later, but not past `max_window` after `start` (the absence's start) unless the
        quiet hours end later."""
        qh = hh.care.quiet_hours
        at = ctx.quiet_end(due, qh)
        held = self.armed.get(h)
        if held is not None and due < held and at < held:
            return held  # already held back to then (proven during the quiet hours): same alert, same time
        if at <= upto:
            now_end = ctx.quiet_end(upto, qh)
            if now_end > upto:
                at = now_end  # proven only now, inside the quiet hours
        if at > due and self.rule.quiet_until == "morning" and self.routine is not None:
            morning = self.routine.morning_after(h, at, ctx)
            cap = self.rule.max_window
            at = morning if cap is None else max(at, min(morning, start + cap))
        return at

    def on_reading(self, r: Reading, prev: Mapping[str, Scalar] | None, ctx: Context) -> None:
        h = self.home.get(r.device_id)
        if h is None:
            return
        used = self.use.use(r)
        if used is None:
            return
        start, since, m3 = used
        if self.rule.away_ends_on_use:
            self._see_away(ctx, h, r.ts)
        if m3 == RESTART:
            self.mark[h] = max(self.mark.get(h, since), since)
            self.acc.pop(h, None)
            return
        if m3 > 0:
            acc = self.acc.setdefault(h, [])
            acc.append((since, m3))
            # uses within one window of this one add up; pruned by their dates, not the reading's time: a
            # meter silent for longer than the window dates its catch-up use back before `r.ts - window`
            while acc and acc[0][0] < since - self.window:
                acc.pop(0)
            burst = self.rule.min_burst_m3
            if (burst is not None and m3 >= burst - 1e-12) or sum(x for _, x in acc) >= self.rule.min_use_m3 - 1e-12:
                acc.clear()
                # the register proves no use up to the interval's start: an absence due by then still counts
                self._judge(ctx, h, start, start)
                self._used(ctx, h, since, r.ts, r.device_id)
                return
        self._judge(ctx, h, r.ts, r.ts)

    def _used(self, ctx: Context, h: str, since: float, seen_at: float, device_id: str) -> None:
        """Water used from `since` on, shown by `device_id`'s reading at `seen_at`."""
        if since > self.mark.get(h, NEVER):
            self.mark[h] = since
        ans = self.answered.get(h)
        ended: float | None = None  # the end of an away this use cut short
        # only a use after the answer ends it: the one in the hour (or the day, on a daily meter) the away was
        # confirmed in may be the resident's before leaving
        after = since >= self.answered_at.get(h, NEVER)
        if ans is not None and (ans <= since or (self.rule.away_ends_on_use and after)):
            del self.answered[h]  # the answered away is over, or (`away_ends_on_use`) the use ended it
            self.answered_at.pop(h, None)
            if ans > since:
                ended = ans
        profile: float | None = None  # the end of the care profile's away this use cut short
        if self.rule.away_ends_on_use:
            profile = self._end_away(h, since)
        key = self.emitter.key(h)
        place = ctx.household_place(h)
        if (ended is not None or profile is not None) and place is not None:
            self._away_ended(ctx, h, since, (seen_at, device_id), ended, profile, place)
        if place is not None and self.emitter.is_open(key):
            self.emitter.clear(ctx.out, key, seen_at, place, {"reason": "water used", "used_at": since})
        if self.all_well is not None and place is not None:
            self._all_well(ctx, h, since, place)

    def _end_away(self, h: str, since: float) -> float | None:
        """`away_ends_on_use`: a use at `since` ends the household's away (the care profile's, until it is set
        anew) and the routine's hold of it. Returns the end of the care profile's away if this use ended it.
        The away in force is `away_seen`'s: `_see_away` noted it from the same reading."""
        ended = None
        away, seen_at = self.away_seen.get(h, (None, None))
        if away is not None and seen_at is not None and away > since >= seen_at:
            if self.away_over.get(h) != away:
                ended = away
            self.away_over[h] = away
        if self.routine is not None:
            self.routine.end_away(h, since, self.away_over.get(h))
        return ended

    def _see_away(self, ctx: Context, h: str, ts: float) -> None:
        """Note when a reading first found the care profile's away (the registry's date) in force: only a use
        from then on ends it, not one from before it was imported (a daily meter's day, the import's hour)."""
        hh = ctx.registry.households.get(h)
        if hh is None or hh.care.away_until is None:
            self.away_seen.pop(h, None)
            return
        away = hh.care.away_until.timestamp()
        seen = self.away_seen.get(h)
        if seen is None or seen[0] != away:
            self.away_seen[h] = (away, ts)

    def _away_ended(
        self,
        ctx: Context,
        h: str,
        since: float,
        reading: tuple[float, str],
        answered: float | None,
        profile: float | None,
        place: Any,
    ) -> None:
        """Tell the alerts side that the use at `since`, shown by `reading` (its time and meter), ended the
        "away confirmed" until `answered` and/or the care profile's (the registry's) away until `profile`
        (`rules.alert.AWAY_ENDED`): its records of them (what the board shows) say so too."""
        read_at, device_id = reading
        details: dict[str, Any] = {"signal": AWAY_ENDED, "used_at": since, "read_at": read_at}
        details["was_until"] = answered if answered is not None else profile
        if profile is not None:
            details["registry_until"] = profile
        ctx.out.append(
            Alert(
                action=AlertAction.CLEAR,
                rule_id=self.id,
                dedup_key=f"{self.id}:{h}:{AWAY_ENDED}",
                severity=Severity.INFO,
                ts=since,
                microgrid_id=place.microgrid_id,
                title="外出提前结束 away ended by water use",
                device_id=device_id,
                household_id=h,
                building_id=place.building_id,
                community_id=place.community_id,
                details=details,
            )
        )

    def _all_well(self, ctx: Context, h: str, ts: float, place: Any) -> None:
        assert self.all_well is not None
        dt = datetime.fromtimestamp(ts, ctx.tz)
        sod = dt.hour * 3600 + dt.minute * 60 + dt.second
        s, e = self.all_well
        inside = s <= sod < e if s < e else (sod >= s or sod < e)
        day = dt.date().isoformat()
        if not inside or self.all_well_day.get(h) == day:
            return
        self.all_well_day[h] = day
        key = f"{self.id}:{h}:all_well:{day}"
        for action in (AlertAction.RAISE, AlertAction.CLEAR):
            ctx.out.append(
                Alert(
                    action=action,
                    rule_id=self.id,
                    dedup_key=key,
                    severity=Severity.INFO,
                    ts=ts,
                    microgrid_id=place.microgrid_id,
                    title="平安 all well",
                    titles={"zh-CN": "平安", "en": "All well"},
                    household_id=h,
                    building_id=place.building_id,
                    community_id=place.community_id,
                    details={"signal": "all_well"},
                )
            )

    def _judge(self, ctx: Context, h: str, proven: float, upto: float) -> None:
        """Raise the absence alert of `h` if readings prove no use until it fell due (`proven`: time up to which
        the register shows no use) and its (quiet-hours deferred) time is at or before `upto`; when only the
        deferral is missing, arm a timer for it."""
        hh = ctx.registry.households.get(h)
        if hh is None or not hh.care.watched or h not in self.meters:
            return
        em = self.emitter
        key = f"{em.rule_id}:{h}"  # em.key(h)
        if key in em.open:
            return  # one alert per absence: wait for use or an answer
        start = self._clock_start(ctx, h, hh)
        due = start + self.window
        early = None
        if self.rule.before_quiet is not None and self.rule.quiet_hours and proven >= start + self.rule.before_quiet:
            early = self._before_quiet(ctx, h, start, hh, upto)
        if early is not None:
            due = early
        elif proven < due - _EPS:
            return  # not proven yet: the meter's next reading judges again
        elif self.routine is not None:
            due = self._usual(ctx, h, start, due, upto)
        if proven < due - _EPS:
            return  # not proven yet, or a usual long night: not unusual yet
        at = due
        if self.rule.quiet_hours:
            at = self._release(ctx, h, due, upto, hh, start)
        if self.schedule is not None:
            at = self.when_active(at)
        if at > upto + _EPS:
            self._arm(ctx, h, at)
            return
        place = ctx.household_place(h)
        if place is None:
            return
        details = {"last_use": self.mark.get(h), "window_s": self.window, "min_use_m3": self.rule.min_use_m3}
        if at > due + _EPS:
            details["deferred_from"] = due
        if early is not None and at <= early + _EPS:
            details["before_quiet"] = True
        em.raise_(ctx.out, key, at, place, details)

    def answer(self, ctx: Context, h: str, until: float | None, at: float) -> None:
        """A person answered the absence alert: away until `until` (the clock restarts then), or visited (None:
        the clock restarts at `at`)."""
        if h not in self.meters:
            return
        if until is not None:
            self.answered[h] = until
            self.answered_at[h] = at
        else:
            self.mark[h] = max(self.mark.get(h, at), at)
            self.answered.pop(h, None)
            self.answered_at.pop(h, None)
        key = self.emitter.key(h)
        place = ctx.household_place(h)
        if place is not None and self.emitter.is_open(key):
            reason = "away confirmed" if until is not None else "visited"
            self.emitter.clear(ctx.out, key, at, place, {"reason": reason, "until": until})

    def dump(self) -> dict[str, Any]:
        d = super().dump()
        d.update(
            mark=self.mark,
            acc={h: [list(x) for x in v] for h, v in self.acc.items() if v},
            answered=self.answered,
            answered_at=self.answered_at,
            away_over=self.away_over,
            away_seen={h: list(v) for h, v in self.away_seen.items()},
            all_well_day=self.all_well_day,
            birth=self.birth if self.birth > NEVER else None,
        )
        return d

    def load(self, data: dict[str, Any]) -> None:
        super().load(data)
        self.mark = {str(k): float(v) for k, v in data.get("mark", {}).items()}
        self.acc = {str(k): [(float(a), float(b)) for a, b in v] for k, v in data.get("acc", {}).items()}
        self.answered = {str(k): float(v) for k, v in data.get("answered", {}).items()}
        self.answered_at = {str(k): float(v) for k, v in data.get("answered_at", {}).items()}
        self.away_over = {str(k): float(v) for k, v in data.get("away_over", {}).items()}
        self.away_seen = {str(k): (float(a), float(b)) for k, (a, b) in data.get("away_seen", {}).items()}
        self.all_well_day = {str(k): str(v) for k, v in data.get("all_well_day", {}).items()}
