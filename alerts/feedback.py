"""Resident self-evaluation (评单) through a one-time link, for residents who have no account.

A leader asks for a link on a resolved or closed ticket; the link (or its token) reaches the resident through
the community's SMS or WeChat channel. The token is 256 random bits of which only the SHA-256 is stored; it
works once and for 7 days. Anyone holding it sees only the ticket's title, status and resolution note, and can
leave a rating (1-5) and a short remark, recorded in the audit trail with the actor `resident`."""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from alerts.accounts import token_hash
from alerts.dbguard import translated
from alerts.errors import NotFoundError
from alerts.tables import feedback_links
from core.db import begin_write
from core.i18n import tr

LINK_TTL_S = 7 * 86_400
RESIDENT = "resident"


@dataclass(frozen=True, slots=True)
class FeedbackLink:
    token: str
    ticket_id: int
    expires_at: float


class FeedbackLinks:
    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine

    async def create(self, ticket_id: int, created_by: str, now: float) -> FeedbackLink:
        token = secrets.token_urlsafe(32)
        async with translated(), begin_write(self.engine) as conn:
            await conn.execute(
                feedback_links.insert().values(
                    token_hash=token_hash(token),
                    ticket_id=ticket_id,
                    created_by=created_by,
                    created_at=now,
                    expires_at=now + LINK_TTL_S,
                )
            )
        return FeedbackLink(token, ticket_id, now + LINK_TTL_S)

    async def ticket_of(self, token: str, now: float) -> int:
        """The ticket of a live (unused, unexpired) token; `NotFoundError` otherwise, whatever the reason."""
        q = select(feedback_links).where(feedback_links.c.token_hash == token_hash(token))
        async with translated(), self.engine.connect() as conn:
            row = (await conn.execute(q)).first()
        if row is None or row._mapping["used_at"] is not None or row._mapping["expires_at"] <= now:
            raise NotFoundError(tr("errors.link_expired_or_used"))
        ticket_id: int = row._mapping["ticket_id"]
        return ticket_id

    async def use(self, token: str, now: float) -> int:
        """Spend the token (once, even under concurrent submissions); returns its ticket id."""
        async with translated(), begin_write(self.engine) as conn:
            res = await conn.execute(
                update(feedback_links)
                .where(
                    feedback_links.c.token_hash == token_hash(token),
                    feedback_links.c.used_at.is_(None),
                    feedback_links.c.expires_at > now,
                )
                .values(used_at=now)
                .returning(feedback_links.c.ticket_id)
            )
            row = res.first()
        if row is None:
            raise NotFoundError(tr("errors.link_expired_or_used"))
        ticket_id: int = row[0]
        return ticket_id
