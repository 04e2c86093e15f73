"""Pure, deterministic generation: (registry, scenario, seed) -> `SimMessage`s in event-time order.

Every device has its own random generator derived from (seed, device id), its behaviour model, a keep-alive
heartbeat (sent when the device has been quiet for its expected interval), network outages during which its
messages are lost (it says `online` when it comes back), and possibly a skewed clock. Streams are merged
lazily, so a week of the whole street streams in constant memory. Payloads are compact JSON with fields in
protocol order, so the same inputs give the same bytes."""

from __future__ import annotations

import heapq
import math
from collections.abc import Iterator
from typing import Any

from devices.classes import offline_limit
from devices.model import Device, DeviceClass
from devices.payloads import Channel
from devices.topics import topic_for
from simulator.groundtruth import MAX_SKEW_S, Truth, truths_of
from simulator.incidents import GROUP_OF, Incident, group_node, is_mains, resolve
from simulator.message import SimMessage, encode, rfc3339
from simulator.models import MODELS, DeviceContext
from simulator.models.base import DAY, Out
from simulator.scenario import Scenario
from simulator.seeding import Rand, rng_for
from simulator.world import World

#: NB-IoT devices report epoch seconds; the others RFC 3339 with +08:00
EPOCH_CLASSES = frozenset({DeviceClass.WATER_METER, DeviceClass.SMOKE_DETECTOR})
#: devices whose keep-alive is a status heartbeat (the others report telemetry on a schedule anyway)
HEARTBEAT_CLASSES = frozenset(
    {DeviceClass.SMOKE_DETECTOR, DeviceClass.ACCESS_CONTROL, DeviceClass.AI_CAMERA, DeviceClass.EBIKE_CHARGER}
)
_Row = tuple[float, int, str, bytes]


class Simulation:
    """One scenario on one registry with one seed. `truths` holds the injected incidents' ground truth at
    once; background truths (outages, low batteries, full bins) are added while `messages()` runs."""

    def __init__(
        self, registry: Any, scenario: Scenario, seed: int | None = None, registers: dict[str, float] | None = None
    ) -> None:
        self.world = registry if isinstance(registry, World) else World(registry)
        self.scenario = scenario
        self.seed = scenario.seed if seed is None else seed
        #: water meters' registers shared with the run before and after this one (`DeviceContext.registers`)
        self.registers = registers
        self.start, self.end = scenario.t0, scenario.t1
        self.incidents: list[Incident] = resolve(self.world, scenario, self.seed)
        k = scenario.background.offline_k
        self.truths: list[Truth] = [t for inc in self.incidents for t in truths_of(inc, self.world, k)]
        self._by_target: dict[str, list[Incident]] = {}
        # (level, node) -> its outages: every device behind a gateway, every mains device of a building (power
        # cut) or community (network outage) silent
        self._group_down: dict[tuple[str, str], list[Incident]] = {}
        for inc in self.incidents:
            self._by_target.setdefault(inc.device_id, []).append(inc)
            level = GROUP_OF.get(inc.kind)
            if level is not None:
                self._group_down.setdefault((level, str(inc.params[level])), []).append(inc)
        self._served = self._households_served()

    def _households_served(self) -> dict[str, int]:
        per_building: dict[str, int] = {}
        for h in self.world.households.values():
            per_building[h.building_id] = per_building.get(h.building_id, 0) + 1
        per_mg: dict[str, int] = {}
        for b in self.world.buildings.values():
            per_mg[b.microgrid_id] = per_mg.get(b.microgrid_id, 0) + per_building.get(b.id, 0)
        served: dict[str, int] = {}
        for d in self.world.by_class[DeviceClass.ACCESS_CONTROL]:
            gate = "小区" in d.label or "gate" in d.label.lower()
            where = self.world.building(d.building_id)
            served[d.id] = per_mg.get(where.microgrid_id, 0) if gate and where else per_building.get(d.building_id, 0)
        return served

    def ground_truth(self) -> list[Truth]:
        """Every record whose window overlaps the period; complete once `messages()` has run."""
        rows = {(t.rule_id, t.target, t.start, t.deadline, t.required): t for t in self.truths}
        return sorted(
            (t for t in rows.values() if t.start < self.end and t.deadline >= self.start),
            key=lambda t: (t.start, t.target, t.rule_id),
        )

    def watched_household_months(self) -> float:
        """Watched households x period in months of 30 days (for false no-water alerts per household-month)."""
        watched = sum(1 for h in self.world.households.values() if h.care.watched)
        return watched * (self.end - self.start) / (30 * 86_400)

    def context(self, device: Device) -> DeviceContext:
        b = self.world.building(device.building_id)
        return DeviceContext(
            device=device,
            household=self.world.household(device.household_id),
            floors=b.floors if b else 1,
            seed=self.seed,
            start=self.start,
            end=self.end,
            rng=rng_for(self.seed, device.id),
            incidents=self._by_target.get(device.id, []),
            background=self.scenario.background,
            served=self._served.get(device.id, 0),
            media_base=self.scenario.media_base,
            truths=self.truths,
            registers=self.registers,
        )

    def messages(self, devices: list[str] | None = None) -> Iterator[SimMessage]:
        """All messages in time order (ties: device id order). `devices` limits the run to some devices."""
        chosen = [self.world.devices[i] for i in sorted(devices)] if devices else list(self.world.devices.values())
        streams = [self._device_rows(i, d) for i, d in enumerate(chosen)]
        for t, _, topic, payload in heapq.merge(*streams):
            yield SimMessage(t, topic, payload)

    def device_messages(self, device_id: str) -> Iterator[SimMessage]:
        for t, _, topic, payload in self._device_rows(0, self.world.devices[device_id]):
            yield SimMessage(t, topic, payload)

    # --- one device ---------------------------------------------------------------------------------------

    def _outages(self, device: Device) -> list[tuple[float, float]]:
        """Network outages of the device: background ones (not on incident targets) and injected silences."""
        out = [
            (i.start, i.end) for i in self._by_target.get(device.id, []) if i.kind in ("meter_silent", "device_offline")
        ]
        for level in ("gateway", "building", "community") if self._group_down else ():
            if level != "gateway" and not is_mains(device):
                continue  # a power cut or a network outage: battery (NB-IoT, LoRa) devices keep reporting
            node = group_node(self.world, device, level)
            out += [(i.start, i.end) for i in self._group_down.get((level, node or ""), [])]
        if device.id in self._by_target:
            return out
        rng = Rand(self.seed, device.id, "outage")
        weeks = (self.end - self.start) / (7 * DAY)
        k = self.scenario.background.offline_k
        for _ in range(rng.poisson(self.scenario.background.offline_per_week * weeks)):
            s = rng.uniform(self.start, self.end)
            dur = rng.uniform(120, 900) if rng.random() < 0.5 else rng.lognormal(math.log(4 * 3600), 0.8)
            out.append((s, s + dur))
            if dur > offline_limit(device, k) - device.expected_interval_s:
                self.truths.append(Truth.background("outage", "device_offline", device.id, "device", s, s + dur + 60))
        merged: list[tuple[float, float]] = []
        for s, e in sorted(out):
            if merged and s <= merged[-1][1]:
                merged[-1] = (merged[-1][0], max(merged[-1][1], e))
            else:
                merged.append((s, e))
        return merged

    def _skew(self, device: Device) -> float:
        rng = Rand(self.seed, device.id, "skew")
        if device.id in self._by_target or rng.random() >= self.scenario.background.skew_fraction:
            return 0.0
        return max(-MAX_SKEW_S, min(MAX_SKEW_S, rng.normal(0, 60)))

    def _device_rows(self, index: int, device: Device) -> Iterator[_Row]:
        ctx = self.context(device)
        place = self.world.place(device.id)
        community = place.community_id
        topics = {ch: topic_for(community, device.id, ch) for ch in Channel}
        skew = self._skew(device)
        epoch = device.device_class in EPOCH_CLASSES
        seq = Rand(self.seed, device.id, "seq").integers(0, 1_000_000)
        outages = self._outages(device)
        for t, ch, body in _with_online(_with_heartbeats(ctx, MODELS[device.device_class](ctx)), outages, self.end):
            dev_t = t + skew
            payload: dict[str, Any] = {"ts": int(dev_t) if epoch else rfc3339(dev_t), "seq": seq}  # protocol order
            if "frozen" in body:
                body = dict(body)
                body["frozen"] = [
                    {"ts": int(f["ts"] + skew) if epoch else rfc3339(f["ts"] + skew), "volume_m3": f["volume_m3"]}
                    for f in body["frozen"]
                ]
            payload.update(body)
            seq += 1
            yield round(t, 3), index, topics[ch], encode(payload)


def _with_heartbeats(ctx: DeviceContext, stream: Iterator[Out]) -> Iterator[Out]:
    """Insert a status heartbeat whenever the device has been quiet for its expected interval."""
    dev = ctx.device
    if dev.device_class not in HEARTBEAT_CLASSES:
        yield from stream
        return
    interval = float(dev.expected_interval_s)
    rng = Rand(ctx.seed, dev.id, "heartbeat")
    rssi = rng.uniform(-105, -60)
    next_hb = ctx.start + rng.uniform(0, interval)
    for out in stream:
        while next_hb < out[0]:
            yield next_hb, Channel.STATUS, _status(ctx, next_hb, rssi, rng)
            next_hb += interval * rng.uniform(0.995, 1.0)
        yield out
        next_hb = out[0] + interval * rng.uniform(0.995, 1.0)
    while next_hb < ctx.end:
        yield next_hb, Channel.STATUS, _status(ctx, next_hb, rssi, rng)
        next_hb += interval * rng.uniform(0.995, 1.0)


def _status(ctx: DeviceContext, t: float, rssi: float, rng: Rand) -> dict[str, Any]:
    body: dict[str, Any] = ctx.status(t) if ctx.status else {"state": "heartbeat"}
    body["rssi_dbm"] = round(rssi + rng.normal(0, 2), 0)
    return body


def _with_online(stream: Iterator[Out], outages: list[tuple[float, float]], end: float) -> Iterator[Out]:
    """Drop what is sent during an outage; the device says `online` when it is back."""
    if not outages:
        yield from stream
        return
    i = 0
    for out in stream:
        t = out[0]
        while i < len(outages) and outages[i][1] <= t:
            back = outages[i][1]
            i += 1
            if back < end:
                yield back, Channel.STATUS, {"state": "online"}
        if i < len(outages) and outages[i][0] <= t < outages[i][1]:
            continue
        yield out
