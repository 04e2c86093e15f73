"""The audit log, for operators: who changed accounts, silences, households' away, the registry or the rules,
when and from where."""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, Field

from alerts.api.deps import Api, requires
from alerts.api.errors import error_responses
from alerts.api.models import MAX_ID
from alerts.audit import AuditLog
from alerts.model import Account
from devices.model import Role

router = APIRouter(tags=["audit"])


class AuditEntryOut(BaseModel):
    id: int
    at: float = Field(description="wall clock, epoch seconds")
    actor: str = Field(description="a username, `cli:<os user>`, or `service`")
    actor_role: str | None
    source: str = Field(description="the caller's address, `cli`, `config` or `file`")
    action: str = Field(
        description="`<what>.<verb>`: account.create, silence.cancel, household.away, registry.import, rules.reload, "
        "policies.reload"
    )
    target: str
    details: dict[str, Any]


class AuditPageOut(BaseModel):
    items: list[AuditEntryOut] = Field(description="newest first")
    next_before: int | None = Field(description="pass as `before` for older entries; null on the last page")


@router.get("/audit", responses=error_responses(401, 403))
async def list_audit(
    api: Api,
    _viewer: Annotated[Account, Depends(requires(Role.OPERATOR))],
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    before: Annotated[int | None, Query(ge=1, le=MAX_ID, description="only entries older than this id")] = None,
    action: Annotated[str | None, Query(max_length=64, description="an action or its prefix: `silence.`")] = None,
    actor: Annotated[str | None, Query(max_length=64)] = None,
) -> AuditPageOut:
    """Changes other than tickets' (those are in each ticket's timeline), newest first. Operators only."""
    rows = await AuditLog(api.accounts.engine).list(limit=limit, before=before, action=action, actor=actor)
    return AuditPageOut(
        items=[AuditEntryOut(**asdict(r)) for r in rows],
        next_before=rows[-1].id if len(rows) == limit else None,
    )
