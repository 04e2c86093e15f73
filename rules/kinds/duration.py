"""Duration rules: a state that starts with one kind of message and must end (with another) within a time.
Door held open, water flowing for hours, a smoke alarm nobody cleared."""

from __future__ import annotations

import bisect
from collections.abc import Mapping
from typing import Any

from devices.reading import Reading, Scalar
from rules.conditions import any_match, channels_of, compile_any, events_of_conditions
from rules.config import DurationRule
from rules.emit import Emitter, place_of_reading
from rules.kinds.base import Context, Evaluator
from rules.kinds.match import reading_details
from rules.schedule import Schedule
from rules.scope import devices_in

_EPS = 1e-6
_KEEP_STOPS = 16


class DurationEvaluator(Evaluator):
    """`active[key]` is when the state began (event time). A stop that arrives after the state has lasted
    `for`, before the timer fired (the watermark lags event time by the allowed lateness), still raises, dated
    when the limit was passed, then clears: the answer does not depend on when sweeps happen to run."""

    kind = "duration"
    rule: DurationRule

    def __init__(self, rule: DurationRule, schedule: Schedule | None) -> None:
        super().__init__(rule, Emitter(rule.id, rule.title, rule.severity, rule.cooldown, True), schedule)
        self.start_c = compile_any(rule.start)
        self.stop_c = compile_any(rule.stop)
        self.confirm_c = compile_any(rule.confirm)
        self.channels = channels_of([*rule.start, *rule.stop, *rule.confirm])
        self.events = events_of_conditions([*rule.start, *rule.stop, *rule.confirm])
        self.conditions = [*rule.start, *rule.stop, *rule.confirm]
        self.limit = rule.for_
        self.active: dict[str, float] = {}
        self.stops: dict[str, list[float]] = {}  # recent stop times per key, for starts that arrive late

    def rescope(self, ctx: Context) -> None:
        self.classes = self.rule.classes()
        self.devices = devices_in(self.rule.scope, self.classes, ctx.registry)

    def _device(self, key: str) -> str:
        return key[len(self.id) + 1 :]

    def on_reading(self, r: Reading, prev: Mapping[str, Scalar] | None, ctx: Context) -> None:
        if self.devices is not None and r.device_id not in self.devices:
            return
        key = self.emitter.key(r.device_id)
        began = self.active.get(key)
        if began is None:
            # not running: only a start matters (a message may look like both, e.g. a first low-flow reading)
            if any_match(self.start_c, r, prev):
                self._start(r, key, ctx)
            elif any_match(self.stop_c, r, prev):
                self._stopped(key, r.ts)
            return
        if began > r.ts:
            return
        if not any_match(self.stop_c, r, prev):
            limit_at = began + self.limit
            confirmed = self.confirm_c and r.ts >= limit_at and any_match(self.confirm_c, r, prev)
            if confirmed and not self.emitter.is_open(key):
                at = self.when_active(limit_at)
                if at <= r.ts:
                    details = {"since": began, "for_s": self.limit, "confirmed_at": r.ts}
                    self.emitter.raise_(ctx.out, key, at, place_of_reading(r), details)
            return
        self._stopped(key, r.ts)
        del self.active[key]
        details = reading_details(r, ctx)
        details["since"] = began
        details["lasted_s"] = r.ts - began
        if self.emitter.is_open(key):
            self.emitter.clear(ctx.out, key, r.ts, place_of_reading(r), details)
        elif began + self.limit <= r.ts and not self.confirm_c:
            at = self.when_active(began + self.limit)
            if at <= r.ts:
                self.emitter.raise_(ctx.out, key, at, place_of_reading(r), {"since": began, "for_s": self.limit})
                self.emitter.clear(ctx.out, key, r.ts, place_of_reading(r), details)

    def _stopped(self, key: str, ts: float) -> None:
        stops = self.stops.setdefault(key, [])
        bisect.insort(stops, ts)
        del stops[: max(0, len(stops) - _KEEP_STOPS)]

    def _late_start(self, r: Reading, key: str, began: float, ctx: Context) -> None:
        """A start older than a stop already seen: the state ran from it to the next stop after it."""
        stops = self.stops.get(key, [])
        i = bisect.bisect_right(stops, r.ts)
        if i >= len(stops) or self.confirm_c or self.emitter.is_open(key):
            return
        ended = stops[i]
        at = self.when_active(began + self.limit)
        if at <= ended:
            details = {"since": began, "for_s": self.limit, "late": True}
            self.emitter.raise_(ctx.out, key, at, place_of_reading(r), details)
            self.emitter.clear(ctx.out, key, ended, place_of_reading(r), {"since": began, "lasted_s": ended - began})

    def _start(self, r: Reading, key: str, ctx: Context) -> None:
        stops = self.stops.get(key)
        if stops and r.ts <= stops[-1]:
            self._late_start(r, key, r.ts, ctx)
            return
        began = r.ts
        off_field = self.rule.start_offset_field
        if off_field is not None:
            off = r.fields.get(off_field)
            if isinstance(off, int | float) and not isinstance(off, bool) and off > 0:
                began -= float(off)
        if self.rule.backdate == "previous_reading":
            before = ctx.prev_ts.get(r.device_id)
            dev = ctx.registry.devices.get(r.device_id)
            # the state began somewhere after the previous message, but never more than one interval back
            floor = r.ts - (dev.expected_interval_s if dev is not None else self.limit)
            if before is not None and floor <= before < began:
                began = before
        self.active[key] = began
        ctx.timer(began + self.limit, self.id, key)

    def on_timer(self, key: str, due: float, ctx: Context) -> None:
        if self.confirm_c:
            return  # only a confirming message raises
        began = self.active.get(key)
        if began is None or abs(began + self.limit - due) > _EPS or self.emitter.is_open(key):
            return
        at = self.when_active(due)
        if at > due + _EPS:
            self.active[key] = at - self.limit  # deferred by the schedule: fire again then
            ctx.timer(at, self.id, key)
            return
        place = ctx.device_place(self._device(key))
        if place is not None:
            self.emitter.raise_(ctx.out, key, due, place, {"since": began, "for_s": self.limit})

    def start(self, ctx: Context, birth: float) -> None:
        for key, began in self.active.items():
            ctx.timer(began + self.limit, self.id, key)

    def prune(self, now: float) -> None:
        super().prune(now)
        stale = [k for k, t in self.stops.items() if (not t or t[-1] < now - 86_400) and k not in self.active]
        for k in stale:
            del self.stops[k]

    def dump(self) -> dict[str, Any]:
        d = super().dump()
        d["active"] = self.active
        d["stops"] = self.stops
        return d

    def load(self, data: dict[str, Any]) -> None:
        super().load(data)
        self.active = {str(k): float(v) for k, v in data.get("active", {}).items()}
        self.stops = {str(k): sorted(float(x) for x in v) for k, v in data.get("stops", {}).items()}
