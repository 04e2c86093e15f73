"""Placing a scenario's incidents on the registry: which device or household each one happens to, and when.

Targets that the scenario leaves open are drawn from a generator seeded by (seed, incident index), among the
devices that can physically show the incident (an elderly fall needs a watched household whose meter reports
at least hourly), so the same scenario always hits the same targets."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from devices.classes import CLASSES, Power, offline_limit
from devices.model import Device, DeviceClass
from simulator.errors import IncidentError
from simulator.roles import CameraRole, camera_role
from simulator.scenario import IncidentSpec, Scenario
from simulator.seeding import rng_for
from simulator.timeparse import parse_duration, parse_instant
from simulator.world import World

DEFAULT_DURATION_S: dict[str, float] = {
    "elderly_fall": 24 * 3600,
    "kitchen_fire": 40 * 60,
    "thrown_object": 0,
    "door_forced": 120,
    "door_held_open": 15 * 60,
    "face_fail_burst": 3 * 60,
    "duress": 60,
    "tap_left_running": 4 * 3600,
    "meter_silent": 0,  # the offline limit + 2 h, see default_duration
    "device_offline": 0,
    "fire_lane_blocked": 40 * 60,
    "ebike_in_elevator": 3 * 60,
    "shed_smoke": 15 * 60,
    "gas_leak": 30 * 60,
    "manhole_open": 2 * 3600,
    "trash_fire": 20 * 60,
    "water_leak": 6 * 3600,
    "charger_overheat": 15 * 60,
    "gateway_outage": 30 * 3600,  # longer than a water meter's own offline limit (a day)
    "power_cut": 3 * 3600,  # a building's mains devices dark, far longer than their own limit (15 min)
    "network_outage": 2 * 3600,  # a community's mains (wired) devices cut off
}
#: incidents that silence a group of devices: the group level their `gateway_offline` ticket names
GROUP_OF: dict[str, str] = {"gateway_outage": "gateway", "power_cut": "building", "network_outage": "community"}
FREQUENT_S = 3600  # meters must report at least hourly for no-water and continuous-flow detection


@dataclass(frozen=True, slots=True)
class Incident:
    """A placed incident. `device_id` is the device whose messages show it (the household's meter or smoke
    detector for household incidents)."""

    index: int
    kind: str
    start: float
    end: float
    device_id: str
    household_id: str | None = None
    floor: int | None = None
    note: str = ""
    params: dict[str, Any] = field(default_factory=dict)


def _accepts(kind: str, world: World, bg_k: float) -> Callable[[Device], bool]:
    """The predicate a device must satisfy to show an incident of `kind`."""
    cls = DeviceClass

    def hh_ok(d: Device) -> bool:
        return d.household_id is not None and d.household_id in world.households

    def frequent_meter(d: Device) -> bool:
        return d.device_class is cls.WATER_METER and d.expected_interval_s <= FREQUENT_S and hh_ok(d)

    def watched(d: Device) -> bool:
        h = world.household(d.household_id)
        return h is not None and h.care.watched

    def role(r: CameraRole) -> Callable[[Device], bool]:
        return lambda d: d.device_class is cls.AI_CAMERA and camera_role(d) is r

    def of(c: DeviceClass) -> Callable[[Device], bool]:
        return lambda d: d.device_class is c

    table: dict[str, Callable[[Device], bool]] = {
        "elderly_fall": lambda d: frequent_meter(d) and watched(d),
        "tap_left_running": lambda d: frequent_meter(d) and not watched(d),
        "water_leak": lambda d: d.device_class is cls.WATER_METER and hh_ok(d) and not watched(d),
        "meter_silent": lambda d: frequent_meter(d) and not watched(d),
        "kitchen_fire": lambda d: d.device_class is cls.SMOKE_DETECTOR and hh_ok(d),
        "thrown_object": role(CameraRole.FACADE),
        "fire_lane_blocked": role(CameraRole.FIRE_LANE),
        "ebike_in_elevator": role(CameraRole.ELEVATOR),
        "shed_smoke": role(CameraRole.SHED),
        "door_forced": of(cls.ACCESS_CONTROL),
        "door_held_open": of(cls.ACCESS_CONTROL),
        "face_fail_burst": of(cls.ACCESS_CONTROL),
        "duress": of(cls.ACCESS_CONTROL),
        "gas_leak": of(cls.GAS_DETECTOR),
        "manhole_open": of(cls.MANHOLE_COVER),
        "trash_fire": of(cls.TRASH_BIN),
        "charger_overheat": of(cls.EBIKE_CHARGER),
        "device_offline": lambda d: d.device_class not in (cls.WATER_METER,) and d.expected_interval_s <= 6 * 3600,
        # a meter behind a LoRa gateway: the whole gateway goes down (`Incident.params["gateway"]`)
        "gateway_outage": lambda d: frequent_meter(d) and d.gateway_id is not None,
        # a mains device: every mains device of its building (power cut) or community (network) goes dark
        "power_cut": mains_in_group(world, "building"),
        "network_outage": mains_in_group(world, "community"),
    }
    return table[kind]


def is_mains(d: Device) -> bool:
    return CLASSES[d.device_class].power is Power.MAINS


def group_node(world: World, device: Device, level: str) -> str | None:
    """The device's gateway, building or community id (`level`)."""
    if level == "gateway":
        return device.gateway_id
    if level == "building":
        return device.building_id
    return world.place(device.id).community_id


def mains_in_group(world: World, level: str) -> Callable[[Device], bool]:
    """A mains device whose building or community (`level`) has at least 3 of them: a group whose outage is
    plainly one cause (the shipped rule asks for 2 and 60 % of them, docs/rules.md)."""
    counts: dict[str | None, int] = {}
    for d in world.devices.values():
        if is_mains(d):
            node = group_node(world, d, level)
            counts[node] = counts.get(node, 0) + 1
    return lambda d: is_mains(d) and counts.get(group_node(world, d, level), 0) >= 3


def _microgrid(world: World, device: Device) -> str | None:
    building = world.buildings.get(device.building_id)
    return building.microgrid_id if building is not None else None


def _building_filter(spec: IncidentSpec, world: World) -> Callable[[Device], bool]:
    if spec.building is None:
        return lambda d: True
    ids = sorted(world.buildings) or sorted({d.building_id for d in world.devices.values()})
    if isinstance(spec.building, int):
        if not 1 <= spec.building <= len(ids):
            raise IncidentError(f"incident {spec.kind}: building {spec.building} is not in 1..{len(ids)}")
        wanted = ids[spec.building - 1]
    else:
        wanted = spec.building
    return lambda d: d.building_id == wanted


def default_duration(kind: str, device: Device, offline_k: float) -> float:
    if kind in ("meter_silent", "device_offline"):
        return offline_limit(device, offline_k) + 2 * 3600
    return DEFAULT_DURATION_S[kind]


def resolve(world: World, scenario: Scenario, seed: int | None = None) -> list[Incident]:
    """Place every incident of the scenario; raises IncidentError when one has no possible target."""
    seed = scenario.seed if seed is None else seed
    placed: list[Incident] = []
    used: set[str] = set()
    devices = list(world.devices.values())
    for index, spec in enumerate(scenario.incident_specs()):
        start = parse_instant(spec.at, scenario.start)
        accepts = _accepts(spec.kind, world, scenario.background.offline_k)
        in_building = _building_filter(spec, world)
        device: Device | None = None
        if spec.target is not None:
            if spec.target in world.devices:
                device = world.devices[spec.target]
            else:
                device = next((d for d in world.by_household.get(spec.target, []) if accepts(d)), None)
            if device is None or not accepts(device):
                raise IncidentError(f"incident {index + 1} ({spec.kind}): target {spec.target!r} cannot show it")
        else:
            candidates = [d for d in devices if accepts(d) and in_building(d) and _present(world, d, start)]
            if spec.floor is not None and spec.kind == "thrown_object":
                candidates = [d for d in candidates if _floors(world, d) >= spec.floor]
            if spec.microgrid is not None:
                candidates = [d for d in candidates if _microgrid(world, d) == spec.microgrid] or candidates
            fresh = [d for d in candidates if d.id not in used and (d.household_id or d.id) not in used]
            pool = fresh or candidates
            if not pool:
                raise IncidentError(f"incident {index + 1} ({spec.kind}): no device in the registry can show it")
            rng = rng_for(seed, "incident", index, spec.kind)
            device = pool[int(rng.integers(len(pool)))]
        used.add(device.id)
        if device.household_id:
            used.add(device.household_id)
        duration = (
            parse_duration(spec.duration)
            if spec.duration is not None
            else default_duration(spec.kind, device, scenario.background.offline_k)
        )
        floor = spec.floor
        if spec.kind == "thrown_object" and floor is None:
            rng = rng_for(seed, "incident-floor", index)
            floor = int(rng.integers(3, max(4, _floors(world, device) + 1)))
        placed.append(
            Incident(
                index=index,
                kind=spec.kind,
                start=start,
                end=min(start + duration, scenario.t1 + 86_400),
                device_id=device.id,
                household_id=device.household_id,
                floor=floor,
                note=spec.note,
                params=_group_params(world, spec.kind, device),
            )
        )
    return placed


def _group_params(world: World, kind: str, device: Device) -> dict[str, Any]:
    """An outage incident's group: {"gateway" | "building" | "community": its id}."""
    level = GROUP_OF.get(kind)
    return {} if level is None else {level: group_node(world, device, level)}


def _present(world: World, device: Device, start: float) -> bool:
    """The household is at home from `start` on (a resident away until later cannot fall at home)."""
    h = world.household(device.household_id)
    return h is None or h.care.away_until is None or h.care.away_until.timestamp() <= start


def _floors(world: World, device: Device) -> int:
    b = world.building(device.building_id)
    return b.floors if b is not None else 6
