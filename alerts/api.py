"""The `/api/v1` router: login, tickets, actions, summary and the live stream. Thin: every route validates its
input, calls one `TicketService` / `AccountStore` method and shapes the answer.

Authentication: `Authorization: Bearer <token>` or the `cwatch_session` cookie (HttpOnly, SameSite=Strict, so
other sites cannot ride on it). Errors always have the body `{"error": {"code": ..., "message": ...}}`.

No `from __future__ import annotations` here: FastAPI must see the real `Annotated` dependency types of the
routes defined inside `build_router`."""

import asyncio
import json
import logging
import time
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import asdict
from enum import StrEnum
from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, Query, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, StreamingResponse
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

from alerts.accounts import AccountStore
from alerts.codec import event_to_dict, ticket_to_dict
from alerts.errors import AlertsError, AuthError, BulkAssignError, SilenceError, TooManyAttemptsError
from alerts.lifecycle import ACTIVE, Action, Status, available_actions
from alerts.model import Account, Ticket
from alerts.scope import Hierarchy, as_people
from alerts.service import TicketService
from alerts.silences import may_silence
from alerts.stream import ChangeHub, Resync
from devices.model import Household, Person, Role
from rules.alert import Severity

log = logging.getLogger(__name__)

COOKIE = "cwatch_session"


class StatusFilter(StrEnum):
    ACTIVE = "active"
    OPEN = "open"
    ACKNOWLEDGED = "acknowledged"
    IN_PROGRESS = "in_progress"
    RESOLVED = "resolved"
    CLOSED = "closed"


class LoginBody(BaseModel):
    username: Annotated[str, Field(min_length=1, max_length=64)]
    password: Annotated[str, Field(min_length=1, max_length=256)]


class ActionBody(BaseModel):
    note: Annotated[str, Field(max_length=2000)] | None = None
    assignee_id: Annotated[str, Field(min_length=1, max_length=64)] | None = None
    rating: Annotated[int, Field(ge=1, le=5)] | None = None


class FeedbackBody(BaseModel):
    token: Annotated[str, Field(min_length=20, max_length=100)]
    rating: Annotated[int, Field(ge=1, le=5)]
    comment: Annotated[str, Field(max_length=500)] | None = None


class BulkBody(BaseModel):
    action: Action
    ids: Annotated[list[int], Field(min_length=1, max_length=500)]
    note: Annotated[str, Field(max_length=2000)] | None = None


class SilenceBody(BaseModel):
    scope_id: Annotated[str, Field(min_length=1, max_length=64)]
    comment: Annotated[str, Field(min_length=1, max_length=2000)]
    rule_id: Annotated[str, Field(min_length=1, max_length=64)] | None = None
    device_id: Annotated[str, Field(min_length=1, max_length=64)] | None = None
    starts_at: float | None = None
    ends_at: float | None = None
    duration_s: Annotated[float, Field(gt=0)] | None = None


class LoginThrottle:
    """At most `limit` failed logins per username in `window` seconds (wall clock): slows password guessing
    without locking the real user out for long."""

    def __init__(self, limit: int = 5, window: float = 300.0) -> None:
        self.limit = limit
        self.window = window
        self._fails: dict[str, deque[float]] = {}

    def check(self, username: str) -> None:
        q = self._fails.get(username)
        now = time.monotonic()
        while q and now - q[0] > self.window:
            q.popleft()
        if q and len(q) >= self.limit:
            raise TooManyAttemptsError("too many failed logins; wait a few minutes")

    def failed(self, username: str) -> None:
        self._fails.setdefault(username, deque()).append(time.monotonic())

    def succeeded(self, username: str) -> None:
        self._fails.pop(username, None)


def account_to_dict(a: Account) -> dict[str, Any]:
    return {
        "id": a.id,
        "username": a.username,
        "role": a.role.value,
        "scope_id": a.scope_id,
        "display_name": a.display_name,
        "person_id": a.person_id,
    }


def _person_to_dict(p: Person) -> dict[str, Any]:
    return {"id": p.id, "name": p.name, "role": p.role.value, "phone": p.phone}


def microgrid_people(hierarchy: Hierarchy, microgrid_id: str) -> list[Person]:
    """Workers and leaders of a micro-grid: the candidates for (re)assignment."""
    out: list[Person] = []
    for role in (Role.GRID_WORKER, Role.MICROGRID_LEADER):
        try:
            out.extend(p for p in as_people(hierarchy.people_at(microgrid_id, role)) if p not in out)
        except (KeyError, LookupError, ValueError):
            continue
    return out


def lookup(hierarchy: Hierarchy, collection: str, item_id: str | None, attr: str) -> str | None:
    """A display field of a registry item (`microgrids`/`buildings`/`households`/`devices`), when the registry
    has one: the board shows 桂花苑1号楼 1-101 rather than ids."""
    items = getattr(hierarchy, collection, None)
    if item_id is None or not isinstance(items, Mapping):
        return None
    value = getattr(items.get(item_id), attr, None)
    return value if isinstance(value, str) and value else None


def household_info(hierarchy: Hierarchy, household_id: str | None) -> dict[str, Any] | None:
    """What a worker needs before a home visit: the unit, whether a lone elderly resident lives there, and
    (only when the household consented to care monitoring) the emergency contacts to call first."""
    households = getattr(hierarchy, "households", None)
    if household_id is None or not isinstance(households, Mapping):
        return None
    h = households.get(household_id)
    if not isinstance(h, Household):
        return None
    care = h.care
    return {
        "id": h.id,
        "unit": h.unit,
        "floor": h.floor,
        "building_name": lookup(hierarchy, "buildings", h.building_id, "name"),
        "watched": care.watched,
        "contacts": [{"name": c.name, "phone": c.phone, "relation": c.relation} for c in care.emergency_contacts]
        if care.consent
        else [],
    }


def session_token(request: Request) -> str | None:
    """The bearer token, else the session cookie."""
    header = request.headers.get("authorization", "")
    return header[7:].strip() if header.lower().startswith("bearer ") else request.cookies.get(COOKIE)


def build_router(
    service: TicketService,
    accounts: AccountStore,
    registry: Callable[[], Hierarchy],
    hub: ChangeHub | None = None,
    *,
    heartbeat_s: float = 15.0,
) -> APIRouter:
    """The `/api/v1` router. `hub` feeds `/stream`; pass the same `ChangeHub` the service notifies (if None,
    the service's notifier is used when it is a hub, else a private hub that never fires)."""
    stream_hub = hub or (service.notifier if isinstance(service.notifier, ChangeHub) else ChangeHub())
    throttle = LoginThrottle()
    router = APIRouter()

    async def current_account(request: Request) -> Account:
        return await accounts.authenticate(session_token(request))

    Viewer = Annotated[Account, Depends(current_account)]  # noqa: N806

    def names(ticket: Ticket) -> dict[str, str]:
        people = microgrid_people(registry(), ticket.microgrid_id)
        return {p.id: p.name for p in people}

    def ticket_out(viewer: Account, ticket: Ticket, people: dict[str, str] | None = None) -> dict[str, Any]:
        d = ticket_to_dict(ticket, service.clock.now())
        h = registry()
        d["microgrid_name"] = lookup(h, "microgrids", ticket.microgrid_id, "name")
        d["building_name"] = lookup(h, "buildings", ticket.building_id, "name")
        d["household_unit"] = lookup(h, "households", ticket.household_id, "unit")
        d["device_label"] = lookup(h, "devices", ticket.device_id, "label")
        d["actions"] = [a.value for a in available_actions(ticket.status, viewer.role)]
        if people is not None:
            d["assignee_name"] = people.get(ticket.assignee_id or "")
        return d

    @router.post("/auth/login")
    async def login(body: LoginBody, request: Request, response: Response) -> dict[str, Any]:
        throttle.check(body.username)
        try:
            token, account = await accounts.login(body.username, body.password)
        except AuthError:
            throttle.failed(body.username)
            raise
        throttle.succeeded(body.username)
        response.set_cookie(
            COOKIE,
            token,
            max_age=int(accounts.session_ttl),
            httponly=True,
            samesite="strict",
            secure=request.url.scheme == "https",
            path="/",
        )
        return {"token": token, "expires_in": int(accounts.session_ttl), "account": account_to_dict(account)}

    @router.post("/auth/logout", status_code=204)
    async def logout(request: Request, response: Response) -> None:
        token = session_token(request)
        if token:
            await accounts.logout(token)
        response.delete_cookie(COOKIE, path="/")

    @router.get("/me")
    async def me(viewer: Viewer) -> dict[str, Any]:
        d = account_to_dict(viewer)
        d["may"] = sorted({a.value for s in Status for a in available_actions(s, viewer.role)})
        return d

    @router.get("/tickets")
    async def list_tickets(
        viewer: Viewer,
        status: Annotated[list[StatusFilter] | None, Query()] = None,
        severity: Annotated[list[Severity] | None, Query()] = None,
        microgrid: Annotated[str | None, Query(max_length=64)] = None,
        mine: bool = False,
        limit: Annotated[int, Query(ge=1, le=500)] = 50,
        cursor: Annotated[str | None, Query(max_length=200)] = None,
    ) -> dict[str, Any]:
        statuses: set[Status] = set()
        for s in status or ():
            statuses.update(ACTIVE if s == StatusFilter.ACTIVE else {Status(s.value)})
        page = await service.list_tickets(
            viewer,
            status=sorted(statuses),
            severity=severity or (),
            microgrid=microgrid,
            mine=mine,
            limit=limit,
            cursor=cursor,
        )
        cache: dict[str, dict[str, str]] = {}
        items = []
        for t in page.items:
            if t.microgrid_id not in cache:
                cache[t.microgrid_id] = names(t)
            items.append(ticket_out(viewer, t, cache[t.microgrid_id]))
        return {"items": items, "next_cursor": page.next_cursor}

    @router.get("/tickets/{ticket_id}")
    async def get_ticket(ticket_id: int, viewer: Viewer) -> dict[str, Any]:
        detail = await service.get_ticket(viewer, ticket_id)
        people = microgrid_people(registry(), detail.ticket.microgrid_id)
        out = ticket_out(viewer, detail.ticket, {p.id: p.name for p in people})
        out["timeline"] = [event_to_dict(e) for e in detail.timeline]
        out["household"] = household_info(registry(), detail.ticket.household_id)
        out["candidates"] = [_person_to_dict(p) for p in people] if Action.ASSIGN.value in out["actions"] else []
        return out

    def action_route(action: Action) -> Callable[[int, Account, ActionBody | None], Awaitable[dict[str, Any]]]:
        async def route(ticket_id: int, viewer: Viewer, body: ActionBody | None = None) -> dict[str, Any]:
            b = body or ActionBody()
            ticket = await service.act(ticket_id, viewer, action, b.note, assignee_id=b.assignee_id, rating=b.rating)
            return ticket_out(viewer, ticket, names(ticket))

        route.__name__ = f"ticket_{action.value}"
        return route

    for action in Action:
        router.add_api_route(f"/tickets/{{ticket_id}}/{action.value}", action_route(action), methods=["POST"])

    @router.post("/tickets/bulk")
    async def bulk(body: BulkBody, viewer: Viewer) -> dict[str, Any]:
        """One action on many tickets; each result is the ticket's new status or its own error."""
        if body.action in (Action.ASSIGN, Action.EVALUATE):
            raise BulkAssignError(f"{body.action.value} tickets one at a time")
        results = await service.act_many(body.ids, viewer, body.action, body.note)
        out: list[dict[str, Any]] = []
        for ticket_id, r in zip(dict.fromkeys(body.ids), results, strict=True):
            if isinstance(r, AlertsError):
                out.append({"id": ticket_id, "ok": False, "error": {"code": r.code, "message": r.message}})
            else:
                out.append({"id": ticket_id, "ok": True, "status": r.status.value})
        return {"results": out, "ok": sum(1 for r in out if r["ok"])}

    @router.post("/tickets/{ticket_id}/feedback-link", status_code=201)
    async def feedback_link(ticket_id: int, viewer: Viewer) -> dict[str, Any]:
        """A one-time link (7 days) for the resident to evaluate the finished work without an account."""
        link = await service.feedback_link(ticket_id, viewer)
        return {"token": link.token, "path": f"/feedback.html#{link.token}", "expires_at": link.expires_at}

    @router.get("/feedback/{token}")
    async def feedback_view(token: str) -> dict[str, Any]:
        """No login: the token is the credential. Shows only title, status and resolution."""
        return await service.feedback_view(token)

    @router.post("/feedback")
    async def feedback_submit(body: FeedbackBody) -> dict[str, Any]:
        await service.submit_feedback(body.token, body.rating, body.comment)
        return {"ok": True}

    @router.get("/silences")
    async def list_silences(viewer: Viewer) -> dict[str, Any]:
        """Active and upcoming silences in your scope."""
        now = service.clock.now()
        hierarchy = registry()
        items = await service.silences.visible(viewer, hierarchy, now)
        return {
            "items": [
                {**asdict(s), "active": s.active(now), "may_cancel": may_silence(viewer, s.scope_id, hierarchy)}
                for s in items
            ]
        }

    @router.post("/silences", status_code=201)
    async def create_silence(body: SilenceBody, viewer: Viewer) -> dict[str, Any]:
        """Open a maintenance window: matching raises open no ticket until it ends."""
        now = service.clock.now()
        start = body.starts_at if body.starts_at is not None else now
        if (body.ends_at is None) == (body.duration_s is None):
            raise SilenceError("give exactly one of ends_at and duration_s")
        ends_at = body.ends_at if body.ends_at is not None else start + (body.duration_s or 0)
        s = await service.silences.create(
            viewer,
            registry(),
            now,
            scope_id=body.scope_id,
            ends_at=ends_at,
            comment=body.comment,
            starts_at=start,
            rule_id=body.rule_id,
            device_id=body.device_id,
        )
        return {**asdict(s), "active": s.active(now)}

    @router.post("/silences/{silence_id}/cancel")
    async def cancel_silence(silence_id: int, viewer: Viewer) -> dict[str, Any]:
        now = service.clock.now()
        s = await service.silences.cancel(viewer, registry(), silence_id, now)
        try:  # what it held and is still wrong opens tickets now; else the escalation loop's next cycle does
            await service.release_held()
        except Exception:  # the cancel itself is done: say so
            log.exception("releasing the raises held by silence %s failed", silence_id)
        return {**asdict(s), "active": s.active(now)}

    @router.get("/summary")
    async def summary(viewer: Viewer, microgrid: Annotated[str | None, Query(max_length=64)] = None) -> dict[str, Any]:
        out = await service.summary(viewer, microgrid)
        out["at"] = service.clock.now()
        return out

    @router.get("/stream")
    async def stream(request: Request, viewer: Viewer) -> StreamingResponse:
        sub = stream_hub.subscribe()

        async def events() -> AsyncIterator[str]:
            try:
                yield "retry: 3000\n\n"
                while not await request.is_disconnected():
                    try:
                        item = await asyncio.wait_for(sub.get(), timeout=heartbeat_s)
                    except TimeoutError:
                        yield ": keep-alive\n\n"
                        continue
                    if isinstance(item, Resync):
                        yield "event: resync\ndata: {}\n\n"
                        continue
                    ticket, event = item
                    if not service.can_see(viewer, ticket):
                        continue
                    data = {"ticket": ticket_out(viewer, ticket, names(ticket)), "event": event_to_dict(event)}
                    yield f"id: {event.id}\nevent: ticket\ndata: {json.dumps(data, ensure_ascii=False)}\n\n"
            finally:
                sub.close()

        return StreamingResponse(
            events(),
            media_type="text/event-stream",
            headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
        )

    return router


def _error(status: int, code: str, message: str, **extra: Any) -> JSONResponse:
    body: dict[str, Any] = {"code": code, "message": message, **extra}
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    return JSONResponse({"error": body}, status_code=status, headers=headers)


def install_error_handlers(app: FastAPI) -> None:
    """Make every error a JSON `{"error": {"code", "message"}}`; validation errors name the fields."""

    async def alerts_error(_request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, AlertsError)
        return _error(exc.status, exc.code, exc.message)

    async def validation_error(_request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        fields = []
        for err in exc.errors():
            loc = [str(x) for x in err.get("loc", ()) if x not in ("body", "query", "path")]
            fields.append({"field": ".".join(loc) or "body", "message": str(err.get("msg", "invalid"))})
        message = "; ".join(f"{f['field']}: {f['message']}" for f in fields) or "invalid request"
        return _error(422, "validation_error", message, fields=fields)

    async def http_error(_request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, StarletteHTTPException)
        code = {404: "not_found", 405: "method_not_allowed", 401: "unauthorized"}.get(
            exc.status_code, f"http_{exc.status_code}"
        )
        return _error(exc.status_code, code, str(exc.detail))

    async def internal_error(_request: Request, _exc: Exception) -> JSONResponse:
        return _error(500, "internal_error", "internal server error")

    app.add_exception_handler(AlertsError, alerts_error)
    app.add_exception_handler(RequestValidationError, validation_error)
    app.add_exception_handler(StarletteHTTPException, http_error)
    app.add_exception_handler(Exception, internal_error)
