"""In-process fan-out of ticket changes to live board connections (the `/stream` SSE endpoint).

Each subscriber has a bounded queue. A subscriber that falls behind (a frozen phone browser) does not slow the
service: its queue is emptied and it is told to `resync`, i.e. reload the list. Scope filtering happens in the
API per subscriber, because one change is seen by several scopes. Changes made by other processes reach the
board through its polling fallback."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass

from alerts.model import Ticket, TicketEvent


@dataclass(frozen=True, slots=True)
class Resync:
    """Marker: changes were dropped for this subscriber; reload the state."""


Item = tuple[Ticket, TicketEvent] | Resync


class Subscription:
    def __init__(self, hub: ChangeHub, maxsize: int) -> None:
        self._hub = hub
        self.queue: asyncio.Queue[Item] = asyncio.Queue(maxsize)

    def offer(self, item: Item) -> None:
        try:
            self.queue.put_nowait(item)
        except asyncio.QueueFull:
            while not self.queue.empty():
                self.queue.get_nowait()
            self.queue.put_nowait(Resync())

    async def get(self) -> Item:
        return await self.queue.get()

    def take(self, n: int) -> list[Item]:
        """Up to `n` items that are waiting, without waiting for more."""
        out: list[Item] = []
        while len(out) < n and not self.queue.empty():
            out.append(self.queue.get_nowait())
        return out

    def close(self) -> None:
        self._hub.subscribers.discard(self)

    async def __aiter__(self) -> AsyncIterator[Item]:
        try:
            while True:
                yield await self.queue.get()
        finally:
            self.close()


class ChangeHub:
    """Implements the service's `Notifier`: every committed change is offered to every subscriber."""

    def __init__(self, maxsize: int = 256) -> None:
        self.maxsize = maxsize
        self.subscribers: set[Subscription] = set()

    def subscribe(self) -> Subscription:
        sub = Subscription(self, self.maxsize)
        self.subscribers.add(sub)
        return sub

    async def ticket_changed(self, ticket: Ticket, event: TicketEvent) -> None:
        for sub in list(self.subscribers):
            sub.offer((ticket, event))
