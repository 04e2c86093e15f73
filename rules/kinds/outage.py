"""Outage rule: many devices silent together behind one gateway, building or community are one ticket for the
shared cause, not one offline ticket per device.

It watches the devices of one heartbeat rule (`of`), whose timer per device tells it when a device has been
silent for `device_after` x its limit and when it is heard again, and asks it, when a device's own limit
passes, whether an outage covers the device. A device is *silent* once it has sent
nothing for `device_after` x its offline limit: with a limit of at least three reporting intervals and the
last messages of devices cut off together spread over one interval, every one of them is silent before the
first reaches its own limit, so the outage opens before any of them would raise alone.

A group (`gateway:<id>`, `building:<id>`, `community:<id>`) is *out* while at least `min_devices` of its
devices, and at least `min_share` of them, are silent. A silent device's cause is the narrowest group out
among its own (its gateway, before the building and community that gateway serves), unless a wider group out
holds silent devices of two or more different narrowest groups out (a community whose gateways are all down
is one cause); each group that
is the cause of a silent device has one open alert, raised once it has been the cause for `wait` (the devices
cut off together fall silent over one reporting interval; meanwhile the cause moves from a building to its
gateway, or from the gateways to their community). An out group covers its devices: the heartbeat rule
raises nothing for them. When the group is no longer out, each device it covered that is still silent gets
`device_after` x its limit more (its gateway's other devices come back within an interval) and is then raised
by the heartbeat rule on its own.
"""

from __future__ import annotations

from typing import Any

from rules.config import OutageRule
from rules.emit import Emitter, Place
from rules.kinds.base import Context, Evaluator
from rules.kinds.heartbeat import HeartbeatEvaluator
from rules.schedule import Schedule


class OutageEvaluator(Evaluator):
    """State: `silent` and `suppressed` devices (persisted with the open alerts); group sizes, silent counts,
    which groups are out and each silent device's cause are derived from them (`bind`)."""

    kind = "outage"
    rule: OutageRule

    def __init__(self, rule: OutageRule, schedule: Schedule | None) -> None:
        super().__init__(rule, Emitter(rule.id, rule.title.text(), rule.severity, rule.cooldown, True), schedule)
        self.classes = frozenset()  # no message reaches it: the heartbeat rule hands on what it hears
        self.heartbeat: HeartbeatEvaluator | None = None
        self.after: dict[str, float] = {}  # device -> silence after which it counts as silent
        self.chains: dict[str, tuple[str, ...]] = {}  # device -> its groups that can be out, narrowest first
        self.members: dict[str, list[str]] = {}  # group -> its devices, in registry order
        self.places: dict[str, Place] = {}
        self.count: dict[str, int] = {}  # group -> silent devices
        self.parents: dict[str, tuple[str, ...]] = {}  # group -> the wider groups of its devices
        self.first: dict[str, str] = {}  # silent device -> the narrowest group out among its own
        self.firsts: dict[str, dict[str, int]] = {}  # group -> narrower first groups of its silent devices: count
        self.out: set[str] = set()
        self.cause: dict[str, str] = {}  # silent device -> the group whose alert it is part of (`_set_cause`)
        self.causes: dict[str, int] = {}  # group -> silent devices it is the cause of
        self.silent: set[str] = set()
        self.suppressed: set[str] = set()  # devices whose own limit passed while an outage covered them

    # --- wiring --------------------------------------------------------------------------------------------

    def bind(self, heartbeat: HeartbeatEvaluator | None, ctx: Context) -> None:
        """Take the devices of `heartbeat` (after it was rescoped) and derive the groups from the registry."""
        if self.heartbeat is not None and self.heartbeat is not heartbeat:
            self.heartbeat.outage = None
        self.heartbeat = heartbeat
        self.after, self.chains, self.members, self.places = {}, {}, {}, {}
        if heartbeat is None:
            self.count, self.out, self.cause, self.causes, self.parents = {}, set(), {}, {}, {}
            self.first, self.firsts = {}, {}
            return
        heartbeat.outage = self
        groups: dict[str, list[str]] = {}
        chains: dict[str, list[str]] = {}
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
                    g = f"{level}:{node}"
                    chain.append(g)
                    groups.setdefault(g, []).append(dev)
        big = {g for g, devs in groups.items() if len(devs) >= self.rule.min_devices}
        self.members = {g: devs for g, devs in groups.items() if g in big}
        self.chains = {dev: tuple(g for g in chain if g in big) for dev, chain in chains.items()}
        self.after = {dev: after for dev, after in self.after.items() if self.chains[dev]}
        for g, devs in self.members.items():
            self.places[g] = _place_of(g, [p for dev in devs if (p := ctx.device_place(dev)) is not None])
        self.silent &= self.after.keys()
        self.suppressed &= self.after.keys()
        self.count = {g: 0 for g in self.members}
        for dev in self.silent:
            for g in self.chains[dev]:
                self.count[g] += 1
        self.out = {g for g in self.members if self._is_out(g)}
        parents: dict[str, set[str]] = {g: set() for g in self.members}
        for groups_of_dev in self.chains.values():
            for i, g in enumerate(groups_of_dev):
                parents[g].update(groups_of_dev[i + 1 :])
        self.parents = {g: tuple(sorted(wider)) for g, wider in parents.items()}
        self.cause, self.causes, self.first, self.firsts = {}, {}, {}, {}
        for dev in sorted(self.silent):
            self._set_cause(dev)

    def covers(self, device_id: str) -> bool:
        """Whether an outage holds back the device's own offline alert."""
        out = self.out
        return bool(out) and any(g in out for g in self.chains.get(device_id, ()))

    # --- evaluator -----------------------------------------------------------------------------------------

    def start(self, ctx: Context, birth: float) -> None:
        em = self.emitter
        for g in sorted(g for g, n in self.causes.items() if n > 0 and not em.is_open(em.key(g))):
            ctx.timer(max(ctx.watermark, birth) + self.rule.wait, self.id, g)  # its wait, cut by a restart

    def heard(self, dev: str, ts: float, ctx: Context) -> None:
        """The heartbeat rule heard `dev` at `ts` (newer than anything before)."""
        if dev not in self.silent:
            self.suppressed.discard(dev)
            return
        self.silent.discard(dev)
        self.suppressed.discard(dev)
        touched = {c} if (c := self._drop_cause(dev)) is not None else set()
        changed = []
        for g in self.chains[dev]:
            self.count[g] -= 1
            if g in self.out and not self._is_out(g):
                self.out.discard(g)
                changed.append(g)
        self._settle(changed, touched, ts, ctx)

    def went_silent(self, dev: str, at: float, ctx: Context) -> None:
        """The heartbeat rule's timer found `dev` silent for its `after` since `at`."""
        if dev in self.silent or dev not in self.after:
            return
        self.silent.add(dev)
        changed = []
        for g in self.chains[dev]:
            self.count[g] += 1
            if g not in self.out and self._is_out(g):
                self.out.add(g)
                changed.append(g)
        touched = {c} if (c := self._set_cause(dev)) is not None else set()
        self._settle(changed, touched, at, ctx)

    def on_timer(self, key: str, due: float, ctx: Context) -> None:
        """A group's wait ended: its alert goes out if it is still the cause of a silent device."""
        em = self.emitter
        if key in self.members and self.causes.get(key, 0) > 0 and not em.is_open(em.key(key)):
            em.raise_(ctx.out, em.key(key), due, self.places[key], self._details(key))

    def dump(self) -> dict[str, Any]:
        return {**super().dump(), "silent": sorted(self.silent), "suppressed": sorted(self.suppressed)}

    def load(self, data: dict[str, Any]) -> None:
        super().load(data)
        self.silent = {str(d) for d in data.get("silent", ())}
        self.suppressed = {str(d) for d in data.get("suppressed", ())}

    # --- internals -----------------------------------------------------------------------------------------

    def _is_out(self, g: str) -> bool:
        n = self.count[g]
        return n >= self.rule.min_devices and n >= self.rule.min_share * len(self.members[g])

    def _set_cause(self, dev: str) -> str | None:
        """A silent device's cause: its narrowest group out, or the widest wider group out whose silent devices
        have two or more different narrowest groups out (a community down, not one gateway in it)."""
        chain = self.chains[dev]
        out = self.out
        at = next((i for i, g in enumerate(chain) if g in out), None)
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
        """Groups in `changed` went out or came back at `ts`: the causes of their silent devices move; the alerts
        follow for every group whose count of caused devices changed (`touched` and those moved here): open
        while it is the cause of a silent device. Devices no longer covered go back to the heartbeat rule."""
        seen: set[str] = set()
        regroup: list[str] = []
        for g in changed:
            regroup.append(g)
            regroup.extend(self.parents[g])
        # twice: a device's new narrowest group can make a wider group hold two, which moves its other devices
        for _ in range(2):
            seen.clear()
            for g in regroup:
                for dev in self.members[g]:
                    if dev in self.silent and dev not in seen:
                        seen.add(dev)
                        if (old := self._drop_cause(dev)) is not None:
                            touched.add(old)
                        if (new := self._set_cause(dev)) is not None:
                            touched.add(new)
        em = self.emitter
        ordered = sorted(touched)
        for g in ordered:
            key = em.key(g)
            if em.is_open(key) and self.causes.get(g, 0) <= 0:
                em.clear(ctx.out, key, ts, self.places[g], {"silent": self.count[g], "devices": len(self.members[g])})
        for g in ordered:
            if not em.is_open(em.key(g)) and self.causes.get(g, 0) > 0:
                ctx.timer(ts + self.rule.wait, self.id, g)  # raised then if it is still a cause
        hb = self.heartbeat
        if hb is None:
            return
        for g in changed:
            if g in self.out:
                continue
            for dev in self.members[g]:
                if dev in self.suppressed and not self.covers(dev):
                    self.suppressed.discard(dev)
                    hb.release(dev, ts + self.after[dev], ctx)

    def _details(self, g: str) -> dict[str, Any]:
        level, _, node = g.partition(":")
        silent = [d for d in self.members[g] if d in self.silent]
        return {
            "level": level,
            level: node,
            "silent": len(silent),
            "devices": len(self.members[g]),
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
