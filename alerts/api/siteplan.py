"""The site plan: buildings placed by their coordinates, the areas above them, a building's units. Scoped like
tickets (a building outside the caller's scope is not found)."""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated

from fastapi import APIRouter, Path
from pydantic import BaseModel, Field

from alerts.api.deps import Api, Viewer
from alerts.api.errors import error_responses
from alerts.errors import NotFoundError
from alerts.scope import in_scope
from alerts.siteplan import building_units, site_plan
from core.i18n import tr

router = APIRouter(tags=["site plan"])


class AreaOut(BaseModel):
    microgrid_id: str
    microgrid_name: str
    grid_id: str | None
    grid_name: str | None
    community_id: str | None
    community_name: str | None


class PlanBuildingOut(BaseModel):
    id: str
    name: str
    microgrid_id: str
    floors: int
    lat: float | None = Field(description="WGS-84; null: not placed (buildings.csv has no coordinates)")
    lon: float | None
    households: list[str] = Field(description="ids of its households (tickets name a household, not always a building)")
    lone_elderly: int = Field(description="households with a watched lone elderly resident")


class SitePlanOut(BaseModel):
    areas: list[AreaOut] = Field(description="the micro-grids in your scope with their grid and community")
    buildings: list[PlanBuildingOut]
    tile_url: str | None = Field(description="a map tile template ({z}/{x}/{y}) to draw under the plan; null: none")


class UnitOut(BaseModel):
    household_id: str
    unit: str
    floor: int
    lone_elderly: bool


class BuildingUnitsOut(BaseModel):
    id: str
    name: str
    microgrid_id: str
    floors: int
    units: list[UnitOut] = Field(description="top floor first")


BuildingId = Annotated[str, Path(min_length=1, max_length=64)]


@router.get("/siteplan", responses=error_responses(401))
async def get_site_plan(api: Api, viewer: Viewer) -> SitePlanOut:
    """The buildings of your scope with their coordinates (from `buildings.csv`), and the areas they lie in."""
    hierarchy = api.registry()
    plan = site_plan(hierarchy, lambda mg: in_scope(viewer, mg, hierarchy))
    return SitePlanOut(
        areas=[AreaOut(**asdict(a)) for a in plan.areas],
        buildings=[PlanBuildingOut(**asdict(b)) for b in plan.buildings],
        tile_url=api.tile_url,
    )


@router.get("/siteplan/buildings/{building_id}", responses=error_responses(401, 404))
async def get_building(building_id: BuildingId, api: Api, viewer: Viewer) -> BuildingUnitsOut:
    """A building's households (the drill-down from the plan), top floor first."""
    hierarchy = api.registry()
    found = building_units(hierarchy, building_id)
    if found is None or not in_scope(viewer, found[0].microgrid_id, hierarchy):
        raise NotFoundError(tr("errors.building_not_found", id=building_id))
    b, units = found
    return BuildingUnitsOut(
        id=b.id,
        name=b.name,
        microgrid_id=b.microgrid_id,
        floors=b.floors,
        units=[UnitOut(**asdict(u)) for u in units],
    )
