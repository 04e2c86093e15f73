"""Duration rules: a state that starts with one kind of message and must end (with another) within a time.
Door held open, water flowing for hours, a smoke alarm nobody cleared, a fire lane blocked (per object: the
lane stays blocked while any vehicle that stopped in it is still there)."""

from __future__ import annotations

import bisect
from collections.abc import Mapping
from typing import Any

from devices.reading import Reading, Scalar
from rules.conditions import NUMBER, any_match, channels_of, compile_any, events_of_conditions
from rules.config import DurationRule
from rules.emit import Emitter, place_of_reading
from rules.kinds.base import Context, Evaluator
from rules.kinds.match import reading_details
from rules.schedule import Schedule
from rules.scope import devices_in

_EPS = 1e-6
_KEEP_STOPS = 16
_KEEP_OBJECTS = 64  # `per` rules: objects tracked per device; beyond, the one seen longest ago is forgotten
_KEEP_OBJECT_STOPS = 4  # `per` rules: stops remembered per object, for starts that arrive late
_UNNAMED = ""  # `per` rules: the object of messages without the field (and of a state restored from before `per`)


class DurationEvaluator(Evaluator):
    """`active[key]` is when the state began (event time). A stop that arrives after the state has lasted
    `for`, before the timer fired (the watermark lags event time by the allowed lateness), still raises, dated
    when the limit was passed, then clears: the answer does not depend on when sweeps happen to run. On a live
    stream the timer may fire before a stop dated within the limit arrives: that stop clears, flagged `late`.

    With `per`, `objects[key]` maps each object still present to `[start, last seen]`, and `active[key]` is
    when the device's state began: when the first of the objects present without interruption since arrived.
    The state (and its alert) ends when the last object stops or is forgotten (`forget_after` after it was
    last seen, checked by timers); a stop without the field ends every object, and a stop of an object the
    rule does not know ends the unnamed one (the object of starts without the field)."""

    kind = "duration"
    rule: DurationRule

    def __init__(self, rule: DurationRule, schedule: Schedule | None) -> None:
        super().__init__(rule, Emitter(rule.id, rule.title.text(), rule.severity, rule.cooldown, True), schedule)
        self.start_c = compile_any(rule.start)
        self.stop_c = compile_any(rule.stop)
        self.confirm_c = compile_any(rule.confirm)
        self.channels = channels_of([*rule.start, *rule.stop, *rule.confirm])
        self.events = events_of_conditions([*rule.start, *rule.stop, *rule.confirm])
        self.conditions = [*rule.start, *rule.stop, *rule.confirm]
        self.limit = rule.for_
        self.active: dict[str, float] = {}
        self.stops: dict[str, list[float]] = {}  # recent stop times per key, for starts that arrive late
        self.per = rule.per
        self.forget = rule.forget_s()
        self.objects: dict[str, dict[str, list[float]]] = {}  # per: key -> object -> [start, last seen]
        self.object_stops: dict[str, dict[str, list[float]]] = {}  # per: key -> object -> recent stop times
        self.expiry: dict[str, float] = {}  # per: key -> due of its pending expiry timer (not persisted)

    def rescope(self, ctx: Context) -> None:
        self.classes = self.rule.classes()
        self.devices = devices_in(self.rule.scope, self.classes, ctx.registry)

    def _device(self, key: str) -> str:
        return key[len(self.id) + 1 :]

    def on_reading(self, r: Reading, prev: Mapping[str, Scalar] | None, ctx: Context) -> None:
        if self.devices is not None and r.device_id not in self.devices:
            return
        key = self.emitter.key(r.device_id)
        if self.per is not None:
            self._on_object_reading(r, prev, key, ctx)
            return
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
            self._confirm(r, prev, key, began, ctx)
            return
        self._stopped(key, r.ts)
        del self.active[key]
        self._ended(r, key, began, ctx)

    def _confirm(self, r: Reading, prev: Mapping[str, Scalar] | None, key: str, began: float, ctx: Context) -> None:
        """A message of a running state that is not a stop: with `confirm`, it may prove the limit passed."""
        limit_at = began + self.limit
        confirmed = self.confirm_c and r.ts >= limit_at and any_match(self.confirm_c, r, prev)
        if confirmed and not self.emitter.is_open(key):
            at = self.when_active(limit_at)
            if at <= r.ts:
                details: dict[str, Any] = {"since": began, "for_s": self.limit, "confirmed_at": r.ts}
                if self.per is not None:
                    details["objects"] = sorted(self.objects.get(key, ()))
                self.emitter.raise_(ctx.out, key, at, place_of_reading(r), details)

    def _ended(self, r: Reading, key: str, began: float, ctx: Context) -> None:
        """The state that began at `began` ended with message `r`: clear, or raise and clear at once when the
        limit passed before the timer fired (the watermark lags event time)."""
        details = reading_details(r, ctx)
        details["since"] = began
        details["lasted_s"] = r.ts - began
        if self.emitter.is_open(key):
            if r.ts < began + self.limit and ctx.live is not None:
                details["late"] = True  # raised live before this stop, dated within the limit, arrived
            self.emitter.clear(ctx.out, key, r.ts, place_of_reading(r), details)
        elif began + self.limit <= r.ts and not self.confirm_c:
            at = self.when_active(began + self.limit)
            if at <= r.ts:
                self.emitter.raise_(ctx.out, key, at, place_of_reading(r), {"since": began, "for_s": self.limit})
                self.emitter.clear(ctx.out, key, r.ts, place_of_reading(r), details)

    # --- per object -------------------------------------------------------------------------------------------

    def _on_object_reading(self, r: Reading, prev: Mapping[str, Scalar] | None, key: str, ctx: Context) -> None:
        assert self.per is not None
        value = r.fields.get(self.per)
        obj = _UNNAMED if value is None else str(value)
        objs = self.objects.get(key)
        here = objs.get(obj) if objs else None
        began = self.active.get(key)
        if here is None:
            # an object not present: only its start matters, or a stop that ends the unnamed object or all
            if any_match(self.start_c, r, prev):
                self._object_start(r, key, obj, ctx)
            elif any_match(self.stop_c, r, prev):
                unnamed = objs.get(_UNNAMED) if objs else None
                if objs and value is None:
                    self._object_stop(r, key, None, ctx)
                elif unnamed is not None and unnamed[0] <= r.ts:
                    self._object_stop(r, key, _UNNAMED, ctx)
                else:
                    self._object_stopped(key, obj, r.ts)
            elif began is not None and began <= r.ts:
                self._confirm(r, prev, key, began, ctx)
            return
        if r.ts < here[0]:
            return  # older than this object's start: an earlier passage of the same id
        if any_match(self.stop_c, r, prev):
            self._object_stop(r, key, None if value is None else obj, ctx)
            return
        if any_match(self.start_c, r, prev) and r.ts > here[1]:
            here[1] = r.ts  # seen again (a pulse, a repeated start): still there
        if began is not None and began <= r.ts:
            self._confirm(r, prev, key, began, ctx)

    def _object_start(self, r: Reading, key: str, obj: str, ctx: Context) -> None:
        stops = self.object_stops.get(key, {}).get(obj)
        if stops and r.ts <= stops[-1]:
            self._late_object_start(r, key, stops, ctx)
            return
        began = self._began(r, ctx)
        objs = self.objects.setdefault(key, {})
        objs[obj] = [began, r.ts]
        if len(objs) > _KEEP_OBJECTS:
            del objs[min((o for o in objs if o != obj), key=lambda o: objs[o][1])]
        current = self.active.get(key)
        if current is None or (began < current and not self.emitter.is_open(key)):
            # a new state, or an object that (by its late message) was there before the state's start
            self.active[key] = began
            ctx.timer(began + self.limit, self.id, key, self._device(key))
        self._arm_expiry(key, r.ts + self.forget, ctx)

    def _late_object_start(self, r: Reading, key: str, stops: list[float], ctx: Context) -> None:
        """A start older than a stop already seen of the same object: it was there from `r.ts` to that stop."""
        ended = stops[bisect.bisect_right(stops, r.ts)] if r.ts < stops[-1] else stops[-1]
        current = self.active.get(key)
        open_ = self.emitter.is_open(key)
        if current is not None and ended >= current:
            # it was there until the current state began (or later): the state began with it
            if r.ts < current and not open_:
                self.active[key] = r.ts
                ctx.timer(r.ts + self.limit, self.id, key, self._device(key))
            return
        if self.confirm_c or open_:
            return
        at = self.when_active(r.ts + self.limit)
        if at <= ended:
            details = {"since": r.ts, "for_s": self.limit, "late": True}
            self.emitter.raise_(ctx.out, key, at, place_of_reading(r), details)
            self.emitter.clear(ctx.out, key, ended, place_of_reading(r), {"since": r.ts, "lasted_s": ended - r.ts})

    def _object_stop(self, r: Reading, key: str, obj: str | None, ctx: Context) -> None:
        """Object `obj` (every object when None) stopped with message `r`; the state ends with the last one."""
        objs = self.objects.get(key, {})
        gone = [o for o, (start, _) in objs.items() if start <= r.ts] if obj is None else [obj]
        if not gone:
            self._object_stopped(key, _UNNAMED, r.ts)  # every object began after this stop
            return
        for o in gone:
            del objs[o]
            self._object_stopped(key, o, r.ts)
        began = self.active.get(key)
        if objs:
            first = min(start for start, _ in objs.values())
            if began is None or first <= r.ts or began > r.ts:
                return  # the others are still there
            # every object left began after this stop (messages out of order): the device was free in between
            self._ended(r, key, began, ctx)
            self.active[key] = first
            ctx.timer(first + self.limit, self.id, key, self._device(key))
            return
        self.objects.pop(key, None)
        if began is not None:
            del self.active[key]
            self._ended(r, key, began, ctx)

    def _object_stopped(self, key: str, obj: str, ts: float) -> None:
        per_obj = self.object_stops.setdefault(key, {})
        stops = per_obj.setdefault(obj, [])
        bisect.insort(stops, ts)
        del stops[: max(0, len(stops) - _KEEP_OBJECT_STOPS)]
        if len(per_obj) > _KEEP_OBJECTS:
            del per_obj[min((o for o in per_obj if o != obj), key=lambda o: per_obj[o][-1])]

    def _arm_expiry(self, key: str, due: float, ctx: Context) -> None:
        """One pending expiry timer per key, at the earliest moment an object of it may be forgotten."""
        pending = self.expiry.get(key)
        if pending is not None and pending <= due:
            return
        self.expiry[key] = due
        ctx.timer(due, self.id, key, self._device(key))

    def _expire(self, key: str, due: float, ctx: Context) -> None:
        """Forget the objects not seen for `forget_after`: their stop was lost. The last one ends the state."""
        if self.expiry.get(key, float("inf")) <= due + _EPS:
            del self.expiry[key]
        objs = self.objects.get(key)
        if not objs:
            return
        gone = sorted(o for o, (_, seen) in objs.items() if seen + self.forget <= due + _EPS)
        for o in gone:
            del objs[o]
        if objs:
            self._arm_expiry(key, min(seen for _, seen in objs.values()) + self.forget, ctx)
            return
        del self.objects[key]
        began = self.active.pop(key, None)
        place = ctx.device_place(self._device(key))
        if began is not None and place is not None:
            details = {"since": began, "lasted_s": due - began, "forgotten": gone, "forget_after_s": self.forget}
            self.emitter.clear(ctx.out, key, due, place, details)

    def _stopped(self, key: str, ts: float) -> None:
        stops = self.stops.get(key)
        if stops is None:
            stops = self.stops[key] = []
        bisect.insort(stops, ts)
        if len(stops) > _KEEP_STOPS:
            del stops[: len(stops) - _KEEP_STOPS]

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
        began = self._began(r, ctx)
        self.active[key] = began
        ctx.timer(began + self.limit, self.id, key, self._device(key))

    def _began(self, r: Reading, ctx: Context) -> float:
        """When the state of start message `r` began (`start_offset_field`, `backdate`)."""
        began = r.ts
        off_field = self.rule.start_offset_field
        if off_field is not None:
            off = r.fields.get(off_field)
            if isinstance(off, NUMBER) and not isinstance(off, bool) and off > 0:
                began -= float(off)
        if self.rule.backdate == "previous_reading":
            before = ctx.prev_ts.get(r.device_id)
            dev = ctx.registry.devices.get(r.device_id)
            # the state began somewhere after the previous message, but never more than one interval back
            floor = r.ts - (dev.expected_interval_s if dev is not None else self.limit)
            if before is not None and floor <= before < began:
                began = before
        return began

    def on_timer(self, key: str, due: float, ctx: Context) -> None:
        self._limit_passed(key, due, ctx)
        if self.per is not None:
            self._expire(key, due, ctx)

    def _limit_passed(self, key: str, due: float, ctx: Context) -> None:
        if self.confirm_c:
            return  # only a confirming message raises
        began = self.active.get(key)
        if began is None or abs(began + self.limit - due) > _EPS or self.emitter.is_open(key):
            return
        at = self.when_active(due)
        if at > due + _EPS:
            self.active[key] = at - self.limit  # deferred by the schedule: fire again then
            ctx.timer(at, self.id, key, self._device(key))
            return
        place = ctx.device_place(self._device(key))
        if place is not None:
            details: dict[str, Any] = {"since": began, "for_s": self.limit}
            if self.per is not None:
                details["objects"] = sorted(self.objects.get(key, ()))
            self.emitter.raise_(ctx.out, key, due, place, details)

    def start(self, ctx: Context, birth: float) -> None:
        for key, began in self.active.items():
            ctx.timer(began + self.limit, self.id, key, self._device(key))
        for key, objs in self.objects.items():
            if objs:
                self._arm_expiry(key, min(seen for _, seen in objs.values()) + self.forget, ctx)

    def reset_timers(self) -> None:
        self.expiry = {}

    def prune(self, now: float) -> None:
        super().prune(now)
        stale = [k for k, t in self.stops.items() if (not t or t[-1] < now - 86_400) and k not in self.active]
        for k in stale:
            del self.stops[k]
        for k, per_obj in list(self.object_stops.items()):
            for o in [o for o, t in per_obj.items() if not t or t[-1] < now - 86_400]:
                del per_obj[o]
            if not per_obj:
                del self.object_stops[k]

    def dump(self) -> dict[str, Any]:
        d = super().dump()
        d["active"] = self.active
        d["stops"] = self.stops
        if self.per is not None:
            d["objects"] = self.objects
            d["object_stops"] = self.object_stops
        return d

    def load(self, data: dict[str, Any]) -> None:
        """Snapshots from before `per` existed (or of the rule without it) load: a running state becomes the
        unnamed object, seen when it began."""
        super().load(data)
        self.active = {str(k): float(v) for k, v in data.get("active", {}).items()}
        self.stops = {str(k): sorted(float(x) for x in v) for k, v in data.get("stops", {}).items()}
        self.objects = {}
        self.object_stops = {}
        if self.per is None:
            return
        for k, objs in data.get("objects", {}).items():
            if str(k) in self.active and objs:
                self.objects[str(k)] = {str(o): [float(v[0]), float(v[1])] for o, v in objs.items()}
        for k, began in self.active.items():
            self.objects.setdefault(k, {_UNNAMED: [began, began]})
        for k, per_obj in data.get("object_stops", {}).items():
            self.object_stops[str(k)] = {str(o): sorted(float(x) for x in v) for o, v in per_obj.items()}
