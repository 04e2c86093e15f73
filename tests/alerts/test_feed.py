"""The audit-trail change feed keeps boards live when tickets change in another process."""

from __future__ import annotations

import asyncio

from sqlalchemy.ext.asyncio import AsyncEngine

from alerts.feed import EventFeed
from alerts.lifecycle import Status
from alerts.service import TicketService
from alerts.stream import ChangeHub
from cwatch.clock import ManualClock, SystemClock

from .fakes import WORKER_M1, FakeHierarchy, alert


async def test_feed_offers_changes_made_elsewhere_in_order(engine: AsyncEngine) -> None:
    h = FakeHierarchy()
    writer = TicketService(engine, lambda: h, ManualClock(0.0))  # "the rules process": no hub of its own
    [old] = await writer.apply([alert(key="old:1")])
    hub = ChangeHub()
    sub = hub.subscribe()
    feed = EventFeed(engine, hub, ManualClock(0.0), batch=2)
    await feed.start_at_end()  # history is not replayed
    assert await feed.poll_once() == 0
    [t] = await writer.apply([alert(key="new:1")])
    await writer.acknowledge(t.id, WORKER_M1)
    await writer.comment(old.id, WORKER_M1, "已联系")
    assert await feed.poll_once() == 2  # batch of 2
    assert await feed.poll_once() == 1
    got = [sub.queue.get_nowait() for _ in range(sub.queue.qsize())]
    assert [(tk.id, ev.action) for tk, ev in got] == [(t.id, "raise"), (t.id, "ack"), (old.id, "comment")]  # type: ignore[misc]
    assert got[0][0].status == Status.ACKNOWLEDGED  # type: ignore[index]  # the ticket as it is now


async def test_feed_loop_stops_during_its_sleep(engine: AsyncEngine) -> None:
    feed = EventFeed(engine, ChangeHub(), SystemClock(), interval=3600)
    polled = asyncio.Event()
    real_poll = feed.poll_once

    async def poll_once() -> int:
        n = await real_poll()
        polled.set()
        return n

    feed.poll_once = poll_once  # type: ignore[method-assign]
    task = asyncio.create_task(feed.run())
    await asyncio.wait_for(polled.wait(), timeout=10)
    await feed.stop()
    await asyncio.wait_for(task, timeout=10)  # did not wait out the hour
    assert feed.cursor == 0
