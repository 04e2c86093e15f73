"""Resident self-evaluation through a one-time link: no login, the token is the credential (valid once and
for 7 days; anything else answers 404)."""

from __future__ import annotations

from fastapi import APIRouter

from alerts.api.deps import Api
from alerts.api.errors import error_responses
from alerts.api.models import FeedbackBody, FeedbackViewOut, OkOut

router = APIRouter(tags=["feedback"])


@router.get("/feedback/{token}", responses=error_responses(404))
async def feedback_view(token: str, api: Api) -> FeedbackViewOut:
    """What the link's holder sees: the title, the status and how it was resolved."""
    return FeedbackViewOut(**await api.service.feedback_view(token))


@router.post("/feedback", responses=error_responses(404))
async def feedback_submit(body: FeedbackBody, api: Api) -> OkOut:
    """The resident's rating (1-5) and remark, recorded in the ticket's timeline as actor `resident`."""
    await api.service.submit_feedback(body.token, body.rating, body.comment)
    return OkOut(ok=True)
