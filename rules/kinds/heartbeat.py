"""Heartbeat rule: a device that has sent nothing for the longer of k times its expected interval and its
class's least offline silence (`devices.classes`) is offline; the next message from it brings it back online
(clears). An outage rule (`rules.kinds.outage`) naming this rule holds back the alerts of devices it covers."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

from devices.classes import offline_limit
from devices.reading import Reading, Scalar
from rules.config import HeartbeatRule
from rules.emit import Emitter, place_of_reading
from rules.kinds.base import NEVER, Context, Evaluator
from rules.schedule import Schedule
from rules.scope import devices_in

_EPS = 1e-6


class CoveringOutage(Protocol):
    """What a heartbeat rule asks of the outage rule that names it. `rules.kinds.outage.OutageEvaluator`
    implements it; it imports this module, so this one names a protocol and imports point one way."""

    suppressed: set[str]
    silent: set[str]
    after: dict[str, float]  # device -> silence after which it counts towards an outage (devices in a group)

    def covers(self, device_id: str) -> bool: ...

    def heard(self, dev: str, ts: float, ctx: Context) -> None: ...

    def went_silent(self, dev: str, at: float, ctx: Context) -> None: ...


class HeartbeatEvaluator(Evaluator):
    """One live timer per device (`armed`), pushed when it is first heard or after it came back. On firing the
    timer compares with the engine's `last_seen` and re-arms when newer messages arrived, so a message costs a
    dict write and no heap work. Devices never heard are timed from the engine's birth (first known time).
    On a live stream the timer fires by the device's estimated time (`rules.progress`); a message dated
    within the limit that arrives after it clears the alert, flagged `late`."""

    kind = "heartbeat"
    rule: HeartbeatRule

    def __init__(self, rule: HeartbeatRule, schedule: Schedule | None) -> None:
        super().__init__(rule, Emitter(rule.id, rule.title.text(), rule.severity, rule.cooldown, True), schedule)
        self.k = rule.k
        self.armed: set[str] = set()
        self.watch: list[str] = []
        self.birth = NEVER
        self.limits: dict[str, float] = {}
        self.outage: CoveringOutage | None = None  # set by the outage rule that names this one (`bind`)
        self.hold: dict[str, float] = {}  # device -> no alert of its own before (an outage covered it)

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
        return offline_limit(d, self.k, self.rule.intervals, self.rule.offline_after)

    def reset_timers(self) -> None:
        self.armed.clear()

    def _first(self, dev: str, lim: float) -> float:
        """How long after its last message a device's timer is due: when it counts towards an outage (an outage
        rule watches it and it is not silent yet), else when its own limit passes. One timer serves both."""
        outage = self.outage
        if outage is not None and dev not in outage.silent:
            after = outage.after.get(dev)
            if after is not None:
                return after
        return lim

    def start(self, ctx: Context, birth: float) -> None:
        self.birth = birth
        for dev in self.watch:
            if dev in self.armed or self.emitter.is_open(self.emitter.key(dev)):
                continue
            lim = self.limit(ctx, dev)
            if lim is not None:
                self.armed.add(dev)
                ctx.timer(ctx.last_seen.get(dev, birth) + self._first(dev, lim), self.id, dev, dev)

    def on_reading(self, r: Reading, prev: Mapping[str, Scalar] | None, ctx: Context) -> None:
        dev = r.device_id
        if self.devices is not None and dev not in self.devices:
            return
        seen = ctx.last_seen.get(dev, self.birth)
        if r.ts <= seen:
            return  # late or duplicate: says nothing new about being online now
        em = self.emitter
        key = em.key(dev)
        outage = self.outage
        hold = self.hold
        held = hold.pop(dev, None) is not None if hold else False
        if key in em.open:
            details: dict[str, Any] = {"silent_s": r.ts - seen}
            lim = self.limits.get(dev)
            if lim is not None and r.ts < seen + lim and ctx.live is not None:
                details["late"] = True  # raised live before this message, dated within the limit, arrived
            em.clear(ctx.out, key, r.ts, place_of_reading(r), details)
        else:
            lim = self.limits.get(dev)
            # not when an outage covered it (now, when its limit passed, or handed back and waiting)
            if (
                lim is not None
                and r.ts - seen > lim
                and seen > NEVER
                and not held
                and not (outage is not None and (dev in outage.suppressed or outage.covers(dev)))
            ):
                # silent past the limit, but the watermark had not reached it yet: raise dated then, and clear
                at = self.when_active(seen + lim)
                if at <= r.ts:
                    em.raise_(ctx.out, key, at, place_of_reading(r), {"last_seen": seen, "limit_s": lim})
                    em.clear(ctx.out, key, r.ts, place_of_reading(r), {"silent_s": r.ts - seen})
        if outage is not None:
            outage.heard(dev, r.ts, ctx)
        if dev not in self.armed:
            lim = self.limits.get(dev)
            if lim is not None:
                self.armed.add(dev)
                ctx.timer(r.ts + self._first(dev, lim), self.id, dev, dev)

    def release(self, dev: str, not_before: float, ctx: Context) -> None:
        """An outage that covered `dev` ended: raise it on its own if it is still silent at `not_before` (and
        past its limit)."""
        self.hold[dev] = not_before
        if dev not in self.armed:
            self.armed.add(dev)
            ctx.timer(not_before, self.id, dev, dev)

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
        outage = self.outage
        if outage is not None and dev not in outage.silent:
            after = outage.after.get(dev)
            if after is not None:  # first: does it count towards an outage?
                if seen + after > due + _EPS:
                    ctx.timer(seen + after, self.id, dev, dev)
                    return
                outage.went_silent(dev, seen + after, ctx)
        expires = seen + lim
        hold = self.hold.get(dev)
        if hold is not None and hold > expires:
            expires = hold
        if self.schedule is not None:
            expires = self.when_active(expires)
        if expires > due + _EPS:
            ctx.timer(expires, self.id, dev, dev)
            return
        armed.discard(dev)
        if outage is not None and outage.covers(dev):
            outage.suppressed.add(dev)  # handed back by `release` when the outage ends
            return
        self.hold.pop(dev, None)
        place = ctx.device_place(dev)
        if place is not None:
            em = self.emitter
            em.raise_(ctx.out, f"{em.rule_id}:{dev}", expires, place, {"last_seen": seen, "limit_s": lim})

    def dump(self) -> dict[str, Any]:
        data = super().dump()
        if self.hold:
            data["hold"] = self.hold
        return data

    def load(self, data: dict[str, Any]) -> None:
        super().load(data)
        self.hold = {str(k): float(v) for k, v in data.get("hold", {}).items()}
