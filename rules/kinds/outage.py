"""Outage rule: many devices silent together behind one gateway, building or community are one ticket for the
shared cause, not one offline ticket per device.

It watches the devices of one heartbeat rule (`of`), whose timer per device tells it when a device has been
silent for `device_after` x its limit and when it is heard again, and asks it, when a device's own limit
passes, whether an outage covers the device. A device is *silent* once it has sent
nothing for `device_after` x its offline limit: with a limit of at least three reporting intervals and the
last messages of devices cut off together spread over one interval, every one of them is silent before the
first reaches its own limit, so the outage opens before any of them would raise alone.

A group (`gateway:<id>`, `building:<id>`, `community:<id>`) is counted per power class
(`devices.classes.Power`): a *unit* is the group's devices of one class (`building:b1#mains`), since a power
cut silences a building's cameras, doors and chargers while its battery meters keep reporting, and a network
outage its wired devices, not the NB-IoT ones. A unit is *out* while at least `min_devices` of its devices,
and at least `min_share` of them, are silent and their silences began (their last messages) within `span` of
one another (thresholds per power class: `power`). A silent device's cause is the narrowest unit out among its
own (its gateway's, before its building's and community's), unless a wider unit out holds silent devices of
two or more different narrowest units out (a community whose buildings are all down is one cause). Each group
that is the cause of a silent device (through any of its units) has one open alert, raised once it has been
the cause for its `wait` (the devices cut off together fall silent over one reporting interval; meanwhile the
cause moves from a building to its gateway, or from the buildings to their community). An out unit covers its
devices: the heartbeat rule raises nothing for them. When it is no longer out, each device it covered that is
still silent gets `device_after` x its limit more (its gateway's other devices come back within an interval)
and is then raised by the heartbeat rule on its own.
"""

from __future__ import annotations

from bisect import bisect_right, insort
from dataclasses import dataclass
from typing import Any

from devices.classes import CLASSES, Power
from rules.config import OutageRule
from rules.emit import Emitter, Place
from rules.kinds.base import NEVER, Context, Evaluator
from rules.kinds.heartbeat import HeartbeatEvaluator
from rules.schedule import Schedule


@dataclass(frozen=True, slots=True)
class Thresholds:
    """When a unit (a group's devices of one power class) is out, and how long its cause waits to raise."""

    min_devices: int
    min_share: float
    span: float | None
    wait: float


def thresholds(rule: OutageRule) -> dict[Power, Thresholds]:
    """The rule's thresholds per power class: its own values, replaced by those `power` gives for the class."""
    out = {}
    for p in Power:
        o = rule.power.get(p)
        out[p] = Thresholds(
            rule.min_devices if o is None or o.min_devices is None else o.min_devices,
            rule.min_share if o is None or o.min_share is None else o.min_share,
            rule.span if o is None or o.span is None else o.span,
            rule.wait if o is None or o.wait is None else o.wait,
        )
    return out


def unit_of(group: str, power: Power) -> str:
    return f"{group}#{power.value}"


def group_of(unit: str) -> str:
    return unit.rpartition("#")[0]


def densest(starts: list[float], span: float) -> int:
    """The most of the sorted `starts` that lie within `span` of one another."""
    best = j = 0
    for i, t in enumerate(starts):
        while t - starts[j] > span:
            j += 1
        best = max(best, i - j + 1)
    return best


class OutageEvaluator(Evaluator):
    """State: `silent` devices with when each fell silent (`since`) and `suppressed` devices (persisted with the
    open alerts); unit sizes, silent counts, which units are out and each silent device's cause are derived
    from them (`bind`)."""

    kind = "outage"
    rule: OutageRule

    def __init__(self, rule: OutageRule, schedule: Schedule | None) -> None:
        super().__init__(rule, Emitter(rule.id, rule.title.text(), rule.severity, rule.cooldown, True), schedule)
        self.classes = frozenset()  # no message reaches it: the heartbeat rule hands on what it hears
        self.heartbeat: HeartbeatEvaluator | None = None
        self.th = thresholds(rule)
        self.power: dict[str, Power] = {}  # unit -> its power class
        self.after: dict[str, float] = {}  # device -> silence after which it counts as silent
        self.chains: dict[str, tuple[str, ...]] = {}  # device -> its units that can be out, narrowest first
        self.members: dict[str, list[str]] = {}  # unit -> its devices, in registry order
        self.units: dict[str, tuple[str, ...]] = {}  # group -> its units
        self.places: dict[str, Place] = {}  # group -> where its alert belongs
        self.count: dict[str, int] = {}  # unit -> silent devices
        self.starts: dict[str, list[float]] = {}  # unit -> when its silent devices fell silent, sorted
        self.parents: dict[str, tuple[str, ...]] = {}  # unit -> the wider units of its devices
        self.first: dict[str, str] = {}  # silent device -> the narrowest unit out among its own
        self.firsts: dict[str, dict[str, int]] = {}  # unit -> narrower first units of its silent devices: count
        self.out: set[str] = set()
        self.cause: dict[str, str] = {}  # silent device -> the unit whose group's alert it is part of
        self.causes: dict[str, int] = {}  # unit -> silent devices it is the cause of
        self.silent: set[str] = set()
        self.since: dict[str, float] = {}  # silent device -> its last message (when it fell silent)
        self.suppressed: set[str] = set()  # devices whose own limit passed while an outage covered them

    # --- wiring --------------------------------------------------------------------------------------------

    def bind(self, heartbeat: HeartbeatEvaluator | None, ctx: Context) -> None:
        """Take the devices of `heartbeat` (after it was rescoped) and derive the units from the registry."""
        if self.heartbeat is not None and self.heartbeat is not heartbeat:
            self.heartbeat.outage = None
        self.heartbeat = heartbeat
        self.after, self.chains, self.members, self.places, self.units = {}, {}, {}, {}, {}
        if heartbeat is None:
            self.count, self.out, self.cause, self.causes, self.parents = {}, set(), {}, {}, {}
            self.first, self.firsts, self.starts = {}, {}, {}
            return
        heartbeat.outage = self
        units: dict[str, list[str]] = {}
        chains: dict[str, list[str]] = {}
        power: dict[str, Power] = {}
        for dev in heartbeat.watch:
            limit = heartbeat.limits.get(dev)
            d = ctx.registry.devices.get(dev)
            place = ctx.device_place(dev)
            if limit is None or d is None or place is None:
                continue
            self.after[dev] = self.rule.device_after * limit
            chain = chains[dev] = []
            nodes = {"gateway": d.gateway_id, "building": d.building_id, "community": place.community_id}
            for level in self.rule.by:
                node = nodes[level]
                if node is not None:
                    u = unit_of(f"{level}:{node}", CLASSES[d.device_class].power)
                    power[u] = CLASSES[d.device_class].power
                    chain.append(u)
                    units.setdefault(u, []).append(dev)
        self.power = power
        big = {u for u, devs in units.items() if len(devs) >= self.th[power[u]].min_devices}
        self.members = {u: devs for u, devs in units.items() if u in big}
        self.chains = {dev: tuple(u for u in chain if u in big) for dev, chain in chains.items()}
        self.after = {dev: after for dev, after in self.after.items() if self.chains[dev]}
        by_group: dict[str, list[str]] = {}
        for u in self.members:
            by_group.setdefault(group_of(u), []).append(u)
        self.units = {g: tuple(us) for g, us in by_group.items()}
        for g, us in self.units.items():
            devs = [dev for u in us for dev in self.members[u]]
            self.places[g] = _place_of(g, [p for dev in devs if (p := ctx.device_place(dev)) is not None])
        self.silent &= self.after.keys()
        self.suppressed &= self.after.keys()
        self.since = {dev: self.since.get(dev, ctx.last_seen.get(dev, heartbeat.birth)) for dev in sorted(self.silent)}
        self.count = {u: 0 for u in self.members}
        self.starts = {u: [] for u in self.members}
        for dev in self.silent:
            for u in self.chains[dev]:
                self.count[u] += 1
                insort(self.starts[u], self.since[dev])
        self.out = {u for u in self.members if self._is_out(u)}
        parents: dict[str, set[str]] = {u: set() for u in self.members}
        for units_of_dev in self.chains.values():
            for i, u in enumerate(units_of_dev):
                parents[u].update(units_of_dev[i + 1 :])
        self.parents = {u: tuple(sorted(wider)) for u, wider in parents.items()}
        self.cause, self.causes, self.first, self.firsts = {}, {}, {}, {}
        for dev in sorted(self.silent):
            self._set_cause(dev)

    def covers(self, device_id: str) -> bool:
        """Whether an outage holds back the device's own offline alert."""
        out = self.out
        return bool(out) and any(u in out for u in self.chains.get(device_id, ()))

    # --- evaluator -----------------------------------------------------------------------------------------

    def start(self, ctx: Context, birth: float) -> None:
        em = self.emitter
        for g in sorted(g for g in self.units if self._caused(g) and not em.is_open(em.key(g))):
            ctx.timer(max(ctx.watermark, birth) + self._wait(g), self.id, g)  # its wait, cut by a restart

    def heard(self, dev: str, ts: float, ctx: Context) -> None:
        """The heartbeat rule heard `dev` at `ts` (newer than anything before)."""
        if dev not in self.silent:
            self.suppressed.discard(dev)
            return
        self.silent.discard(dev)
        self.suppressed.discard(dev)
        since = self.since.pop(dev, NEVER)
        touched = {c} if (c := self._drop_cause(dev)) is not None else set()
        changed = []
        for u in self.chains[dev]:
            self.count[u] -= 1
            starts = self.starts[u]
            i = bisect_right(starts, since) - 1
            if 0 <= i < len(starts) and starts[i] == since:
                del starts[i]
            if u in self.out and not self._is_out(u):
                self.out.discard(u)
                changed.append(u)
        self._settle(changed, touched, ts, ctx)

    def went_silent(self, dev: str, at: float, ctx: Context) -> None:
        """The heartbeat rule's timer found `dev` silent for its `after` since `at`."""
        if dev in self.silent or dev not in self.after:
            return
        self.silent.add(dev)
        since = self.since[dev] = at - self.after[dev]
        changed = []
        for u in self.chains[dev]:
            self.count[u] += 1
            insort(self.starts[u], since)
            if u not in self.out and self._is_out(u):
                self.out.add(u)
                changed.append(u)
        touched = {c} if (c := self._set_cause(dev)) is not None else set()
        self._settle(changed, touched, at, ctx)

    def on_timer(self, key: str, due: float, ctx: Context) -> None:
        """A group's wait ended: its alert goes out if it is still the cause of a silent device."""
        em = self.emitter
        if key in self.units and self._caused(key) and not em.is_open(em.key(key)):
            em.raise_(ctx.out, em.key(key), due, self.places[key], self._details(key))

    def dump(self) -> dict[str, Any]:
        return {
            **super().dump(),
            "silent": sorted(self.silent),
            "since": {dev: self.since[dev] for dev in sorted(self.since)},
            "suppressed": sorted(self.suppressed),
        }

    def load(self, data: dict[str, Any]) -> None:
        super().load(data)
        self.silent = {str(d) for d in data.get("silent", ())}
        self.since = {str(d): float(t) for d, t in data.get("since", {}).items() if d in self.silent}
        self.suppressed = {str(d) for d in data.get("suppressed", ())}

    # --- internals -----------------------------------------------------------------------------------------

    def _is_out(self, u: str) -> bool:
        th = self.th[self.power[u]]
        n = self.count[u]
        need = max(th.min_devices, th.min_share * len(self.members[u]))
        if n < need:
            return False
        return th.span is None or densest(self.starts[u], th.span) >= need

    def _caused(self, g: str) -> bool:
        """Whether group `g` is the cause of a silent device (through any of its units)."""
        causes = self.causes
        return any(causes.get(u, 0) > 0 for u in self.units.get(g, ()))

    def _wait(self, g: str) -> float:
        """How long `g` must stay a cause before it raises: the shortest wait of its units that are causes."""
        waits = [self.th[self.power[u]].wait for u in self.units.get(g, ()) if self.causes.get(u, 0) > 0]
        return min(waits) if waits else self.rule.wait

    def _set_cause(self, dev: str) -> str | None:
        """A silent device's cause: its narrowest unit out, or the widest wider unit out whose silent devices
        have two or more different narrowest units out (a community down, not one building in it)."""
        chain = self.chains[dev]
        out = self.out
        at = next((i for i, u in enumerate(chain) if u in out), None)
        if at is None:
            return None
        first = self.first[dev] = chain[at]
        for w in chain[at + 1 :]:
            counts = self.firsts.setdefault(w, {})
            counts[first] = counts.get(first, 0) + 1
        cause = next((w for w in reversed(chain[at + 1 :]) if w in out and len(self.firsts[w]) >= 2), first)
        self.cause[dev] = cause
        self.causes[cause] = self.causes.get(cause, 0) + 1
        return cause

    def _drop_cause(self, dev: str) -> str | None:
        first = self.first.pop(dev, None)
        if first is not None:
            chain = self.chains[dev]
            for w in chain[chain.index(first) + 1 :]:
                counts = self.firsts[w]
                counts[first] -= 1
                if counts[first] <= 0:
                    del counts[first]
        cause = self.cause.pop(dev, None)
        if cause is not None:
            self.causes[cause] -= 1
        return cause

    def _settle(self, changed: list[str], touched: set[str], ts: float, ctx: Context) -> None:
        """Units in `changed` went out or came back at `ts`: the causes of their silent devices move; the alerts
        follow for every group one of whose units' count of caused devices changed (`touched` and those moved
        here): open while it is the cause of a silent device. Devices no longer covered go back to the
        heartbeat rule."""
        seen: set[str] = set()
        regroup: list[str] = []
        for u in changed:
            regroup.append(u)
            regroup.extend(self.parents[u])
        # twice: a device's new narrowest unit can make a wider unit hold two, which moves its other devices
        for _ in range(2):
            seen.clear()
            for u in regroup:
                for dev in self.members[u]:
                    if dev in self.silent and dev not in seen:
                        seen.add(dev)
                        if (old := self._drop_cause(dev)) is not None:
                            touched.add(old)
                        if (new := self._set_cause(dev)) is not None:
                            touched.add(new)
        em = self.emitter
        groups = sorted({group_of(u) for u in touched})
        for g in groups:
            key = em.key(g)
            if em.is_open(key) and not self._caused(g):
                silent, devices = self._counts(g, [u for u in self.units[g] if u in changed])
                em.clear(ctx.out, key, ts, self.places[g], {"silent": silent, "devices": devices})
        for g in groups:
            if not em.is_open(em.key(g)) and self._caused(g):
                ctx.timer(ts + self._wait(g), self.id, g)  # raised then if it is still a cause
        hb = self.heartbeat
        if hb is None:
            return
        for u in changed:
            if u in self.out:
                continue
            for dev in self.members[u]:
                if dev in self.suppressed and not self.covers(dev):
                    self.suppressed.discard(dev)
                    hb.release(dev, ts + self.after[dev], ctx)

    def _counts(self, g: str, back: list[str]) -> tuple[int, int]:
        """(silent devices, devices) of the units of `g` that just came `back` (else all its units): a clear
        counts the power class that was out, not a building's battery meters after its power cut."""
        us = back or list(self.units[g])
        return sum(self.count[u] for u in us), sum(len(self.members[u]) for u in us)

    def _details(self, g: str) -> dict[str, Any]:
        level, _, node = g.partition(":")
        us = [u for u in self.units[g] if self.causes.get(u, 0) > 0] or list(self.units[g])
        silent = [d for u in us for d in self.members[u] if d in self.silent]
        return {
            "level": level,
            level: node,
            "power": sorted(self.power[u].value for u in us),
            "silent": len(silent),
            "devices": sum(len(self.members[u]) for u in us),
            "silent_devices": silent[:50],
        }


def _place_of(group: str, places: list[Place]) -> Place:
    """Where a group's alert belongs: the micro-grid of most of its devices (the first of them on a tie), and
    the building and community they share, if they share one."""
    first: dict[str, int] = {}
    counts: dict[str, int] = {}
    for i, p in enumerate(places):
        first.setdefault(p.microgrid_id, i)
        counts[p.microgrid_id] = counts.get(p.microgrid_id, 0) + 1
    mg = min(counts, key=lambda m: (-counts[m], first[m]))
    buildings = {p.building_id for p in places}
    communities = {p.community_id for p in places}
    return Place(
        mg,
        communities.pop() if len(communities) == 1 else None,
        buildings.pop() if len(buildings) == 1 else None,
    )
