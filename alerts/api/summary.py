"""The summary strip: counts and mean times in the caller's scope."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from alerts.api.deps import Api, Viewer
from alerts.api.errors import error_responses
from alerts.api.models import SummaryOut
from alerts.api.silences import zone_name

router = APIRouter(tags=["summary"])


@router.get("/summary", responses=error_responses(401))
async def summary(
    api: Api, viewer: Viewer, microgrid: Annotated[str | None, Query(max_length=64)] = None
) -> SummaryOut:
    """Counts in your scope (`microgrid` narrows it; outside your scope counts nothing) and the mean time to
    acknowledge / resolve of tickets created in the last 7 days (null without data). `at` is the service
    clock, which the board uses to show ages right when the service runs on simulated time; `tz` the street's
    time zone, the one of silences' times and of the wall's clock."""
    out = await api.service.summary(viewer, microgrid)
    return SummaryOut(**out, at=api.service.clock.now(), tz=zone_name(api.service.silences.tz))
