"""The SSE stream's framing: a heartbeat a browser can see, also while every change is out of the viewer's
scope, and the changes waiting together written in one chunk."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from alerts.accounts import AccountStore
from alerts.api import AlertsApi
from alerts.api.stream import _events
from alerts.service import TicketService
from alerts.stream import ChangeHub
from core.clock import ManualClock

from .fakes import WORKER_M1, FakeHierarchy, alert


class _Connected:
    """What `_events` asks of the request: the client never leaves."""

    async def is_disconnected(self) -> bool:
        return False


@pytest.fixture
async def api(engine: AsyncEngine) -> AlertsApi:
    clock = ManualClock(50_000.0)
    hierarchy = FakeHierarchy()
    hub = ChangeHub()
    service = TicketService(engine, lambda: hierarchy, clock, hub)
    return AlertsApi(service, AccountStore(engine, clock), lambda: hierarchy, hub, heartbeat_s=0.2)


async def _chunks(api: AlertsApi) -> AsyncIterator[str]:
    assert api.hub is not None
    async for chunk in _events(_Connected(), api, WORKER_M1, api.hub.subscribe()):  # type: ignore[arg-type]
        yield chunk


async def test_the_stream_opens_with_a_heartbeat_and_beats_while_nothing_happens(api: AlertsApi) -> None:
    stream = _chunks(api)
    first = await anext(stream)
    assert first.startswith("retry: 3000\n\n")
    assert 'event: heartbeat\ndata: {"at": 50000.0, "every_s": 0.2}\n\n' in first
    assert await asyncio.wait_for(anext(stream), 5) == 'event: heartbeat\ndata: {"at": 50000.0, "every_s": 0.2}\n\n'
    await stream.aclose()


async def test_changes_out_of_scope_do_not_silence_the_heartbeat(api: AlertsApi) -> None:
    """A board of M1 during a storm in M2 receives no ticket, but still hears that its stream is alive."""
    stream = _chunks(api)
    await anext(stream)
    stop = asyncio.Event()

    async def storm_elsewhere() -> None:
        i = 0
        while not stop.is_set():
            i += 1
            await api.service.apply([alert(key=f"k:{i}", microgrid="M2")])
            await asyncio.sleep(0.01)

    task = asyncio.create_task(storm_elsewhere())
    try:
        chunk = await asyncio.wait_for(anext(stream), 5)
    finally:
        stop.set()
        await task
    assert chunk.startswith("event: heartbeat\n")
    await stream.aclose()


async def test_waiting_changes_are_written_in_one_chunk(api: AlertsApi) -> None:
    stream = _chunks(api)
    await anext(stream)
    changed = await api.service.apply([alert(key=f"k:{i}", microgrid="M1") for i in range(5)])
    chunk = await asyncio.wait_for(anext(stream), 5)
    assert chunk.count("event: ticket\n") == 5
    assert len(changed) == 5
    await stream.aclose()
