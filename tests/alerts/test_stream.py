"""The SSE stream's framing: a heartbeat a browser can see, also while every change is out of the viewer's
scope, and the changes waiting together written in one chunk."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from alerts.accounts import AccountStore
from alerts.api import AlertsApi
from alerts.api.stream import _events
from alerts.api.views import people_names, ticket_out
from alerts.lifecycle import available_actions
from alerts.model import Account
from alerts.service import TicketService
from alerts.stream import ChangeHub
from core.clock import ManualClock

from .fakes import LEADER_M1, WORKER_M1, WORKER_M2, FakeHierarchy, alert


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


async def _chunks(api: AlertsApi, viewer: Account = WORKER_M1) -> AsyncIterator[str]:
    assert api.hub is not None
    async for chunk in _events(_Connected(), api, viewer, api.hub.subscribe()):  # type: ignore[arg-type]
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


def _tickets(chunk: str) -> list[dict[str, object]]:
    return [json.loads(line[6:])["ticket"] for line in chunk.splitlines() if line.startswith('data: {"ticket"')]


async def test_boards_share_a_change_s_rendering_but_each_sees_only_its_scope_with_its_role_s_actions(
    api: AlertsApi,
) -> None:
    """Each change is rendered once for every board (`alerts.api.frames`): a board of M2 must still never receive
    M1's ticket that M1's boards already rendered, and each role gets its own actions."""
    boards = {a.username: _chunks(api, a) for a in (WORKER_M1, LEADER_M1, WORKER_M2)}
    for stream in boards.values():
        await anext(stream)
    await api.service.apply([alert(key="k:m1", microgrid="M1")])
    w1 = _tickets(await asyncio.wait_for(anext(boards["w1"]), 5))
    l1 = _tickets(await asyncio.wait_for(anext(boards["l1"]), 5))
    await api.service.apply([alert(key="k:m2", microgrid="M2")])
    w2 = _tickets(await asyncio.wait_for(anext(boards["w2"]), 5))  # M2's ticket, and nothing of M1 before it
    assert [t["microgrid_id"] for t in w1 + l1 + w2] == ["M1", "M1", "M2"]
    assert api.frames.rendered == 2  # the M1 change once for both of its boards
    hierarchy = api.registry()
    for viewer, (got,) in ((WORKER_M1, w1), (LEADER_M1, l1), (WORKER_M2, w2)):
        ticket = await api.service.store.get(int(str(got["id"])))
        assert ticket is not None
        expected = ticket_out(
            hierarchy, viewer, ticket, api.service.clock.now(), people_names(hierarchy, ticket.microgrid_id)
        )
        assert got == json.loads(expected.model_dump_json())  # exactly what the list would show this viewer
        assert got["actions"] == [a.value for a in available_actions(ticket.status, viewer.role)]
    assert w1[0]["actions"] != l1[0]["actions"]
    for stream in boards.values():
        await stream.aclose()
