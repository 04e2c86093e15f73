"""The live stream: Server-Sent Events of the ticket changes in the caller's scope."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import StreamingResponse

from alerts.api.deps import AlertsApi, Api, Viewer
from alerts.api.errors import error_responses
from alerts.api.views import event_out, people_names, ticket_out
from alerts.model import Account
from alerts.stream import ChangeHub, Resync, Subscription

router = APIRouter(tags=["stream"])

_STREAM: dict[int | str, dict[str, Any]] = {
    200: {
        "description": '`event: ticket` with `data: {"ticket": Ticket, "event": Event}` per change in your scope; '
        "`event: resync` when this connection fell behind (reload the list); `: keep-alive` comments.",
        "content": {"text/event-stream": {"schema": {"type": "string"}}},
    }
}


@router.get("/stream", response_class=StreamingResponse, responses={**_STREAM, **error_responses(401)})
async def stream(request: Request, api: Api, viewer: Viewer) -> StreamingResponse:
    """Server-Sent Events of ticket changes in your scope, for live boards (`retry: 3000`)."""
    assert isinstance(api.hub, ChangeHub)
    sub = api.hub.subscribe()  # before answering: no change between this request and the first event is lost
    return StreamingResponse(
        _events(request, api, viewer, sub),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


async def _events(request: Request, api: AlertsApi, viewer: Account, sub: Subscription) -> AsyncIterator[str]:
    try:
        yield "retry: 3000\n\n"
        while not await request.is_disconnected():
            try:
                item = await asyncio.wait_for(sub.get(), timeout=api.heartbeat_s)
            except TimeoutError:
                yield ": keep-alive\n\n"
                continue
            if isinstance(item, Resync):
                yield "event: resync\ndata: {}\n\n"
                continue
            ticket, event = item
            if not api.service.can_see(viewer, ticket):
                continue
            hierarchy = api.registry()
            out = ticket_out(
                hierarchy, viewer, ticket, api.service.clock.now(), people_names(hierarchy, ticket.microgrid_id)
            )
            data = {"ticket": out.model_dump(mode="json"), "event": event_out(event).model_dump(mode="json")}
            yield f"id: {event.id}\nevent: ticket\ndata: {json.dumps(data, ensure_ascii=False)}\n\n"
    finally:
        sub.close()
