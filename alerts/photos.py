"""Photos people attach to a ticket (the scene before and after: 网格员 apps ask for one when resolving), and
the rule that some tickets need one before they are resolved.

A photo is scoped exactly like its ticket: whoever cannot see the ticket gets the same 404 as for a ticket that
does not exist, for the list, the photo and its thumbnail alike. Upload order, so that bad input costs nothing:
the ticket is looked up and the caller's right to work on it checked (a cheap read), then the bytes are checked
and re-encoded (`alerts.images`, in a worker thread), then the photo and its thumbnail go to the blob store
(content-addressed, so a retry stores nothing twice), and last the photo's row and its timeline event (`photo`,
the audit entry) are written in one transaction. A refusal at any step before the last stores no row; blobs
written before a failed last step are unreferenced until the same photo is sent again, harmless. The event's
data names the photo (`photo_id`)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from alerts.blobs import BlobStore
from alerts.dbguard import translated
from alerts.errors import NotFoundError, PhotoRequiredError, TransitionError
from alerts.images import Processed, process
from alerts.lifecycle import ACTIVE, Action, available_actions
from alerts.media import MediaPolicy
from alerts.model import Account, Ticket
from alerts.scope import in_scope
from alerts.service import TicketService
from alerts.store import Change
from alerts.tables import ticket_events, ticket_photos
from core.i18n import tr

PHOTO_ACTION = "photo"
"""The timeline action of an upload."""


@dataclass(frozen=True, slots=True)
class Photo:
    id: int
    ticket_id: int
    media_type: str
    bytes: int
    width: int
    height: int
    uploaded_at: float
    uploaded_by: str
    photo_key: str
    thumb_key: str


def _photo(row: Any) -> Photo:
    m = row._mapping
    return Photo(
        m["id"],
        m["ticket_id"],
        m["media_type"],
        m["bytes"],
        m["width"],
        m["height"],
        m["uploaded_at"],
        m["uploaded_by"],
        m["photo_key"],
        m["thumb_key"],
    )


class PhotoRequirement:
    """The rule that some tickets (by rule or severity) need a photo before they are resolved. Its
    `check_resolve` is the ticket service's `resolve_guard`; it needs the store only, so it is made before the
    service, and `Photos` (which needs the service) after it."""

    def __init__(self, engine: AsyncEngine, policy: MediaPolicy) -> None:
        self.engine = engine
        self.policy = policy

    def needs_photo(self, ticket: Ticket) -> bool:
        return self.policy.needs_photo(ticket.rule_id, ticket.severity)

    async def since_active(self, ticket: Ticket) -> int:
        """Photos attached since the ticket last became active (created, reopened or raised again)."""
        e = ticket_events.c
        became_active = (
            select(func.max(e.at))
            .where(
                e.ticket_id == ticket.id,
                e.to_status.in_([s.value for s in ACTIVE]),
                (e.from_status.is_(None)) | (e.from_status.not_in([s.value for s in ACTIVE])),
            )
            .scalar_subquery()
        )
        p = ticket_photos.c
        query = select(func.count()).where(p.ticket_id == ticket.id, p.uploaded_at >= func.coalesce(became_active, 0))
        async with translated(), self.engine.connect() as conn:
            return int((await conn.execute(query)).scalar_one())

    async def check_resolve(self, ticket: Ticket) -> None:
        """Refuse resolving a ticket that needs a photo (by its rule or severity) and has none since it became
        active."""
        if self.needs_photo(ticket) and await self.since_active(ticket) == 0:
            raise PhotoRequiredError(tr("errors.photo_required", rule=ticket.rule_id))


class Photos:
    """Attach, list and read a ticket's photos; whether a resolve needs one is `requirement`'s to say."""

    def __init__(self, service: TicketService, blobs: BlobStore, policy: MediaPolicy) -> None:
        self.service = service
        self.blobs = blobs
        self.policy = policy
        self.requirement = PhotoRequirement(service.engine, policy)

    async def visible(self, viewer: Account, ticket_id: int) -> Ticket:
        """The ticket, if the viewer may see it; `NotFoundError` otherwise (as for a missing one)."""
        ticket = await self.service.store.get(ticket_id)
        if ticket is None or not in_scope(viewer, ticket.microgrid_id, self.service.registry()):
            raise NotFoundError(tr("errors.ticket_not_found", id=ticket_id))
        return ticket

    def _may_attach(self, viewer: Account, ticket: Ticket) -> None:
        if ticket.status not in ACTIVE or Action.COMMENT not in available_actions(ticket.status, viewer.role):
            raise TransitionError(
                tr("errors.photo_when", id=ticket.id, status=tr(f"names.status.{ticket.status.value}"))
            )

    async def attach(self, viewer: Account, ticket_id: int, data: bytes) -> Photo:
        """Check, clean and store a photo on the ticket; `UploadError` (nothing stored) for bad input."""
        self._may_attach(viewer, await self.visible(viewer, ticket_id))
        processed = await asyncio.to_thread(process, data, self.policy.limits)
        await self.blobs.put(processed.photo.key, processed.photo.data, processed.photo.media_type)
        await self.blobs.put(processed.thumb.key, processed.thumb.data, processed.thumb.media_type)
        now = self.service.clock.now()
        hierarchy = self.service.registry()
        inserted: list[int] = []

        async def write_row(conn: AsyncConnection, tid: int) -> dict[str, Any]:
            row = await conn.execute(ticket_photos.insert().values(**_values(tid, processed, now, viewer.username)))
            key = row.inserted_primary_key
            assert key is not None
            photo_id = int(key[0])
            inserted.append(photo_id)
            return {"photo_id": photo_id, "bytes": len(processed.photo.data), "media_type": processed.photo.media_type}

        def decide(t: Ticket) -> Change:
            if not in_scope(viewer, t.microgrid_id, hierarchy):
                raise NotFoundError(tr("errors.ticket_not_found", id=ticket_id))
            self._may_attach(viewer, t)
            inserted.clear()  # a lost race runs the transaction again
            return Change(PHOTO_ACTION, viewer.username, data={"role": viewer.role.value}, also=write_row)

        result = await self.service.store.update(ticket_id, now, decide)
        if result is None:  # pragma: no cover - decide always returns a change
            raise NotFoundError(tr("errors.ticket_not_found", id=ticket_id))
        await self.service.notify(*result)
        return await self.get(ticket_id, inserted[-1])

    async def get(self, ticket_id: int, photo_id: int) -> Photo:
        async with translated(), self.service.engine.connect() as conn:
            row = (
                await conn.execute(
                    select(ticket_photos).where(ticket_photos.c.id == photo_id, ticket_photos.c.ticket_id == ticket_id)
                )
            ).first()
        if row is None:
            raise NotFoundError(tr("errors.photo_not_found", id=photo_id, ticket=ticket_id))
        return _photo(row)

    async def of_ticket(self, ticket_id: int) -> list[Photo]:
        async with translated(), self.service.engine.connect() as conn:
            rows = await conn.execute(
                select(ticket_photos).where(ticket_photos.c.ticket_id == ticket_id).order_by(ticket_photos.c.id)
            )
            return [_photo(r) for r in rows]

    async def read(self, viewer: Account, ticket_id: int, photo_id: int, *, thumb: bool) -> tuple[bytes, str]:
        """The photo's (or its thumbnail's) bytes and media type, for a viewer who may see the ticket."""
        await self.visible(viewer, ticket_id)
        photo = await self.get(ticket_id, photo_id)
        if thumb:
            return await self.blobs.get(photo.thumb_key), "image/jpeg"
        return await self.blobs.get(photo.photo_key), photo.media_type

    def needs_photo(self, ticket: Ticket) -> bool:
        return self.requirement.needs_photo(ticket)

    async def since_active(self, ticket: Ticket) -> int:
        return await self.requirement.since_active(ticket)

    async def check_resolve(self, ticket: Ticket) -> None:
        await self.requirement.check_resolve(ticket)


def _values(ticket_id: int, p: Processed, now: float, username: str) -> dict[str, Any]:
    return {
        "ticket_id": ticket_id,
        "photo_key": p.photo.key,
        "media_type": p.photo.media_type,
        "bytes": len(p.photo.data),
        "width": p.photo.width,
        "height": p.photo.height,
        "thumb_key": p.thumb.key,
        "uploaded_at": now,
        "uploaded_by": username,
    }
