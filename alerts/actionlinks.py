"""One-tap action links: a random token bound to one ticket, one recipient and one action.

The token is 256 random bits; only its SHA-256 is stored (a leaked database holds no usable link). A link works
once and until it expires (`notify.link_ttl_s`, 12 hours by default). It is refused, and changes nothing, when
it is unknown, used, expired, presented with another ticket's number, or when the ticket has moved on so that
its action no longer applies (`refusal`): an "accept" once someone accepted, anything once the ticket is
resolved. The link travels as `<base>/act.html#<ticket>.<token>`: the fragment never reaches a server's logs, and
the page asks for one tap to confirm, so a link previewer or a mail scanner that fetches the URL does nothing."""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from alerts.accounts import token_hash
from alerts.dbguard import translated
from alerts.errors import LinkRefusedError
from alerts.lifecycle import Status
from alerts.model import Ticket
from alerts.notices import Audience, Recipient
from alerts.tables import action_links
from core.db import begin_write
from core.i18n import tr

DEFAULT_TTL_S = 12 * 3600.0

#: Why a link is refused; the phone page has a sentence in Chinese and English for each.
REASONS = ("unknown", "used", "expired", "other_ticket", "moved_on", "not_allowed")

#: Actions a person (grid worker, leader, duty) may take by link, and those of a family contact.
PERSON_ACTIONS = frozenset({"accept", "on_my_way", "resolve"})
FAMILY_ACTIONS = frozenset({"all_well", "send_someone"})

#: The statuses in which each action still applies.
VALID_IN: dict[str, frozenset[Status]] = {
    "accept": frozenset({Status.OPEN}),
    "on_my_way": frozenset({Status.OPEN, Status.ACKNOWLEDGED}),
    "resolve": frozenset({Status.OPEN, Status.ACKNOWLEDGED, Status.IN_PROGRESS}),
    "all_well": frozenset({Status.OPEN, Status.ACKNOWLEDGED}),
    "send_someone": frozenset({Status.OPEN}),
}


@dataclass(frozen=True, slots=True)
class Link:
    """A stored link (without its token)."""

    ticket_id: int
    recipient: Recipient
    action: str
    channel: str
    delivery_id: str
    created_at: float
    expires_at: float
    used_at: float | None


def link_url(base_url: str, ticket_id: int, token: str) -> str:
    return f"{base_url.rstrip('/')}/act.html#{ticket_id}.{token}"


def refusal(link: Link, ticket: Ticket) -> str | None:
    """Why `link` can no longer act on `ticket` (None: it can). Pure.

    An action applies only in the statuses of `VALID_IN`; and for a person, a ticket someone else has taken
    (acknowledged or started, so assigned to them) has moved on, except for accepting an open one."""
    if ticket.status not in VALID_IN[link.action]:
        return "moved_on"
    taken = ticket.status in (Status.ACKNOWLEDGED, Status.IN_PROGRESS)
    if link.recipient.audience is Audience.PERSON and taken and ticket.assignee_id != link.recipient.id:
        return "moved_on"
    return None


def _row_to_link(m: dict[str, object]) -> Link:
    return Link(
        ticket_id=int(str(m["ticket_id"])),
        recipient=Recipient(Audience(str(m["audience"])), str(m["recipient_id"]), str(m["recipient_name"])),
        action=str(m["action"]),
        channel=str(m["channel"]),
        delivery_id=str(m["delivery_id"]),
        created_at=float(str(m["created_at"])),
        expires_at=float(str(m["expires_at"])),
        used_at=None if m["used_at"] is None else float(str(m["used_at"])),
    )


class ActionLinks:
    def __init__(self, engine: AsyncEngine, ttl_s: float = DEFAULT_TTL_S) -> None:
        self.engine = engine
        self.ttl_s = ttl_s

    async def mint(
        self, ticket_id: int, recipient: Recipient, action: str, channel: str, delivery_id: str, now: float
    ) -> str:
        """A new token for one action; returns the token (only its hash is stored)."""
        token = secrets.token_urlsafe(32)
        async with translated(), begin_write(self.engine) as conn:
            await conn.execute(
                action_links.insert().values(
                    token_hash=token_hash(token),
                    ticket_id=ticket_id,
                    audience=recipient.audience.value,
                    recipient_id=recipient.id[:200],
                    recipient_name=recipient.name[:128],
                    action=action,
                    channel=channel,
                    delivery_id=delivery_id,
                    created_at=now,
                    expires_at=now + self.ttl_s,
                )
            )
        return token

    async def find(self, token: str, ticket_id: int, now: float) -> Link:
        """The live link of `token` presented with `ticket_id`; `LinkRefusedError` says why it is not."""
        q = select(action_links).where(action_links.c.token_hash == token_hash(token))
        async with translated(), self.engine.connect() as conn:
            row = (await conn.execute(q)).mappings().first()
        if row is None:
            raise LinkRefusedError("unknown", tr("errors.link_unknown"))
        link = _row_to_link(dict(row))
        if link.ticket_id != ticket_id:
            raise LinkRefusedError("other_ticket", tr("errors.link_other_ticket"))
        if link.used_at is not None:
            raise LinkRefusedError("used", tr("errors.link_used"))
        if link.expires_at <= now:
            raise LinkRefusedError("expired", tr("errors.link_expired"))
        return link

    async def spend(self, token: str, now: float) -> bool:
        """Mark the token used; False when another request spent it first (or it expired meanwhile)."""
        async with translated(), begin_write(self.engine) as conn:
            res = await conn.execute(
                update(action_links)
                .where(
                    action_links.c.token_hash == token_hash(token),
                    action_links.c.used_at.is_(None),
                    action_links.c.expires_at > now,
                )
                .values(used_at=now)
            )
            return res.rowcount == 1

    async def give_back(self, token: str, spent_at: float) -> None:
        """Undo `spend` when the action then failed for a reason the holder cannot help (the store was down)."""
        async with translated(), begin_write(self.engine) as conn:
            await conn.execute(
                update(action_links)
                .where(action_links.c.token_hash == token_hash(token), action_links.c.used_at == spent_at)
                .values(used_at=None)
            )
