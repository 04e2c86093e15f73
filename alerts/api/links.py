"""One-tap action links from notices: no login, the token is the credential (one ticket, one recipient, one
action, once, short-lived; see `alerts.actionlinks`). The phone page `act.html` calls these two routes: `view`
before the tap (what will happen, or why the link cannot act), `act` on the tap. Both are POSTs so the token
never appears in a URL a server logs. A refused link answers 404 (`link_unknown`) or 410 (`link_used`,
`link_expired`, `link_other_ticket`, `link_moved_on`, `link_not_allowed`)."""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel, Field

from alerts.api.deps import Api
from alerts.api.errors import error_responses
from alerts.api.models import MAX_ID

router = APIRouter(tags=["links"])


class LinkBody(BaseModel):
    ticket_id: int = Field(ge=1, le=MAX_ID)
    token: str = Field(min_length=1, max_length=128)


class LinkActBody(LinkBody):
    note: str | None = Field(default=None, max_length=2000, description="required for `resolve`")


class LinkViewOut(BaseModel):
    ticket_id: int
    title: str = Field(description="in the recipient's language")
    titles: dict[str, str] = Field(description="the rule's title per language; empty: `title` in every language")
    severity: str
    status: str
    where: str = Field(description="building and door, as people say it")
    action: str = Field(description="accept, on_my_way, resolve, all_well or send_someone")
    recipient_name: str
    lang: str = Field(description="the recipient's language (zh-CN or en), for a browser that has not chosen one")
    note_required: bool


class LinkActOut(BaseModel):
    ticket_id: int
    action: str
    status: str = Field(description="the ticket's status after the action")


@router.post("/links/view", responses=error_responses(404, 410))
async def link_view(body: LinkBody, api: Api) -> LinkViewOut:
    """What tapping the link will do; nothing changes."""
    v = await api.links.view(body.ticket_id, body.token)
    return LinkViewOut(
        ticket_id=v.ticket.id,
        title=v.ticket.title_in(v.lang),
        titles=v.ticket.titles,
        severity=v.ticket.severity.value,
        status=v.ticket.status.value,
        where=v.where,
        action=v.action,
        recipient_name=v.recipient_name,
        lang=v.lang,
        note_required=v.action == "resolve",
    )


@router.post("/links/act", responses=error_responses(404, 410, 422))
async def link_act(body: LinkActBody, api: Api) -> LinkActOut:
    """Carry out the link's action, once, as the person (or family member) it was sent to."""
    view = await api.links.view(body.ticket_id, body.token)
    ticket = await api.links.act(body.ticket_id, body.token, body.note)
    return LinkActOut(ticket_id=ticket.id, action=view.action, status=ticket.status.value)
