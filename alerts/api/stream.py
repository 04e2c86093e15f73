"""The live stream: Server-Sent Events of the ticket changes in the caller's scope, and a heartbeat.

The heartbeat (`event: heartbeat`, every `heartbeat_s`) is an event rather than an SSE comment so that a browser
sees it: a board that stops receiving it knows its stream is dead even when no error reaches it (a proxy or a
network path that hangs). Changes waiting in a subscription when the client is ready are written together, one
write for many events, which keeps an alert storm from costing one network write per ticket; each change is
rendered once for all the boards that may see it (`alerts.api.frames`)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import StreamingResponse

from alerts.api.deps import AlertsApi, Api, Viewer
from alerts.api.errors import error_responses
from alerts.model import Account, Ticket, TicketEvent
from alerts.stream import ChangeHub, Resync, Subscription

router = APIRouter(tags=["stream"])

#: Changes written in one chunk at most (the rest follow in the next).
CHUNK = 200

_STREAM: dict[int | str, dict[str, Any]] = {
    200: {
        "description": '`event: ticket` with `data: {"ticket": Ticket, "event": Event}` per change in your scope; '
        "`event: resync` when this connection fell behind (reload the list); "
        '`event: heartbeat` with `data: {"at": service time, "every_s": seconds}` at the start and whenever '
        "nothing else was sent for `every_s` (a client that hears nothing for longer has lost the stream).",
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


def _heartbeat(api: AlertsApi) -> str:
    data = {"at": api.service.clock.now(), "every_s": api.heartbeat_s}
    return f"event: heartbeat\ndata: {json.dumps(data)}\n\n"


async def _events(request: Request, api: AlertsApi, viewer: Account, sub: Subscription) -> AsyncIterator[str]:
    loop = asyncio.get_running_loop()
    try:
        yield "retry: 3000\n\n" + _heartbeat(api)
        sent = loop.time()
        while not await request.is_disconnected():
            try:
                first = await asyncio.wait_for(sub.get(), timeout=max(0.0, sent + api.heartbeat_s - loop.time()))
            except TimeoutError:
                yield _heartbeat(api)
                sent = loop.time()
                continue
            chunk = "".join(_frame(api, viewer, item) for item in (first, *sub.take(CHUNK - 1)))
            if not chunk and loop.time() - sent >= api.heartbeat_s:
                chunk = _heartbeat(api)  # changes nobody here may see: still say the stream is alive
            if chunk:
                yield chunk
                sent = loop.time()
    finally:
        sub.close()


def _frame(api: AlertsApi, viewer: Account, item: tuple[Ticket, TicketEvent] | Resync) -> str:
    """One SSE event for `item`, or "" when the viewer may not see its ticket."""
    if isinstance(item, Resync):
        return "event: resync\ndata: {}\n\n"
    ticket, event = item
    if not api.service.can_see(viewer, ticket):  # each board's own decision, before any shared rendering
        return ""
    return api.frames.frame(api.registry(), viewer, ticket, event, api.service.clock.now)
