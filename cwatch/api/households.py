"""Households: "away confirmed" (travel, hospital), which the absence rules respect: bounded (at most
`care.away_max_days` ahead), with who set it and why, stored and audited."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, HTTPException, Path, Request
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from alerts.api.deps import Viewer, client_address
from alerts.api.errors import error_responses
from alerts.audit import Who
from alerts.away import Away
from alerts.model import Account
from core.i18n import tr
from cwatch.api.deps import Ops, OpsApi
from devices.model import Household, Role

router = APIRouter(tags=["households"])

HouseholdId = Annotated[str, Path(min_length=1, max_length=64)]


class AwayBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    until: AwareDatetime = Field(description="RFC 3339 with an offset; after now, at most care.away_max_days ahead")
    # not blank: checked by `HouseholdAways.set`, which says so in the reader's words
    reason: str = Field(max_length=500, description="why: travel, hospital stay, ... (not blank)")


class AwayOut(BaseModel):
    household_id: str
    away_until: str = Field(description="RFC 3339 (UTC)")
    until: float = Field(description="epoch seconds")
    reason: str
    set_by: str = Field(description="who recorded it")
    set_at: float


class RegistryEndOut(BaseModel):
    used_at: float = Field(description="event time (epoch seconds): the use that ended it began from here")
    read_at: float | None = Field(description="when the meter's reading that showed the use was taken")
    device_id: str | None = Field(description="the water meter whose reading showed the use")
    device_label: str | None = Field(
        default=None, description="that meter's label in the registry, while it is still the household's meter"
    )
    ended_at: float = Field(description="when the service recorded the end (epoch seconds)")


class AwayStateOut(BaseModel):
    household_id: str
    away: AwayOut | None = Field(description="the away in force, or null")
    registry_until: float | None = Field(
        default=None,
        description="the registry's care `away_until` (households.csv, imported by operators; epoch seconds) "
        "while it is later than now: the absence rules respect it too, unless `registry_ended` says water use "
        "ended it",
    )
    registry_reason: str | None = Field(
        default=None,
        description="why the registry holds it away (households.csv's `away_reason`; who imported it: the audit "
        "log's `registry.away`), while `registry_until` is set",
    )
    registry_ended: RegistryEndOut | None = Field(
        default=None,
        description="while `registry_until` is set: water use ended that away in the rules (`away_ends_on_use`), "
        "when and by which reading; the away is over though the registry still lists it (audited "
        "`household.away_end` by `system`, `registry: true`); null: not ended",
    )


def _away_out(a: Away) -> AwayOut:
    iso = datetime.fromtimestamp(a.until, UTC).isoformat()
    return AwayOut(
        household_id=a.household_id, away_until=iso, until=a.until, reason=a.reason, set_by=a.set_by, set_at=a.set_at
    )


def _visible(ops: OpsApi, viewer: Account, household_id: str) -> Household:
    """The household; 404 unless it exists within the viewer's scope (out of scope reads as missing). Callers
    read it from here: the registry may be replaced while they await the store."""
    reg = ops.registry()
    household = reg.households.get(household_id)
    if household is None or not (viewer.role is Role.OPERATOR or reg.is_within(household_id, viewer.scope_id)):
        raise HTTPException(status_code=404, detail=tr("errors.household_not_found", id=household_id))
    return household


@router.get("/households/{household_id}/away", responses=error_responses(401, 404))
async def get_away(household_id: HouseholdId, ops: Ops, viewer: Viewer) -> AwayStateOut:
    """Whether the household is recorded away now, until when, why and by whom; and whether the registry holds
    it away (`registry_until`), which the absence rules respect as well, unless water use ended it
    (`registry_ended`: when, by which reading)."""
    reg = ops.registry()
    care = _visible(ops, viewer, household_id).care
    now = ops.clock.now()
    away = await ops.aways.get(household_id, now)
    listed = care.away_until
    registry_until = listed.timestamp() if listed is not None and listed.timestamp() > now else None
    reason = (care.away_reason or None) if registry_until is not None else None
    ended = None
    if registry_until is not None and (end := await ops.aways.registry_end(household_id, registry_until)):
        meter = reg.devices.get(end.device_id) if end.device_id is not None else None
        ended = RegistryEndOut(
            used_at=end.used_at,
            read_at=end.read_at,
            device_id=end.device_id,
            # its label only while it is this household's: moved elsewhere, the label describes another home
            device_label=(meter.label or None) if meter is not None and meter.household_id == household_id else None,
            ended_at=end.ended_at,
        )
    shown = _away_out(away) if away else None
    return AwayStateOut(
        household_id=household_id,
        away=shown,
        registry_until=registry_until,
        registry_reason=reason,
        registry_ended=ended,
    )


@router.post("/households/{household_id}/away", status_code=202, responses=error_responses(401, 404))
async def household_away(
    household_id: HouseholdId, body: AwayBody, request: Request, ops: Ops, viewer: Viewer
) -> AwayOut:
    """ "Away confirmed" until a date (at most `care.away_max_days`, 30 by default): the absence rules stay
    silent until then and an open no-water alert is cleared. Anyone whose scope holds the household may
    record it; it is audited (`household.away`)."""
    _visible(ops, viewer, household_id)
    if ops.answers is None:
        raise HTTPException(status_code=503, detail=tr("errors.rules_not_running"))
    who = Who.account(viewer, client_address(request))
    away = await ops.aways.set(household_id, body.until.timestamp(), body.reason, who, ops.clock.now())
    ops.answers.answer(household_id, away.until)
    return _away_out(away)


@router.delete("/households/{household_id}/away", status_code=204, responses=error_responses(401, 404, 409))
async def end_away(household_id: HouseholdId, request: Request, ops: Ops, viewer: Viewer) -> None:
    """The household is back early: the absence rules watch it again from now (audited `household.away_end`).
    409 `not_away` when no away is recorded: the rules are not told (their answer would count as a visit and
    restart the household's absence clock)."""
    _visible(ops, viewer, household_id)
    if ops.answers is None:
        raise HTTPException(status_code=503, detail=tr("errors.rules_not_running"))
    await ops.aways.end(household_id, Who.account(viewer, client_address(request)), ops.clock.now())
    ops.answers.answer(household_id, None)
