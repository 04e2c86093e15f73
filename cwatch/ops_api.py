"""Operator endpoints under `/api/v1` that belong to no single package: dead letters and the registry summary.

Only operators and street duty staff may read them: dead letters carry raw device payloads from any grid."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from pydantic import AwareDatetime, BaseModel, ConfigDict
from sqlalchemy.ext.asyncio import AsyncEngine

from alerts.accounts import AccountStore
from alerts.api import COOKIE
from alerts.model import Account
from cwatch.answers import AbsenceAnswers
from devices.model import Role
from devices.registry import Registry
from ingest.deadletter import DeadLetters
from ingest.refusals import RefusalReason

OPS_ROLES = frozenset({Role.OPERATOR, Role.STREET_DUTY})


class AwayBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    until: AwareDatetime


def build_ops_router(
    engine: AsyncEngine,
    accounts: AccountStore,
    registry: Callable[[], Registry],
    answers: AbsenceAnswers | None = None,
) -> APIRouter:
    router = APIRouter()
    deadletters = DeadLetters(engine)

    async def signed_in(request: Request) -> Account:
        header = request.headers.get("authorization", "")
        token = header[7:].strip() if header.lower().startswith("bearer ") else request.cookies.get(COOKIE)
        return await accounts.authenticate(token)

    async def operator(request: Request) -> Account:
        account = await signed_in(request)
        if account.role not in OPS_ROLES:
            raise HTTPException(status_code=403, detail="operators and street duty staff only")
        return account

    @router.get("/deadletters")
    async def list_deadletters(
        _viewer: Account = Depends(operator),
        limit: Annotated[int, Query(ge=1, le=1000)] = 100,
        reason: RefusalReason | None = None,
    ) -> dict[str, Any]:
        """Refused device messages, newest first, with the raw payload and the reason."""
        rows = await deadletters.list(limit=limit, reason=reason)
        return {
            "items": [
                {
                    "id": r.id,
                    "received_at": r.received_at,
                    "topic": r.topic,
                    "reason": str(r.reason),
                    "detail": r.detail,
                    "payload": r.payload_text,
                }
                for r in rows
            ],
            "counts": await deadletters.counts(),
        }

    @router.get("/registry/summary")
    async def registry_summary(_viewer: Account = Depends(operator)) -> dict[str, Any]:
        reg = registry()
        by_class: dict[str, int] = {}
        for d in reg.devices.values():
            by_class[d.device_class.value] = by_class.get(d.device_class.value, 0) + 1
        return {
            "communities": len(reg.communities),
            "microgrids": len(reg.microgrids),
            "buildings": len(reg.buildings),
            "households": len(reg.households),
            "devices": len(reg.devices),
            "devices_by_class": by_class,
        }

    @router.post("/households/{household_id}/away", status_code=202)
    async def household_away(household_id: str, body: AwayBody, viewer: Account = Depends(signed_in)) -> dict[str, Any]:
        """ "Away confirmed" (travel, hospital) until a date: the absence rules stay silent until then and an
        open no-water alert is cleared. Anyone whose scope holds the household may record it."""
        reg = registry()
        if household_id not in reg.households or not (
            viewer.role is Role.OPERATOR or reg.is_within(household_id, viewer.scope_id)
        ):
            raise HTTPException(status_code=404, detail=f"household {household_id!r} not found")
        if answers is None:
            raise HTTPException(status_code=503, detail="the rule engine is not running in this process")
        answers.answer(household_id, body.until.timestamp())
        return {"household_id": household_id, "away_until": body.until.isoformat()}

    return router
