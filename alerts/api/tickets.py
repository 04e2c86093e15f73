"""Tickets: the list, one ticket with its timeline, the actions people take, bulk actions and resident
feedback links. Out-of-scope tickets answer 404, exactly like missing ones."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import APIRouter, Path, Query, Request, Response

from alerts.api.deps import Api, Viewer
from alerts.api.errors import error_responses, lang_of
from alerts.api.models import (
    MAX_ID,
    ActionBody,
    BulkBody,
    BulkOut,
    BulkResult,
    FeedbackLinkOut,
    ItemError,
    StatusFilter,
    TicketDetailOut,
    TicketOut,
    TicketPageOut,
)
from alerts.api.rows import Display, encode_page
from alerts.api.views import (
    event_out,
    household_info,
    member_out,
    microgrid_people,
    people_names,
    person_out,
    ticket_out,
)
from alerts.errors import AlertsError, BulkAssignError
from alerts.lifecycle import ACTIVE, Action, Status, available_actions
from core.i18n import tr
from rules.alert import Severity

router = APIRouter(tags=["tickets"])

TicketId = Annotated[int, Path(ge=1, le=MAX_ID, description="the ticket's id")]


@router.get("/tickets", response_model=TicketPageOut, responses=error_responses(401))
async def list_tickets(
    api: Api,
    viewer: Viewer,
    status: Annotated[
        list[StatusFilter] | None, Query(description="`active` = open + acknowledged + in_progress")
    ] = None,
    severity: Annotated[list[Severity] | None, Query()] = None,
    microgrid: Annotated[str | None, Query(max_length=64, description="outside your scope: an empty list")] = None,
    mine: Annotated[bool, Query(description="only tickets assigned to you")] = False,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    cursor: Annotated[str | None, Query(max_length=200, description="`next_cursor` of the previous page")] = None,
) -> Response:
    """Tickets in your scope, most severe first, then oldest first (keyset pagination, stable while tickets
    are added)."""
    # `TicketPageOut`'s JSON, encoded by `alerts.api.rows` (a board's page is 500 tickets, in an alert storm too)
    statuses: set[Status] = set()
    for s in status or ():
        statuses.update(ACTIVE if s == StatusFilter.ACTIVE else {Status(s.value)})
    page = await api.service.list_tickets(
        viewer,
        status=sorted(statuses),
        severity=severity or (),
        microgrid=microgrid,
        mine=mine,
        limit=limit,
        cursor=cursor,
    )
    hierarchy, now = api.registry(), api.service.clock.now()
    display = Display(hierarchy)
    names: dict[str, dict[str, str]] = {}
    actions: dict[Status, list[Action]] = {}
    rows = []
    for t in page.items:
        if t.microgrid_id not in names:
            names[t.microgrid_id] = people_names(hierarchy, t.microgrid_id)
        if t.status not in actions:
            actions[t.status] = available_actions(t.status, viewer.role)
        rows.append(display.row(t, now, names[t.microgrid_id], actions[t.status]))
    return Response(encode_page(rows, page.next_cursor), media_type="application/json")


@router.get("/tickets/{ticket_id}", responses=error_responses(401, 404))
async def get_ticket(ticket_id: TicketId, api: Api, viewer: Viewer) -> TicketDetailOut:
    """One ticket with its timeline (the audit trail), the people it may be assigned to (for roles that may
    assign), and for household tickets what a worker needs before a visit."""
    detail = await api.service.get_ticket(viewer, ticket_id)
    hierarchy = api.registry()
    people = microgrid_people(hierarchy, detail.ticket.microgrid_id)
    out = ticket_out(hierarchy, viewer, detail.ticket, api.service.clock.now(), {p.id: p.name for p in people})
    actors = await api.accounts.display_names(e.actor for e in detail.timeline)
    return TicketDetailOut(
        **out.model_dump(),
        timeline=[event_out(e, actors.get(e.actor)) for e in detail.timeline],
        members=[member_out(m) for m in detail.members],
        household=household_info(hierarchy, detail.ticket.household_id),
        candidates=[person_out(p) for p in people] if Action.ASSIGN in out.actions else [],
    )


@router.post("/tickets/bulk", responses=error_responses(401))
async def bulk(body: BulkBody, api: Api, viewer: Viewer, request: Request) -> BulkOut:
    """One action on many tickets (an alert storm); each ticket succeeds or fails on its own."""
    if body.action in (Action.ASSIGN, Action.EVALUATE):
        raise BulkAssignError(tr("errors.bulk_one_at_a_time", action=tr(f"names.action.{body.action.value}")))
    results = await api.service.act_many(body.ids, viewer, body.action, body.note)
    out: list[BulkResult] = []
    for ticket_id, r in zip(dict.fromkeys(body.ids), results, strict=True):
        if isinstance(r, AlertsError):
            out.append(
                BulkResult(
                    id=ticket_id, ok=False, error=ItemError(code=r.code, message=r.message_for(lang_of(request)))
                )
            )
        else:
            out.append(BulkResult(id=ticket_id, ok=True, status=r.status))
    return BulkOut(results=out, ok=sum(1 for r in out if r.ok))


@router.post("/tickets/{ticket_id}/feedback-link", status_code=201, responses=error_responses(401, 403, 404, 409))
async def feedback_link(ticket_id: TicketId, api: Api, viewer: Viewer) -> FeedbackLinkOut:
    """A one-time link (7 days) for the resident to evaluate finished work without an account (leaders and
    above, resolved or closed tickets)."""
    link = await api.service.feedback_link(ticket_id, viewer)
    return FeedbackLinkOut(token=link.token, path=f"/feedback.html#{link.token}", expires_at=link.expires_at)


_ACTION_HELP = {
    Action.ACK: "Accept the ticket (接单): it becomes yours.",
    Action.START: "Start working on it (becomes yours).",
    Action.RESOLVE: "Resolve it; `note` says what was done.",
    Action.CLOSE: "Confirm resolved work (leaders and above).",
    Action.REOPEN: "Reopen resolved work; `note` says why (leaders and above).",
    Action.COMMENT: "Add a `note` to the timeline.",
    Action.ASSIGN: "Hand it to `assignee_id` (leaders and above); back to open until they accept.",
    Action.EVALUATE: "Record the resident's `rating` of finished work (leaders and above).",
}


def _action_route(action: Action) -> Callable[..., Awaitable[TicketOut]]:
    async def route(ticket_id: TicketId, api: Api, viewer: Viewer, body: ActionBody | None = None) -> TicketOut:
        b = body or ActionBody()
        ticket = await api.service.act(ticket_id, viewer, action, b.note, assignee_id=b.assignee_id, rating=b.rating)
        hierarchy = api.registry()
        now = api.service.clock.now()
        return ticket_out(hierarchy, viewer, ticket, now, people_names(hierarchy, ticket.microgrid_id))

    route.__name__ = f"ticket_{action.value}"
    route.__doc__ = _ACTION_HELP[action] + " Returns the updated ticket. See docs/tickets.md for who may do what."
    return route


for _action in Action:
    router.add_api_route(
        f"/tickets/{{ticket_id}}/{_action.value}",
        _action_route(_action),
        methods=["POST"],
        responses=error_responses(401, 403, 404, 409),
    )
