"""The site plan's content: the buildings of a scope with their optional coordinates (`buildings.csv` lat/lon),
the micro-grids they lie in with their grid and community, and a building's units for the drill-down. Pure:
reads the registry handed in (its `communities`, `grids`, `microgrids`, `buildings`, `households` mappings)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from devices.model import Building, Household


@dataclass(frozen=True, slots=True)
class Area:
    """A micro-grid with the grid and community above it (the wall's counts roll up along these)."""

    microgrid_id: str
    microgrid_name: str
    grid_id: str | None
    grid_name: str | None
    community_id: str | None
    community_name: str | None


@dataclass(frozen=True, slots=True)
class PlanBuilding:
    id: str
    name: str
    microgrid_id: str
    floors: int
    lat: float | None
    lon: float | None
    households: tuple[str, ...]
    lone_elderly: int


@dataclass(frozen=True, slots=True)
class Unit:
    household_id: str
    unit: str
    floor: int
    lone_elderly: bool


@dataclass(frozen=True, slots=True)
class SitePlan:
    areas: list[Area]
    buildings: list[PlanBuilding]


def _mapping(registry: Any, name: str) -> Mapping[str, Any]:
    items = getattr(registry, name, None)
    return items if isinstance(items, Mapping) else {}


def area_of(registry: Any, microgrid_id: str) -> Area:
    mg = _mapping(registry, "microgrids").get(microgrid_id)
    grid = _mapping(registry, "grids").get(getattr(mg, "grid_id", ""))
    community = _mapping(registry, "communities").get(getattr(grid, "community_id", ""))
    return Area(
        microgrid_id,
        getattr(mg, "name", microgrid_id),
        getattr(grid, "id", None),
        getattr(grid, "name", None),
        getattr(community, "id", None),
        getattr(community, "name", None),
    )


def site_plan(registry: Any, visible: Callable[[str], bool]) -> SitePlan:
    """The areas and buildings of the micro-grids `visible` accepts, in registry order."""
    by_building: dict[str, list[Household]] = {}
    for h in _mapping(registry, "households").values():
        if isinstance(h, Household):
            by_building.setdefault(h.building_id, []).append(h)
    areas = [area_of(registry, mg) for mg in _mapping(registry, "microgrids") if visible(mg)]
    shown = {a.microgrid_id for a in areas}
    buildings = [
        PlanBuilding(
            b.id,
            b.name,
            b.microgrid_id,
            b.floors,
            b.lat,
            b.lon,
            tuple(h.id for h in by_building.get(b.id, ())),
            sum(h.care.watched for h in by_building.get(b.id, ())),
        )
        for b in _mapping(registry, "buildings").values()
        if isinstance(b, Building) and b.microgrid_id in shown
    ]
    return SitePlan(areas, buildings)


def building_units(registry: Any, building_id: str) -> tuple[Building, list[Unit]] | None:
    """The building and its households, top floor first (as the building stands); None when unknown."""
    b = _mapping(registry, "buildings").get(building_id)
    if not isinstance(b, Building):
        return None
    units = [
        Unit(h.id, h.unit, h.floor, h.care.watched)
        for h in _mapping(registry, "households").values()
        if isinstance(h, Household) and h.building_id == building_id
    ]
    units.sort(key=lambda u: (-u.floor, u.unit))
    return b, units
