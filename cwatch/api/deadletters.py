"""Refused device messages, for operators and street duty staff."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field

from alerts.api.errors import error_responses
from alerts.errors import StoreError
from cwatch.api.deps import Ops, OpsViewer
from ingest.deadletter import DeadLetterError, DeadLetters
from ingest.refusals import RefusalReason

router = APIRouter(tags=["operations"])


class DeadLetterOut(BaseModel):
    id: int
    received_at: float
    topic: str
    reason: str = Field(description="why it was refused (`ingest.refusals.RefusalReason`)")
    detail: str = Field(description="what exactly was wrong")
    payload: str = Field(description="the raw payload as text (undecodable bytes replaced)")


class DeadLettersOut(BaseModel):
    items: list[DeadLetterOut] = Field(description="newest first")
    counts: dict[str, int] = Field(description="kept dead letters per reason")


@router.get("/deadletters", responses=error_responses(401, 403))
async def list_deadletters(
    ops: Ops,
    _viewer: OpsViewer,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    reason: RefusalReason | None = None,
) -> DeadLettersOut:
    """Refused device messages, newest first, with the raw payload and the reason."""
    letters = DeadLetters(ops.engine)
    try:
        rows = await letters.list(limit=limit, reason=reason)
        counts = await letters.counts()
    except DeadLetterError as e:
        raise StoreError(str(e)) from e
    return DeadLettersOut(
        items=[
            DeadLetterOut(
                id=r.id,
                received_at=r.received_at,
                topic=r.topic,
                reason=str(r.reason),
                detail=r.detail,
                payload=r.payload_text,
            )
            for r in rows
        ],
        counts=counts,
    )
