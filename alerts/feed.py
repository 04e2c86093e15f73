"""A change feed read from the audit trail, for deployments where tickets change in another process (the rule
engine's) than the one serving the board: `EventFeed` polls `ticket_events` past the last id it saw and offers
each change to a `ChangeHub`, so `/stream` stays live across processes.

In a single process, wire the hub as the service's notifier instead (immediate, no polling). Do not do both
for the same hub, or boards receive each change twice."""

from __future__ import annotations

import asyncio
import logging

from sqlalchemy import func, select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine

from alerts.dbguard import translated
from alerts.errors import StoreError
from alerts.loops import sleep_or_stop
from alerts.store import row_to_event, row_to_ticket
from alerts.stream import ChangeHub
from alerts.tables import ticket_events, tickets
from cwatch.clock import Clock

log = logging.getLogger(__name__)


class EventFeed:
    def __init__(self, engine: AsyncEngine, hub: ChangeHub, clock: Clock, interval: float = 1.0, batch: int = 500):
        self.engine = engine
        self.hub = hub
        self.clock = clock
        self.interval = interval
        self.batch = batch
        self.cursor: int | None = None  # last event id offered; None until started
        self._stop = asyncio.Event()

    async def start_at_end(self) -> None:
        """Skip history: boards load the current state themselves and only need what changes next."""
        async with translated(), self.engine.connect() as conn:
            self.cursor = int((await conn.execute(select(func.coalesce(func.max(ticket_events.c.id), 0)))).scalar_one())

    async def poll_once(self) -> int:
        """Offer the changes recorded since the last poll; returns how many."""
        if self.cursor is None:
            await self.start_at_end()
        q = (
            select(ticket_events, tickets)
            .join(tickets, tickets.c.id == ticket_events.c.ticket_id)
            .where(ticket_events.c.id > self.cursor)
            .order_by(ticket_events.c.id)
            .limit(self.batch)
        )
        async with translated(), self.engine.connect() as conn:
            rows = (await conn.execute(q)).all()
        for row in rows:
            m = row._mapping
            event = row_to_event({c.name: m[c] for c in ticket_events.c})
            ticket = row_to_ticket({c.name: m[c] for c in tickets.c})
            await self.hub.ticket_changed(ticket, event)
            self.cursor = event.id
        return len(rows)

    async def stop(self) -> None:
        self._stop.set()

    async def run(self) -> None:
        while not self._stop.is_set():
            try:
                while await self.poll_once() == self.batch:
                    pass  # catch up without waiting
            except asyncio.CancelledError:
                raise
            except (StoreError, SQLAlchemyError):
                log.exception("change feed poll failed; retrying")
            await sleep_or_stop(self.clock, self.interval, self._stop)
