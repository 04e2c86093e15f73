"""The registry at a glance, for operators and street duty staff."""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel, Field

from alerts.api.errors import error_responses
from cwatch.api.deps import Ops, OpsViewer

router = APIRouter(tags=["registry"])


class RegistrySummaryOut(BaseModel):
    communities: int
    microgrids: int
    buildings: int
    households: int
    devices: int
    devices_by_class: dict[str, int] = Field(description="device class -> count")


@router.get("/registry/summary", responses=error_responses(401, 403))
async def registry_summary(ops: Ops, _viewer: OpsViewer) -> RegistrySummaryOut:
    """Counts of the registry's nodes and devices."""
    reg = ops.registry()
    by_class: dict[str, int] = {}
    for d in reg.devices.values():
        by_class[d.device_class.value] = by_class.get(d.device_class.value, 0) + 1
    return RegistrySummaryOut(
        communities=len(reg.communities),
        microgrids=len(reg.microgrids),
        buildings=len(reg.buildings),
        households=len(reg.households),
        devices=len(reg.devices),
        devices_by_class=by_class,
    )
