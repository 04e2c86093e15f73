"""The simulator's read-only view of a device registry: the indexes the behaviour models need, built once.

Kept behind this seam so the models depend on a handful of look-ups, not on how `devices.registry` stores
things; iteration orders are sorted by id, so generation never depends on dict or set order."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from devices.model import Building, Device, DeviceClass, Household


class RegistryLike(Protocol):
    """What the simulator reads from `devices.registry.Registry`."""

    def placement(self, device_id: str) -> Any: ...


def _values(obj: Any) -> list[Any]:
    if obj is None:
        return []
    if isinstance(obj, Mapping):
        return list(obj.values())
    if callable(obj):
        obj = obj()
    if isinstance(obj, Mapping):
        return list(obj.values())
    if isinstance(obj, Iterable):
        return list(obj)
    return []


@dataclass(frozen=True, slots=True)
class Place:
    """Where a device is: the community (for its topic) and the building."""

    community_id: str
    microgrid_id: str
    building_id: str


class World:
    """Indexes over a registry: devices by id and class, households, buildings, placement."""

    def __init__(self, registry: Any) -> None:
        self.registry = registry
        devices: list[Device] = sorted(_values(getattr(registry, "devices", None)), key=lambda d: d.id)
        self.devices: dict[str, Device] = {d.id: d for d in devices}
        self.households: dict[str, Household] = {
            h.id: h for h in sorted(_values(getattr(registry, "households", None)), key=lambda h: h.id)
        }
        self.buildings: dict[str, Building] = {
            b.id: b for b in sorted(_values(getattr(registry, "buildings", None)), key=lambda b: b.id)
        }
        self.by_class: dict[DeviceClass, list[Device]] = {c: [] for c in DeviceClass}
        self.by_household: dict[str, list[Device]] = {}
        self.by_building: dict[str, list[Device]] = {}
        for d in devices:
            self.by_class[d.device_class].append(d)
            if d.household_id:
                self.by_household.setdefault(d.household_id, []).append(d)
            self.by_building.setdefault(d.building_id, []).append(d)
        self._places: dict[str, Place] = {}

    def place(self, device_id: str) -> Place:
        """Placement of a device; cached because the registry may compute it."""
        p = self._places.get(device_id)
        if p is None:
            raw = self.registry.placement(device_id)
            dev = self.devices[device_id]
            community = _attr(raw, "community_id", "community")
            microgrid = _attr(raw, "microgrid_id", "microgrid")
            p = Place(community_id=community, microgrid_id=microgrid, building_id=dev.building_id)
            self._places[device_id] = p
        return p

    def household(self, household_id: str | None) -> Household | None:
        return self.households.get(household_id) if household_id else None

    def building(self, building_id: str) -> Building | None:
        return self.buildings.get(building_id)

    def meter_of(self, household_id: str) -> Device | None:
        for d in self.by_household.get(household_id, []):
            if d.device_class is DeviceClass.WATER_METER:
                return d
        return None

    def household_device(self, household_id: str, cls: DeviceClass) -> Device | None:
        for d in self.by_household.get(household_id, []):
            if d.device_class is cls:
                return d
        return None


def _attr(obj: Any, name: str, alt: str) -> str:
    """Read an id from a placement object, dict or nested model (`community.id`)."""
    if isinstance(obj, Mapping):
        v = obj.get(name, obj.get(alt))
    else:
        v = getattr(obj, name, None)
        if v is None:
            v = getattr(obj, alt, None)
    if v is not None and not isinstance(v, str):
        v = getattr(v, "id", v)
    return str(v) if v is not None else ""
