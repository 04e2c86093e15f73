"""The notification outbox: written with the change, delivered at least once, signed, retried with backoff,
in order per ticket, leased against double delivery, dead-lettered after max attempts."""

from __future__ import annotations

import asyncio
import json
import logging

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from alerts.errors import DeliveryError
from alerts.notify import (
    DELIVERY_HEADER,
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    Backoff,
    Delivery,
    LogChannel,
    OutboxDispatcher,
    WebhookChannel,
    verify_signature,
)
from alerts.service import TicketService
from core.clock import ManualClock

from .fakes import WORKER_M1, FakeHierarchy, alert

SECRET = "s3cret-for-tests"


class Recorder:
    """A channel that fails the first `fail` attempts, then records deliveries."""

    def __init__(self, fail: int = 0) -> None:
        self.fail = fail
        self.got: list[Delivery] = []
        self.attempts = 0

    async def deliver(self, delivery: Delivery) -> None:
        self.attempts += 1
        if self.attempts <= self.fail:
            raise DeliveryError("receiver down")
        self.got.append(delivery)


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(1_000.0)


@pytest.fixture
def service(engine: AsyncEngine, clock: ManualClock) -> TicketService:
    h = FakeHierarchy()
    return TicketService(engine, lambda: h, clock, channels=["hook"])


async def test_changes_are_delivered_in_order_once(
    service: TicketService, engine: AsyncEngine, clock: ManualClock
) -> None:
    [t] = await service.apply([alert()])
    await service.apply([alert(ts=1001)])  # a repeat: no notification
    await service.acknowledge(t.id, WORKER_M1)
    rec = Recorder()
    d = OutboxDispatcher(engine, {"hook": rec}, clock)
    # one ticket: strictly one change per round, in order
    assert await d.run_once() == 1
    assert await d.run_once() == 1
    assert await d.run_once() == 0
    assert [x.payload["event"]["action"] for x in rec.got] == ["raise", "ack"]
    assert rec.got[1].payload["ticket"]["status"] == "acknowledged"
    assert len({x.delivery_id for x in rec.got}) == 2
    assert await d.stats() == {"pending": 0, "delivered": 2, "failed": 0}


async def test_retry_with_backoff_keeps_the_delivery_id(
    service: TicketService, engine: AsyncEngine, clock: ManualClock
) -> None:
    await service.apply([alert()])
    rec = Recorder(fail=2)
    d = OutboxDispatcher(engine, {"hook": rec}, clock, backoff=Backoff(base=10, jitter=0))
    assert await d.run_once() == 0
    clock.advance(9)
    assert await d.run_once() == 0
    assert rec.attempts == 1  # not due yet
    clock.advance(1)
    assert await d.run_once() == 0  # second failure: next try after 20 s
    clock.advance(20)
    assert await d.run_once() == 1
    assert rec.attempts == 3
    assert rec.got[0].attempt == 3
    assert rec.got[0].delivery_id.startswith("hook-")


async def test_deliveries_backing_off_do_not_starve_new_ones(
    service: TicketService, engine: AsyncEngine, clock: ManualClock
) -> None:
    """A full batch of deliveries waiting out their backoff must not hide the due ones behind them."""
    for i in range(3):
        await service.apply([alert(key=f"smoke_alarm:d{i}")])
    rec = Recorder(fail=3)
    d = OutboxDispatcher(engine, {"hook": rec}, clock, batch=3, backoff=Backoff(base=600, jitter=0))
    assert await d.run_once() == 0  # the receiver was down: all three back off for 10 minutes
    for i in range(3, 5):
        await service.apply([alert(key=f"smoke_alarm:d{i}")])
    assert await d.run_once() == 2  # the two new ones go out at once
    assert rec.attempts == 5
    assert await d.stats() == {"pending": 3, "delivered": 2, "failed": 0}


async def test_dead_letter_after_max_attempts(service: TicketService, engine: AsyncEngine, clock: ManualClock) -> None:
    await service.apply([alert()])
    rec = Recorder(fail=100)
    d = OutboxDispatcher(engine, {"hook": rec}, clock, backoff=Backoff(base=1, cap=1, jitter=0, max_attempts=3))
    for _ in range(5):
        await d.run_once()
        clock.advance(2)
    assert rec.attempts == 3
    assert await d.stats() == {"pending": 0, "delivered": 0, "failed": 1}


async def test_two_dispatchers_do_not_double_deliver(
    service: TicketService, engine: AsyncEngine, clock: ManualClock
) -> None:
    await service.apply([alert(key=f"k:{i}") for i in range(10)])
    rec = Recorder()
    d1 = OutboxDispatcher(engine, {"hook": rec}, clock)
    d2 = OutboxDispatcher(engine, {"hook": rec}, clock)
    results = await asyncio.gather(d1.run_once(), d2.run_once())
    assert sum(results) == 10
    assert len({x.delivery_id for x in rec.got}) == len(rec.got) == 10


async def test_webhook_is_signed(clock: ManualClock) -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(204 if len(seen) > 1 else 503)

    client = httpx.AsyncClient(transport=httpx.MockTransport(handler))
    hook = WebhookChannel("http://receiver/hook", SECRET, clock=clock, client=client)
    delivery = Delivery(
        "hook-7", "hook", 3, {"ticket": {"id": 3, "title": "烟感报警"}, "event": {"action": "raise"}}, 1
    )
    with pytest.raises(DeliveryError):
        await hook.deliver(delivery)
    await hook.deliver(delivery)
    req = seen[-1]
    body = req.content
    assert json.loads(body)["delivery_id"] == "hook-7"
    assert req.headers[DELIVERY_HEADER] == "hook-7"
    assert verify_signature(SECRET, req.headers[TIMESTAMP_HEADER], body, req.headers[SIGNATURE_HEADER])
    assert not verify_signature("wrong", req.headers[TIMESTAMP_HEADER], body, req.headers[SIGNATURE_HEADER])
    assert not verify_signature(SECRET, req.headers[TIMESTAMP_HEADER], body + b" ", req.headers[SIGNATURE_HEADER])
    await client.aclose()


async def test_webhook_network_error_is_a_delivery_error(clock: ManualClock) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)

    client = httpx.AsyncClient(transport=httpx.MockTransport(handler))
    hook = WebhookChannel("http://receiver/hook", SECRET, clock=clock, client=client)
    with pytest.raises(DeliveryError):
        await hook.deliver(Delivery("d", "hook", 1, {}, 1))
    await client.aclose()


async def test_log_channel(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="cwatch.notify"):
        await LogChannel().deliver(Delivery("d", "log", 5, {"ticket": {"title": "燃气泄漏"}, "event": {}}, 1))
    assert "燃气泄漏" in caplog.text


async def test_notifications_name_who_to_reach(service: TicketService, engine: AsyncEngine, clock: ManualClock) -> None:
    from rules.alert import Severity

    from .fakes import LEADER_M1

    [t] = await service.apply([alert(severity=Severity.CRITICAL)])
    clock.advance(300)
    await service.escalate_due()
    await service.assign(t.id, LEADER_M1, "p-w1b", "换人处理")
    rec = Recorder()
    d = OutboxDispatcher(engine, {"hook": rec}, clock)
    while await d.run_once():
        pass
    by_action = {x.payload["event"]["action"]: x.payload["recipients"] for x in rec.got}
    assert by_action["raise"] == [{"id": "p-w1", "name": "王芳", "phone": "", "role": "grid_worker"}]
    assert [r["id"] for r in by_action["escalate"]] == ["p-l1"]
    assert [r["name"] for r in by_action["assign"]] == ["赵磊"]
