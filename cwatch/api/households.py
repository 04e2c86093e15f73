"""Households: "away confirmed" (travel, hospital), which the absence rules respect."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from alerts.api.deps import Viewer
from alerts.api.errors import error_responses
from cwatch.api.deps import Ops
from devices.model import Role

router = APIRouter(tags=["households"])


class AwayBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    until: AwareDatetime = Field(description="RFC 3339 with an offset")


class AwayOut(BaseModel):
    household_id: str
    away_until: str = Field(description="RFC 3339, as given")


@router.post("/households/{household_id}/away", status_code=202, responses=error_responses(401, 404))
async def household_away(household_id: str, body: AwayBody, ops: Ops, viewer: Viewer) -> AwayOut:
    """ "Away confirmed" until a date: the absence rules stay silent until then and an open no-water alert is
    cleared. Anyone whose scope holds the household may record it."""
    reg = ops.registry()
    if household_id not in reg.households or not (
        viewer.role is Role.OPERATOR or reg.is_within(household_id, viewer.scope_id)
    ):
        raise HTTPException(status_code=404, detail=f"household {household_id!r} not found")
    if ops.answers is None:
        raise HTTPException(status_code=503, detail="the rule engine is not running in this process")
    ops.answers.answer(household_id, body.until.timestamp())
    return AwayOut(household_id=household_id, away_until=body.until.isoformat())
