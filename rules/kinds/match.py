"""Rules judged message by message: event match, threshold (with hysteresis) and count in a sliding window."""

from __future__ import annotations

import bisect
import operator
from collections.abc import Callable, Mapping
from typing import Any

from devices.model import DeviceClass
from devices.payloads import MODELS, Channel
from devices.reading import Reading, Scalar
from rules.conditions import NUMBER, any_match, channels_of, compile_any, events_of_conditions
from rules.config import CountRule, EventRule, ThresholdRule
from rules.emit import Emitter, place_of_reading
from rules.kinds.base import NEVER, Context, Evaluator
from rules.schedule import Schedule
from rules.scope import devices_in


def reading_details(r: Reading, ctx: Context) -> dict[str, Any]:
    d: dict[str, Any] = {"device_class": r.device_class.value, "channel": r.channel.value, **r.fields}
    if r.ts < ctx.watermark:
        d["late"] = True
    return d


class _DeviceEvaluator(Evaluator):
    rule: EventRule | ThresholdRule | CountRule

    def rescope(self, ctx: Context) -> None:
        self.classes = self.rule.classes()
        self.devices = devices_in(self.rule.scope, self.classes, ctx.registry)


class EventEvaluator(_DeviceEvaluator):
    """With `pending`, a match waits that long in event time and is dropped if a `cancel` or `clear` message
    of the device arrives meanwhile (a cooking alarm the resident silences within seconds). The wait is
    announced at once (a `pending` alert: the ticket shows as verifying) and ends with the raise or with a
    `cancel` alert. With `per`, the objects that matched are kept per alert key, and a `clear` only ends the
    alert with the last of them.

    On a live stream a wait may end (by the device's time, `rules.progress`) before a cancel dated within it
    has arrived. `confirmed` keeps such raises until the watermark passes their end; a cancel or clear dated
    within the wait that arrives meanwhile takes the raise back with a clear flagged `late`."""

    kind = "event"
    rule: EventRule

    def __init__(self, rule: EventRule, schedule: Schedule | None) -> None:
        super().__init__(
            rule, Emitter(rule.id, rule.title.text(), rule.severity, rule.cooldown, bool(rule.clear)), schedule
        )
        self.match = compile_any(rule.match)
        self.clear = compile_any(rule.clear)
        self.cancel = compile_any(rule.cancel)
        self.channels = channels_of([*rule.match, *rule.clear, *rule.cancel])
        self.events = events_of_conditions([*rule.match, *rule.clear, *rule.cancel])
        self.conditions = [*rule.match, *rule.clear, *rule.cancel]
        self.waiting: dict[str, tuple[float, dict[str, Any]]] = {}  # key -> (match time, details)
        self.per = rule.per
        self.forget = rule.forget_s()
        self.objects: dict[str, dict[str, float]] = {}  # with `per`: key -> object -> last matched
        self.confirmed: dict[str, tuple[float, float]] = {}  # key -> (match time, end of wait), raised live

    def on_reading(self, r: Reading, prev: Mapping[str, Scalar] | None, ctx: Context) -> None:
        if self.devices is not None and r.device_id not in self.devices:
            return
        if self.confirmed and self._retracted(r, prev, ctx):
            return
        if self.waiting:
            key = self.emitter.key(r.device_id)
            w = self.waiting.get(key)
            if w is not None and r.ts >= w[0] + self.rule.pending:
                # the wait ended (event time) before this message; its timer had not fired yet (lateness)
                self.on_timer(key, w[0] + self.rule.pending, ctx)
            elif w is not None and self.cancel and any_match(self.cancel, r, prev):
                self._cancel(key, r, ctx)
        if self.clear and any_match(self.clear, r, prev):
            key = self.emitter.key(r.device_id)
            if self.per is not None and self._others_remain(key, r):
                return
            self._cancel(key, r, ctx)
            if self.emitter.is_open(key):
                self.emitter.clear(ctx.out, key, r.ts, place_of_reading(r), reading_details(r, ctx))
            return
        if any_match(self.match, r, prev) and self.active_at(r.ts):
            key = self.emitter.key(r.device_id)
            if self.per is not None and (obj := r.fields.get(self.per)) is not None:
                seen = self.objects.setdefault(key, {})
                seen[str(obj)] = max(seen.get(str(obj), r.ts), r.ts)
            if self.rule.pending <= 0 or self.emitter.is_open(key):
                self.emitter.raise_(ctx.out, key, r.ts, place_of_reading(r), reading_details(r, ctx))
            elif key not in self.waiting:
                details = reading_details(r, ctx)
                self.waiting[key] = (r.ts, details)
                until = r.ts + self.rule.pending
                ctx.timer(until, self.id, key, r.device_id)
                self.emitter.pending(
                    ctx.out, key, r.ts, until, place_of_reading(r), {**details, "pending_s": self.rule.pending}
                )

    def _others_remain(self, key: str, r: Reading) -> bool:
        """A clear of `per` rule: end the object it names (every object if it names none) and those not seen
        for `forget_after`; True while another object that matched is still there."""
        objs = self.objects.get(key)
        if not objs:
            return False
        obj = r.fields.get(self.per) if self.per is not None else None
        if obj is None:
            objs.clear()
        else:
            objs.pop(str(obj), None)
        for o in [o for o, seen in objs.items() if seen < r.ts - self.forget]:
            del objs[o]
        if objs:
            return True
        del self.objects[key]
        return False

    def _retracted(self, r: Reading, prev: Mapping[str, Scalar] | None, ctx: Context) -> bool:
        """A cancel or clear dated within a wait that ended live before it arrived (and not older than the
        watermark): the raise is taken back (a clear flagged `late`), as if the message had come in time."""
        key = self.emitter.key(r.device_id)
        c = self.confirmed.get(key)
        if c is None or not c[0] <= r.ts < c[1] or r.ts < ctx.watermark:
            return False
        if not any_match(self.cancel, r, prev) and not any_match(self.clear, r, prev):
            return False
        del self.confirmed[key]
        details = reading_details(r, ctx)
        details.update(late=True, wait_ended_at=c[1])
        self.emitter.retract(ctx.out, key, r.ts, place_of_reading(r), details)
        return True

    def _cancel(self, key: str, r: Reading, ctx: Context) -> None:
        """A cancel or clear message of the device ends a running wait (a match of no later time): the raise
        is dropped, and its announcement withdrawn with the message that ended it."""
        w = self.waiting.get(key)
        if w is not None and w[0] <= r.ts:
            del self.waiting[key]
            details = {**reading_details(r, ctx), "pending_s": self.rule.pending}
            self.emitter.withdraw(ctx.out, key, r.ts, w[0] + self.rule.pending, place_of_reading(r), details)

    def on_timer(self, key: str, due: float, ctx: Context) -> None:
        w = self.waiting.get(key)
        if w is None or abs(w[0] + self.rule.pending - due) > 1e-6:
            return
        del self.waiting[key]
        place = ctx.device_place(key[len(self.id) + 1 :])
        if place is not None:
            details = {**w[1], "pending_s": self.rule.pending}
            raised = self.emitter.raise_(ctx.out, key, due, place, details)
            if raised and ctx.live is not None and due > ctx.watermark:
                self.confirmed[key] = (w[0], due)  # before the watermark: a cancel within the wait may arrive

    def start(self, ctx: Context, birth: float) -> None:
        for key, (ts, _) in self.waiting.items():
            ctx.timer(ts + self.rule.pending, self.id, key, key[len(self.id) + 1 :])

    def prune(self, now: float) -> None:
        super().prune(now)
        for key in [k for k, objs in self.objects.items() if max(objs.values(), default=now) < now - self.forget]:
            del self.objects[key]  # every object forgotten: the next clear ends the alert
        for key in [k for k, (_, end) in self.confirmed.items() if end <= now]:
            del self.confirmed[key]  # a cancel dated within the wait would be older than the watermark now

    def dump(self) -> dict[str, Any]:
        d = super().dump()
        d["waiting"] = {k: [t, det] for k, (t, det) in self.waiting.items()}
        if self.objects:
            d["objects"] = self.objects
        if self.confirmed:
            d["confirmed"] = {k: list(v) for k, v in self.confirmed.items()}
        return d

    def load(self, data: dict[str, Any]) -> None:
        super().load(data)
        self.waiting = {str(k): (float(v[0]), dict(v[1])) for k, v in data.get("waiting", {}).items()}
        self.objects = {str(k): {str(o): float(t) for o, t in v.items()} for k, v in data.get("objects", {}).items()}
        self.confirmed = {str(k): (float(v[0]), float(v[1])) for k, v in data.get("confirmed", {}).items()}


Compare = Callable[[Any, Any], bool]
_BAD: dict[str, Compare] = {">": operator.gt, ">=": operator.ge, "<": operator.lt, "<=": operator.le}
# the good side for clearing: the strict opposite of the bad test, at the clear level
_GOOD: dict[str, Compare] = {">": operator.le, ">=": operator.lt, "<": operator.ge, "<=": operator.gt}


class ThresholdEvaluator(_DeviceEvaluator):
    kind = "threshold"
    rule: ThresholdRule

    def __init__(self, rule: ThresholdRule, schedule: Schedule | None) -> None:
        super().__init__(rule, Emitter(rule.id, rule.title.text(), rule.severity, rule.cooldown, True), schedule)
        self.field = rule.field
        self.only_channel = rule.channel
        self.bad = _BAD[rule.op]
        self.good = _GOOD[rule.op]
        self.value = rule.value
        self.clear_value = rule.clear_value if rule.clear_value is not None else rule.value
        self.also = compile_any(rule.also)
        self.clear = compile_any(rule.clear)
        self.extra_channels = channels_of([*rule.also, *rule.clear])
        # per channel, the events for which `also` or `clear` can match (None: any message may match them); a
        # message without the field and without one of these events cannot change anything
        self.gate = {ch: events_of_conditions([*rule.also, *rule.clear], ch) for ch in Channel}
        # keys raised by the device's own alarm (`also`): with `clear` conditions, only those clear them; a
        # routine reading below the limit while the detector still alarms does not
        self.by_event: set[str] = set()

    def wants(self, device_class: DeviceClass, channel: Channel) -> bool:
        if self.classes is not None and device_class not in self.classes:
            return False
        if self.rule.channel is not None and channel is not self.rule.channel:
            return False
        model = MODELS.get((device_class, channel))
        if model is not None and self.field in model.model_fields:
            return True
        return self.extra_channels is None or channel in self.extra_channels

    def on_reading(self, r: Reading, prev: Mapping[str, Scalar] | None, ctx: Context) -> None:
        if self.devices is not None and r.device_id not in self.devices:
            return
        if self.only_channel is not None and r.channel is not self.only_channel:
            return
        f = r.fields
        if self.field not in f:
            gate = self.gate[r.channel]
            if gate is not None and f.get("event", f.get("state")) not in gate:
                return  # e.g. a camera's heartbeat for the battery rule: most messages of every class
        em = self.emitter
        key = em.key(r.device_id)
        v = f.get(self.field)
        numeric = isinstance(v, NUMBER) and not isinstance(v, bool)
        is_open = key in em.open
        if is_open and self.clear and any_match(self.clear, r, prev):
            self.by_event.discard(key)
            em.clear(ctx.out, key, r.ts, place_of_reading(r), reading_details(r, ctx))
            return
        alarmed = bool(self.also) and any_match(self.also, r, prev)
        if alarmed or (numeric and self.bad(v, self.value)):
            if self.active_at(r.ts):
                em.raise_(ctx.out, key, r.ts, place_of_reading(r), reading_details(r, ctx))
                if alarmed and key in em.open:
                    self.by_event.add(key)
            return
        if numeric and is_open and self.good(v, self.clear_value):
            if key in self.by_event and self.clear:
                return
            self.by_event.discard(key)
            em.clear(ctx.out, key, r.ts, place_of_reading(r), reading_details(r, ctx))

    def dump(self) -> dict[str, Any]:
        d = super().dump()
        d["by_event"] = sorted(self.by_event)
        return d

    def load(self, data: dict[str, Any]) -> None:
        super().load(data)
        self.by_event = {str(k) for k in data.get("by_event", ())}


class CountEvaluator(_DeviceEvaluator):
    """Keeps the times of matching messages per key (sorted, so late ones land in their place) for one window."""

    kind = "count"
    rule: CountRule

    def __init__(self, rule: CountRule, schedule: Schedule | None) -> None:
        has_clear = bool(rule.clear) or rule.clear_after is not None
        super().__init__(rule, Emitter(rule.id, rule.title.text(), rule.severity, rule.cooldown, has_clear), schedule)
        self.match = compile_any(rule.match)
        self.clear = compile_any(rule.clear)
        self.channels = channels_of([*rule.match, *rule.clear])
        self.events = events_of_conditions([*rule.match, *rule.clear])
        self.conditions = [*rule.match, *rule.clear]
        self.hits: dict[str, list[float]] = {}
        self.targets: dict[str, tuple[str, str | None]] = {}  # key -> (device, group)

    def _key(self, r: Reading) -> tuple[str, str | None]:
        g = self.rule.group_by
        group = None if g is None else str(r.fields.get(g, ""))
        return self.emitter.key(r.device_id, group), group

    def on_reading(self, r: Reading, prev: Mapping[str, Scalar] | None, ctx: Context) -> None:
        if self.devices is not None and r.device_id not in self.devices:
            return
        if self.clear and any_match(self.clear, r, prev):
            key, _ = self._key(r)
            self.emitter.clear(ctx.out, key, r.ts, place_of_reading(r), reading_details(r, ctx))
            return
        if not any_match(self.match, r, prev):
            return
        key, group = self._key(r)
        times = self.hits.setdefault(key, [])
        self.targets[key] = (r.device_id, group)
        bisect.insort(times, r.ts)
        window = self.rule.window
        # keep one window behind the newest hit; count the hits in the window ending at this message
        cut = bisect.bisect_left(times, times[-1] - window)
        if cut:
            del times[:cut]
        # the largest count of any window holding this hit: windows ending here or at a later (earlier-arrived) hit
        n = 0
        end = bisect.bisect_left(times, r.ts)
        stop = bisect.bisect_right(times, r.ts + window)
        for j in range(end, stop):
            n = max(n, j + 1 - bisect.bisect_left(times, times[j] - window))
        if n >= self.rule.threshold and self.active_at(r.ts):
            details = reading_details(r, ctx)
            details["count"] = n
            details["window_s"] = window
            self.emitter.raise_(ctx.out, key, r.ts, place_of_reading(r), details)
        if self.rule.clear_after is not None and self.emitter.is_open(key):
            ctx.timer(times[-1] + self.rule.clear_after, self.id, key, r.device_id)

    def on_timer(self, key: str, due: float, ctx: Context) -> None:
        ca = self.rule.clear_after
        times = self.hits.get(key)
        if ca is None or not self.emitter.is_open(key):
            return
        last = times[-1] if times else NEVER
        if last + ca > due:
            return  # a newer hit re-armed the timer
        device, _ = self.targets.get(key, (key.split(":")[1], None))
        place = ctx.device_place(device)
        if place is not None:
            self.emitter.clear(ctx.out, key, due, place, {"reason": "quiet", "quiet_s": ca})

    def start(self, ctx: Context, birth: float) -> None:
        if self.rule.clear_after is None:
            return
        for key in sorted(self.emitter.open):  # sorted: a set's order changes from run to run
            times = self.hits.get(key)
            device, _ = self.targets.get(key, (key.split(":")[1], None))
            ctx.timer((times[-1] if times else birth) + self.rule.clear_after, self.id, key, device)

    def prune(self, now: float) -> None:
        super().prune(now)
        stale = [k for k, t in self.hits.items() if not t or t[-1] < now - self.rule.window]
        for k in stale:
            if not self.emitter.is_open(k):
                del self.hits[k]
                self.targets.pop(k, None)

    def dump(self) -> dict[str, Any]:
        d = super().dump()
        d["hits"] = self.hits
        d["targets"] = {k: list(v) for k, v in self.targets.items()}
        return d

    def load(self, data: dict[str, Any]) -> None:
        super().load(data)
        self.hits = {str(k): sorted(float(x) for x in v) for k, v in data.get("hits", {}).items()}
        self.targets = {
            str(k): (str(v[0]), None if v[1] is None else str(v[1])) for k, v in data.get("targets", {}).items()
        }
