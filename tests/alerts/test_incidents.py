"""One ticket per situation, on SQLite and PostgreSQL: related rules' alerts about one device join one ticket
and raise its severity, its conditions clear one by one, and alarms in their verification wait show at once
as verifying, then are confirmed or withdrawn."""

from __future__ import annotations

from typing import Any

import pytest
from msgspec.structs import replace
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from alerts.escalation import Escalator
from alerts.lifecycle import Status
from alerts.model import MemberState, Ticket
from alerts.service import TicketService
from alerts.tables import outbox
from core.clock import ManualClock
from rules.alert import AlertAction, Severity

from .fakes import OPERATOR, WORKER_M1, FakeHierarchy, alert

RAISE, CLEAR, PENDING, CANCEL = AlertAction.RAISE, AlertAction.CLEAR, AlertAction.PENDING, AlertAction.CANCEL
CONCENTRATION, ALARM, NOT_CLEARED = "smoke_concentration:SD1", "smoke_alarm:SD1", "smoke_not_cleared:SD1"


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(10_000.0)


@pytest.fixture
def service(engine: AsyncEngine, clock: ManualClock) -> TicketService:
    hierarchy = FakeHierarchy()
    return TicketService(engine, lambda: hierarchy, clock, channels=["hook"])


def smoke(key: str, action: AlertAction = RAISE, ts: float = 1_000.0, **kw: Any) -> Any:
    rule = key.split(":")[0]
    severity = Severity.MAJOR if rule == "smoke_concentration" else Severity.CRITICAL
    return alert(key, action, severity, ts, rule=rule, group="smoke:SD1", **kw)


def door(key: str, action: AlertAction = RAISE, ts: float = 1_000.0) -> Any:
    rule = key.split(":")[0]
    severity = Severity.CRITICAL if rule == "door_forced" else Severity.MINOR
    return alert(key, action, severity, ts, rule=rule, group="door:AC1")


async def notified(engine: AsyncEngine) -> list[tuple[int, str, list[str]]]:
    """(ticket id, event action, recipient ids) of every notification enqueued, in order."""
    async with engine.connect() as conn:
        rows = (await conn.execute(select(outbox.c.ticket_id, outbox.c.payload).order_by(outbox.c.id))).all()
    return [(tid, p["event"]["action"], [r["id"] for r in p["recipients"]]) for tid, p in rows]


async def timeline(service: TicketService, ticket: Ticket) -> list[tuple[str, Any, Any]]:
    detail = await service.get_ticket(OPERATOR, ticket.id)
    return [(e.action, e.data.get("rule_id"), e.data.get("severity")) for e in detail.timeline]


async def test_smoke_concentration_then_alarm_is_one_ticket_raised_to_critical(
    service: TicketService, engine: AsyncEngine, clock: ManualClock
) -> None:
    [t1] = await service.apply([smoke(CONCENTRATION, ts=1_000)])
    assert (t1.dedup_key, t1.severity, t1.ack_due_at, t1.resolve_due_at) == (
        "smoke:SD1",
        Severity.MAJOR,
        10_000 + 900,
        10_000 + 4 * 3600,
    )
    clock.advance(60)
    [t2] = await service.apply([smoke(ALARM, ts=1_050)])
    assert t2.id == t1.id
    assert (t2.severity, t2.rule_id, t2.title, t2.count, t2.last_seen) == (
        Severity.CRITICAL,
        "smoke_alarm",
        f"smoke_alarm {ALARM}",
        2,
        1_050,
    )
    # the critical deadlines count from the alarm, and are never later than the major ones were
    assert (t2.ack_due_at, t2.resolve_due_at) == (10_060 + 300, 10_060 + 3600)
    clock.advance(60)
    [t3] = await service.apply([smoke(NOT_CLEARED, ts=1_650)])
    assert (t3.id, t3.severity, t3.ack_due_at) == (t1.id, Severity.CRITICAL, 10_360)  # no rise: unchanged
    assert await timeline(service, t3) == [
        ("raise", "smoke_concentration", None),
        ("join", "smoke_alarm", {"from": "major", "to": "critical"}),
        ("join", "smoke_not_cleared", None),
    ]
    # the worker on duty hears of the ticket and of its rise to critical, not of the join that changed nothing
    assert await notified(engine) == [(t1.id, "raise", ["p-w1"]), (t1.id, "join", ["p-w1"])]
    detail = await service.get_ticket(OPERATOR, t1.id)
    assert [(m.dedup_key, m.state) for m in detail.members] == [
        (CONCENTRATION, MemberState.FIRING),
        (ALARM, MemberState.FIRING),
        (NOT_CLEARED, MemberState.FIRING),
    ]


async def test_a_severity_rise_never_moves_a_deadline_later(service: TicketService, clock: ManualClock) -> None:
    [t] = await service.apply([alert("water_a:WM1", severity=Severity.MINOR, rule="water_a", group="w:WM1")])
    assert t.ack_due_at == 10_000 + 3600
    clock.advance(3_500)  # the minor ticket is due in 100 s; a major one would have 15 min
    [t] = await service.apply([alert("water_b:WM1", severity=Severity.MAJOR, rule="water_b", group="w:WM1")])
    assert (t.severity, t.ack_due_at, t.resolve_due_at) == (Severity.MAJOR, 10_000 + 3600, 13_500 + 4 * 3600)


async def test_door_forced_then_held_open_is_one_ticket(service: TicketService) -> None:
    forced = f"door_forced:AC1@{1_000}"
    [t1] = await service.apply([door(forced, ts=1_000)])
    [t2] = await service.apply([door("door_held_open:AC1", ts=1_300)])
    assert (t2.id, t2.dedup_key, t2.severity, t2.rule_id) == (t1.id, "door:AC1", Severity.CRITICAL, "door_forced")
    # the door closed: held open has cleared, the forced door (no clear) still needs a person
    [t3] = await service.apply([door("door_held_open:AC1", CLEAR, ts=1_400)])
    assert (t3.status, t3.cleared) == (Status.OPEN, False)
    assert await timeline(service, t3) == [
        ("raise", "door_forced", None),
        ("join", "door_held_open", None),
        ("clear_part", "door_held_open", None),
    ]


async def test_a_grouped_ticket_clears_with_its_last_condition(service: TicketService) -> None:
    await service.apply([smoke(CONCENTRATION, ts=1_000), smoke(ALARM, ts=1_010)])
    [t] = await service.apply([smoke(CONCENTRATION, CLEAR, ts=1_100)])
    assert (t.cleared, t.status) == (False, Status.OPEN)
    # a repeat of the cleared condition makes it fire again; its second clear, then the alarm's, clear the ticket
    [t] = await service.apply([smoke(CONCENTRATION, ts=1_150)])
    [t] = await service.apply([smoke(CONCENTRATION, CLEAR, ts=1_160)])
    [t] = await service.apply([smoke(ALARM, CLEAR, ts=1_200)])
    assert (t.cleared, t.cleared_at) == (True, 1_200)
    assert t.status == Status.OPEN  # critical: a person checks what happened (the clear policy)
    assert [a for a, _, _ in await timeline(service, t)] == [
        "raise",
        "join",
        "clear_part",
        "repeat",
        "clear_part",
        "clear",
    ]
    # a clear of a condition the ticket no longer holds as live changes nothing
    assert await service.apply([smoke(ALARM, CLEAR, ts=1_300)]) == []


async def test_a_non_critical_group_auto_resolves_with_its_last_clear(service: TicketService) -> None:
    a = alert("water_a:WM1", severity=Severity.MINOR, rule="water_a", group="w:WM1")
    b = alert("water_b:WM1", severity=Severity.MAJOR, rule="water_b", group="w:WM1")
    await service.apply([a, b])
    [t] = await service.apply([alert("water_b:WM1", CLEAR, rule="water_b", group="w:WM1", ts=1_100)])
    assert t.status == Status.OPEN
    [t] = await service.apply([alert("water_a:WM1", CLEAR, rule="water_a", group="w:WM1", ts=1_200)])
    assert (t.status, t.resolved_by) == (Status.RESOLVED, "system")
    # flap control: the group fires again within 10 min and the same ticket reopens
    [again] = await service.apply([alert("water_b:WM1", rule="water_b", group="w:WM1", ts=1_300)])
    assert (again.id, again.status) == (t.id, Status.OPEN)


async def test_a_resolved_group_ticket_is_not_joined_again(service: TicketService) -> None:
    [t] = await service.apply([smoke(CONCENTRATION, ts=1_000)])
    await service.resolve(t.id, WORKER_M1, "cooking smoke")
    [t2] = await service.apply([smoke(ALARM, ts=1_100)])
    assert t2.id != t.id
    assert t2.dedup_key == "smoke:SD1"
    # a replay of the resolved ticket's condition (no later than its last alert) opens nothing
    assert await service.apply([smoke(CONCENTRATION, ts=1_000)]) == []
    # a later raise of it joins the new ticket
    [t3] = await service.apply([smoke(CONCENTRATION, ts=1_200)])
    assert t3.id == t2.id


async def test_a_ticket_opened_before_its_rule_joined_a_group_keeps_its_condition(service: TicketService) -> None:
    # a rules reload put smoke_concentration in a group while its ticket was open: the ticket keeps it
    [t] = await service.apply([alert(CONCENTRATION, rule="smoke_concentration")])
    assert t.dedup_key == CONCENTRATION
    [t2] = await service.apply([smoke(CONCENTRATION, ts=1_100)])
    assert (t2.id, t2.count) == (t.id, 2)
    [t3] = await service.apply([smoke(ALARM, ts=1_150)])  # the group's first ticket
    assert t3.id != t.id
    [t4] = await service.apply([smoke(CONCENTRATION, CLEAR, ts=1_200)])
    assert (t4.id, t4.cleared) == (t.id, True)


async def test_a_silenced_rule_still_joins_its_groups_active_ticket(service: TicketService) -> None:
    leader = OPERATOR
    hierarchy = service.registry()
    await service.silences.create(
        leader, hierarchy, 10_000, scope_id="M1", ends_at=20_000, comment="detector test", rule_id="smoke_alarm"
    )
    assert await service.apply([smoke(ALARM, ts=1_000)]) == []  # silenced: no ticket
    [t] = await service.apply([smoke(CONCENTRATION, ts=1_010)])
    # someone is on the concentration ticket: the alarm of the same detector joins it
    [t2] = await service.apply([smoke(ALARM, ts=1_020)])
    assert (t2.id, t2.severity) == (t.id, Severity.CRITICAL)


# --- verification ---------------------------------------------------------------------------------------------


async def test_an_alarm_in_its_verification_wait_shows_at_once_then_is_confirmed(
    service: TicketService, engine: AsyncEngine, clock: ManualClock
) -> None:
    [t] = await service.apply([smoke(ALARM, PENDING, ts=1_000, until=1_040)])
    assert (t.status, t.verifying, t.verify_until, t.severity) == (Status.OPEN, True, 1_040, Severity.CRITICAL)
    assert (t.ack_due_at, t.resolve_due_at) == (None, None)  # nothing escalates while it is being verified
    assert not t.overdue(10_000 + 86_400)
    assert await service.due_escalations(10_000 + 86_400) == []
    assert await notified(engine) == []  # nobody is told yet
    clock.advance(40)
    [t2] = await service.apply([smoke(ALARM, ts=1_040)])
    assert (t2.id, t2.verifying, t2.verify_until, t2.count) == (t.id, False, None, 1)
    assert (t2.ack_due_at, t2.resolve_due_at) == (10_040 + 300, 10_040 + 3600)  # from the confirmation
    assert [a for a, _, _ in await timeline(service, t2)] == ["verify", "confirm"]
    assert await notified(engine) == [(t.id, "confirm", ["p-w1"])]


async def test_an_alarm_silenced_during_its_wait_closes_its_ticket(service: TicketService, engine: AsyncEngine) -> None:
    [t] = await service.apply([smoke(ALARM, PENDING, ts=1_000, until=1_040)])
    [t2] = await service.apply([smoke(ALARM, CANCEL, ts=1_020, details={"event": "silenced"})])
    assert (t2.id, t2.status, t2.verifying, t2.resolved_by) == (t.id, Status.CLOSED, False, "system")
    detail = await service.get_ticket(OPERATOR, t.id)
    assert [e.action for e in detail.timeline] == ["verify", "cancel"]
    assert detail.timeline[-1].note == "核实期内撤销告警 (withdrawn during its verification wait): silenced"
    assert (detail.timeline[-1].from_status, detail.timeline[-1].to_status) == (Status.OPEN, Status.CLOSED)
    assert await notified(engine) == []
    # the raise that would have confirmed it, replayed, opens nothing
    assert await service.apply([smoke(ALARM, ts=1_040)]) == []


async def test_a_verifying_ticket_a_person_took_stays_with_them_when_withdrawn(service: TicketService) -> None:
    [t] = await service.apply([smoke(ALARM, PENDING, ts=1_000, until=1_040)])
    await service.acknowledge(t.id, WORKER_M1)
    [t2] = await service.apply([smoke(ALARM, CANCEL, ts=1_020)])
    assert (t2.status, t2.cleared, t2.verifying) == (Status.ACKNOWLEDGED, True, False)


async def test_an_alarm_verified_on_a_confirmed_ticket_raises_it_only_when_confirmed(
    service: TicketService, engine: AsyncEngine
) -> None:
    [t] = await service.apply([smoke(CONCENTRATION, ts=1_000)])
    [t2] = await service.apply([smoke(ALARM, PENDING, ts=1_010, until=1_050)])
    assert (t2.id, t2.severity, t2.verifying, t2.verify_until) == (t.id, Severity.MAJOR, False, 1_050)
    [t3] = await service.apply([smoke(ALARM, ts=1_050)])
    assert (t3.severity, t3.verify_until) == (Severity.CRITICAL, None)
    assert await timeline(service, t3) == [
        ("raise", "smoke_concentration", None),
        ("verify", "smoke_alarm", None),
        ("confirm", "smoke_alarm", {"from": "major", "to": "critical"}),
    ]
    assert [a for _, a, _ in await notified(engine)] == ["raise", "confirm"]


async def test_an_alarm_withdrawn_from_a_confirmed_ticket_leaves_it_as_it_was(service: TicketService) -> None:
    [t] = await service.apply([smoke(CONCENTRATION, ts=1_000)])
    await service.apply([smoke(ALARM, PENDING, ts=1_010, until=1_050)])
    [t2] = await service.apply([smoke(ALARM, CANCEL, ts=1_020, details={"event": "silenced"})])
    assert (t2.id, t2.status, t2.severity, t2.verify_until, t2.cleared) == (
        t.id,
        Status.OPEN,
        Severity.MAJOR,
        None,
        False,
    )
    [t3] = await service.apply([smoke(CONCENTRATION, CLEAR, ts=1_100)])
    assert (t3.status, t3.resolved_by) == (Status.RESOLVED, "system")  # major, untouched: auto-resolved


async def test_a_verifying_ticket_confirmed_by_a_lower_rule_keeps_showing_the_alarm_until_withdrawn(
    service: TicketService, engine: AsyncEngine
) -> None:
    await service.apply([smoke(ALARM, PENDING, ts=1_000, until=1_040)])
    [t] = await service.apply([smoke(CONCENTRATION, ts=1_010)])
    assert (t.verifying, t.severity, t.ack_due_at) == (False, Severity.CRITICAL, 10_000 + 900)
    assert await notified(engine) == [(t.id, "join", ["p-w1"])]  # the ticket stands: its assignee is told
    [t] = await service.apply([smoke(ALARM, CANCEL, ts=1_020)])
    assert (t.severity, t.rule_id, t.status) == (Severity.MAJOR, "smoke_concentration", Status.OPEN)


async def test_an_alarm_left_verifying_by_a_removed_rule_is_confirmed_by_the_escalation_loop(
    service: TicketService, engine: AsyncEngine, clock: ManualClock
) -> None:
    # the wait ends at 10_040 (event time, like the clock); then the rule is removed: neither raise nor cancel comes
    [t] = await service.apply([smoke(ALARM, PENDING, ts=10_000, until=10_040)])
    await service.apply([smoke(CONCENTRATION, ts=10_000), smoke(NOT_CLEARED, PENDING, ts=10_010, until=10_050)])
    escalator = Escalator(service, clock)
    clock.advance(645)  # 10 min after the first wait ended, not yet after the second
    await escalator.run_once()
    t = await service.store.get(t.id) or t
    assert (t.verifying, t.verify_until) == (False, 10_050)  # the alarm is confirmed, the other wait still runs
    clock.advance(20)
    await escalator.run_once()
    t = await service.store.get(t.id) or t
    assert (t.verify_until, t.severity) == (None, Severity.CRITICAL)
    detail = await service.get_ticket(OPERATOR, t.id)
    confirms = [e for e in detail.timeline if e.action == "confirm"]
    assert [e.data["rule_id"] for e in confirms] == ["smoke_alarm", "smoke_not_cleared"]
    assert all("既无确认也无撤销" in (e.note or "") for e in confirms)
    assert [m.state for m in detail.members] == [MemberState.FIRING] * 3


async def test_a_held_raise_of_a_grouped_rule_joins_its_groups_ticket_when_released(service: TicketService) -> None:
    hierarchy = service.registry()
    held_open = alert("door_held_open:AC1", severity=Severity.MINOR, rule="door_held_open", group="door:AC1")
    s = await service.silences.create(
        OPERATOR, hierarchy, 10_000, scope_id="M1", ends_at=20_000, comment="door repair", rule_id="door_held_open"
    )
    assert await service.apply([replace(held_open, lasting=True)]) == []  # held: the door is still open after
    [t] = await service.apply([door(f"door_forced:AC1@{1_100}", ts=1_100)])
    await service.silences.cancel(OPERATOR, hierarchy, s.id, 10_000)
    [t2] = await service.release_held()
    assert (t2.id, t2.severity, t2.count) == (t.id, Severity.CRITICAL, 2)
    assert [a for a, _, _ in await timeline(service, t2)] == ["raise", "join"]
