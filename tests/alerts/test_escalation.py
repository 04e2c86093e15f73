"""SLA escalation up the grid with a ManualClock: levels, skipped empty levels, reminders, restart safety."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from alerts.escalation import Escalator, overdue_reason, plan_escalation
from alerts.model import Ticket
from alerts.service import TicketService
from alerts.sla import SlaPolicy
from alerts.tables import create_tables
from core.clock import ManualClock
from core.db import make_engine
from rules.alert import Severity

from .fakes import WORKER_M1, FakeHierarchy, alert


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(100_000.0)


@pytest.fixture
def service(engine: AsyncEngine, clock: ManualClock) -> TicketService:
    h = FakeHierarchy()
    return TicketService(engine, lambda: h, clock)


async def test_unacknowledged_critical_climbs_the_grid(service: TicketService, clock: ManualClock) -> None:
    [t] = await service.apply([alert(severity=Severity.CRITICAL)])
    clock.advance(299)
    assert await service.due_escalations() == []
    assert await service.escalate_due() == []
    clock.advance(1)
    assert [d.id for d in await service.due_escalations()] == [t.id]
    steps = []
    for _ in range(6):
        [e] = await service.escalate_due()
        assert e.ack_due_at == clock.now() + 300
        steps.append(e.escalation_level)
        clock.advance(300)
    assert steps == [1, 2, 3, 4, 4, 4]  # leader, grid, community, street, then reminders at the top
    timeline = (await service.get_ticket(WORKER_M1, t.id)).timeline
    escalations = [(e.action, e.data["level"], e.data["notified"]) for e in timeline[1:]]
    assert escalations == [
        ("escalate", 1, ["p-l1"]),
        ("escalate", 2, ["p-g1"]),
        ("escalate", 3, ["p-c1"]),
        ("escalate", 4, ["p-s1"]),
        ("remind", 4, ["p-s1"]),
        ("remind", 4, ["p-s1"]),
    ]
    assert all(e.actor == "system" and e.note for e in timeline[1:])
    # stored in both languages, each the board's own words for it (`board.tl.*`): one text for both
    assert timeline[1].note == "超时未确认，升级到第 1 级 (Not acknowledged in time; escalated to level 1)"


async def test_acknowledged_ticket_escalates_only_on_resolve_deadline(
    service: TicketService, clock: ManualClock
) -> None:
    [t] = await service.apply([alert(severity=Severity.CRITICAL)])
    await service.acknowledge(t.id, WORKER_M1)
    clock.advance(3599)
    assert await service.escalate_due() == []
    clock.advance(1)
    [e] = await service.escalate_due()
    assert e.escalation_level == 1
    assert e.resolve_due_at == clock.now() + 3600
    timeline = (await service.get_ticket(WORKER_M1, t.id)).timeline
    assert timeline[-1].data["reason"] == "resolve"


async def test_empty_levels_are_skipped_and_info_never_escalates(service: TicketService, clock: ManualClock) -> None:
    [m3] = await service.apply([alert(key="a:m3", microgrid="M3", severity=Severity.MAJOR)])
    [info] = await service.apply([alert(key="b:info", severity=Severity.INFO)])
    assert info.ack_due_at is None
    assert info.resolve_due_at is None
    clock.advance(10 * 24 * 3600)
    escalated = await service.escalate_due()
    assert [e.id for e in escalated] == [m3.id]
    assert escalated[0].escalation_level == 3  # M3 has no leader and G2 nobody: straight to community duty


async def test_resolved_ticket_is_not_escalated(service: TicketService, clock: ManualClock) -> None:
    [t] = await service.apply([alert(severity=Severity.CRITICAL)])
    await service.resolve(t.id, WORKER_M1, "处理完毕")
    clock.advance(10_000)
    assert await service.escalate_due() == []


async def test_deadlines_survive_a_restart(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'restart.db'}"
    h = FakeHierarchy()
    e1 = make_engine(url)
    await create_tables(e1)
    [t] = await TicketService(e1, lambda: h, ManualClock(0.0)).apply([alert(severity=Severity.CRITICAL)])
    await e1.dispose()  # the process dies before the deadline
    e2 = make_engine(url)
    try:
        restarted = TicketService(e2, lambda: h, ManualClock(301.0))
        [e] = await restarted.escalate_due()
        assert (e.id, e.escalation_level) == (t.id, 1)
    finally:
        await e2.dispose()


class CountingClock(ManualClock):
    """Stops the escalator loop after `cycles` sleeps."""

    def __init__(self, start: float, cycles: int) -> None:
        super().__init__(start)
        self.left = cycles

    async def sleep(self, seconds: float) -> None:
        self.left -= 1
        if self.left < 0:
            raise asyncio.CancelledError
        await super().sleep(seconds)


async def test_escalator_loop_keeps_going_after_a_failure(
    service: TicketService, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock = CountingClock(100_000.0, cycles=12)
    service.clock = clock
    [t] = await service.apply([alert(severity=Severity.CRITICAL)])
    real = service.escalate_due
    calls = 0

    async def flaky() -> list[object]:
        nonlocal calls
        calls += 1
        if calls == 2:
            raise RuntimeError("database briefly unavailable")
        return list(await real())

    monkeypatch.setattr(service, "escalate_due", flaky)
    escalator = Escalator(service, clock, interval=60)
    with pytest.raises(asyncio.CancelledError):
        await escalator.run()
    assert calls == 13
    ticket = (await service.get_ticket(WORKER_M1, t.id)).ticket
    assert ticket.escalation_level == 2  # 12 minutes of 60 s cycles: due at 5 min and 10 min
    assert await escalator.due_escalations(clock.now()) == []


def test_plan_is_pure_and_idempotent_when_not_due() -> None:
    from alerts.lifecycle import Status
    from alerts.model import Ticket

    t = Ticket(
        1,
        "k",
        "r",
        Severity.MAJOR,
        Status.OPEN,
        "t",
        {},
        "M1",
        None,
        None,
        None,
        None,
        "p-w1",
        0,
        1,
        0.0,
        0.0,
        900.0,
        14_400.0,
        False,
        None,
        0.0,
        0.0,
    )
    h = FakeHierarchy()
    assert overdue_reason(t, 899) is None
    assert plan_escalation(t, 899, SlaPolicy(), h) is None
    change = plan_escalation(t, 900, SlaPolicy(), h)
    assert change is not None
    assert change.values == {
        "escalation_level": 1,
        "ack_due_at": 1800.0,
        "overdue_since": 900.0,
        "overdue_reason": "ack",
    }
    # escalated once, it is planned again from its moved deadline and keeps since when it is overdue
    again = plan_escalation(replace(t, **change.values), 1800, SlaPolicy(), h)
    assert again is not None
    assert again.values == {"escalation_level": 2, "ack_due_at": 2700.0}


async def test_stop_ends_the_loop_during_its_sleep(service: TicketService) -> None:
    from core.clock import SystemClock

    escalator = Escalator(service, SystemClock(), interval=3600)
    first_cycle = asyncio.Event()
    real_run_once = escalator.run_once

    async def run_once() -> list[Ticket]:
        out = await real_run_once()
        first_cycle.set()
        return out

    escalator.run_once = run_once  # type: ignore[method-assign]
    task = asyncio.create_task(escalator.run())
    await asyncio.wait_for(first_cycle.wait(), timeout=10)  # then ask it to stop in the middle of its hour's sleep
    await escalator.stop()
    await asyncio.wait_for(task, timeout=10)
    assert escalator.cycles == 1


async def test_per_rule_sla_overrides_severity(engine: AsyncEngine, clock: ManualClock) -> None:
    from alerts.sla import Sla

    h = FakeHierarchy()
    sla = SlaPolicy(by_rule={"elderly_no_water": Sla(600, 7200)})
    service = TicketService(engine, lambda: h, clock, sla=sla)
    [care] = await service.apply([alert(key="e:h1", rule="elderly_no_water", severity=Severity.MAJOR)])
    [other] = await service.apply([alert(key="t:1", rule="trash_full", severity=Severity.MAJOR)])
    assert care.ack_due_at == clock.now() + 600
    assert other.ack_due_at == clock.now() + 900
    clock.advance(600)
    [e] = await service.escalate_due()
    assert e.id == care.id
    assert e.ack_due_at == clock.now() + 600


async def test_watchdog(service: TicketService, clock: ManualClock) -> None:
    escalator = Escalator(service, clock, interval=30)
    assert escalator.healthy()
    await escalator.run_once()
    clock.advance(90)
    assert escalator.healthy()
    clock.advance(1)
    assert not escalator.healthy()  # no cycle for more than three intervals: the loop is stuck


async def test_a_ticket_stays_overdue_after_its_escalations_move_the_deadline(
    service: TicketService, clock: ManualClock
) -> None:
    [t] = await service.apply([alert(severity=Severity.CRITICAL)])
    missed = t.ack_due_at
    assert missed == 100_300
    clock.advance(301)
    for level in (1, 2):
        [e] = await service.escalate_due()
        assert e.ack_due_at == clock.now() + 300  # the next level gets its own five minutes
        assert (e.escalation_level, e.overdue_since, e.overdue_reason) == (level, missed, "ack")
        clock.advance(100)  # before the next level's deadline: still overdue, nobody has acknowledged it
        assert e.overdue(clock.now())
        assert (await service.summary(WORKER_M1))["overdue"] == 1
        page = await service.list_tickets(WORKER_M1)
        assert [x.overdue_at(clock.now()) for x in page.items] == [missed]
        clock.advance(201)
    # acknowledging meets the missed deadline: no longer overdue
    t = await service.acknowledge(t.id, WORKER_M1)
    assert (t.overdue_since, t.overdue_reason, t.overdue(clock.now())) == (None, None, False)
    assert (await service.summary(WORKER_M1))["overdue"] == 0


async def test_a_missed_resolve_deadline_outlasts_the_acknowledgement(
    service: TicketService, clock: ManualClock
) -> None:
    [t] = await service.apply([alert(severity=Severity.CRITICAL)])
    clock.advance(301)
    await service.escalate_due()
    clock.advance(3600)  # past the resolve deadline too (1 h from the raise)
    [e] = await service.escalate_due()
    assert (e.overdue_since, e.overdue_reason) == (100_300, "resolve")
    t = await service.acknowledge(t.id, WORKER_M1)
    assert (t.overdue_since, t.overdue(clock.now())) == (100_300, True)  # acknowledged, but still not resolved
    t = await service.resolve(t.id, WORKER_M1, "done")
    assert not t.overdue(clock.now())
    assert (await service.summary(WORKER_M1))["overdue"] == 0
