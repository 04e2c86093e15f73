"""Heartbeat rule: a device that has sent nothing for k times its expected interval is offline; the next
message from it brings it back online (clears)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from devices.reading import Reading, Scalar
from rules.config import HeartbeatRule
from rules.emit import Emitter, place_of_reading
from rules.kinds.base import NEVER, Context, Evaluator
from rules.schedule import Schedule
from rules.scope import devices_in

_EPS = 1e-6


class HeartbeatEvaluator(Evaluator):
    """One live timer per device (`armed`), pushed when it is first heard or after it came back. On firing the
    timer compares with the engine's `last_seen` and re-arms when newer messages arrived, so a message costs a
    dict write and no heap work. Devices never heard are timed from the engine's birth (first known time).
    On a live stream the timer fires by the device's estimated time (`rules.progress`); a message dated
    within the limit that arrives after it clears the alert, flagged `late`."""

    kind = "heartbeat"
    rule: HeartbeatRule

    def __init__(self, rule: HeartbeatRule, schedule: Schedule | None) -> None:
        super().__init__(rule, Emitter(rule.id, rule.title, rule.severity, rule.cooldown, True), schedule)
        self.k = rule.k
        self.armed: set[str] = set()
        self.watch: list[str] = []
        self.birth = NEVER
        self.limits: dict[str, float] = {}

    def rescope(self, ctx: Context) -> None:
        self.classes = self.rule.classes()
        self.devices = devices_in(self.rule.scope, self.classes, ctx.registry)
        # in registry order, not set order: timers armed together fire in push order, so a set's hash order
        # would make the order of alerts raised at one instant differ from run to run
        devices = self.devices
        self.watch = [d for d in ctx.registry.devices if devices is None or d in devices]
        self.limits = {d: lim for d in self.watch if (lim := self._limit(ctx, d)) is not None}

    def limit(self, ctx: Context, device_id: str) -> float | None:
        return self.limits.get(device_id)

    def _limit(self, ctx: Context, device_id: str) -> float | None:
        d = ctx.registry.devices.get(device_id)
        if d is None:
            return None
        return self.k * self.rule.intervals.get(d.device_class, float(d.expected_interval_s))

    def reset_timers(self) -> None:
        self.armed.clear()

    def start(self, ctx: Context, birth: float) -> None:
        self.birth = birth
        for dev in self.watch:
            if dev in self.armed or self.emitter.is_open(self.emitter.key(dev)):
                continue
            lim = self.limit(ctx, dev)
            if lim is not None:
                self.armed.add(dev)
                ctx.timer(ctx.last_seen.get(dev, birth) + lim, self.id, dev, dev)

    def on_reading(self, r: Reading, prev: Mapping[str, Scalar] | None, ctx: Context) -> None:
        dev = r.device_id
        if self.devices is not None and dev not in self.devices:
            return
        seen = ctx.last_seen.get(dev, self.birth)
        if r.ts <= seen:
            return  # late or duplicate: says nothing new about being online now
        em = self.emitter
        key = em.key(dev)
        if key in em.open:
            details: dict[str, Any] = {"silent_s": r.ts - seen}
            lim = self.limits.get(dev)
            if lim is not None and r.ts < seen + lim and ctx.live is not None:
                details["late"] = True  # raised live before this message, dated within the limit, arrived
            em.clear(ctx.out, key, r.ts, place_of_reading(r), details)
        else:
            lim = self.limits.get(dev)
            if lim is not None and r.ts - seen > lim and seen > NEVER:
                # silent past the limit, but the watermark had not reached it yet: raise dated then, and clear
                at = self.when_active(seen + lim)
                if at <= r.ts:
                    em.raise_(ctx.out, key, at, place_of_reading(r), {"last_seen": seen, "limit_s": lim})
                    em.clear(ctx.out, key, r.ts, place_of_reading(r), {"silent_s": r.ts - seen})
        if dev not in self.armed:
            lim = self.limits.get(dev)
            if lim is not None:
                self.armed.add(dev)
                ctx.timer(r.ts + lim, self.id, dev, dev)

    def on_timer(self, key: str, due: float, ctx: Context) -> None:
        dev = key
        armed = self.armed
        if dev not in armed:
            return
        lim = self.limits.get(dev)  # only devices in scope have one (`rescope`)
        if lim is None:
            armed.discard(dev)
            return
        seen = ctx.last_seen.get(dev, self.birth)
        expires = seen + lim if self.schedule is None else self.when_active(seen + lim)
        if expires > due + _EPS:
            ctx.timer(expires, self.id, dev, dev)
            return
        armed.discard(dev)
        place = ctx.device_place(dev)
        if place is not None:
            em = self.emitter
            em.raise_(ctx.out, f"{em.rule_id}:{dev}", expires, place, {"last_seen": seen, "limit_s": lim})
