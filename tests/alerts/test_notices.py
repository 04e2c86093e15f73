"""The notice seam: notices are queued in the caller's transaction, keyed ones once, and round-trip through the
outbox payload."""

from __future__ import annotations

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from alerts.notices import (
    NOTICE_CHANNEL,
    Audience,
    Notice,
    OutboxNotices,
    Recipient,
    notice_from_payload,
    notice_to_payload,
)
from alerts.tables import outbox
from core.db import begin_write

WORKER = Recipient(Audience.PERSON, "p-w1", "王芳")
FAMILY = Recipient(Audience.FAMILY, "h1#c1", "王小明")


def notice(recipient: Recipient = WORKER, key: str = "", channel: str = "preferred") -> Notice:
    return Notice(7, recipient, channel, "new_ticket", ("accept", "on_my_way"), step=1, key=key)


async def _rows(engine: AsyncEngine) -> list[dict[str, object]]:
    async with engine.connect() as conn:
        return [dict(r._mapping) for r in await conn.execute(select(outbox).order_by(outbox.c.id))]


async def test_notices_are_queued_once_per_key_and_recipient(engine: AsyncEngine) -> None:
    sink = OutboxNotices()
    async with begin_write(engine) as conn:
        await sink.enqueue(conn, [notice(key="step1"), notice(FAMILY, key="step1")], 100.0)
    async with begin_write(engine) as conn:  # the step replayed after a restart: nothing new
        await sink.enqueue(conn, [notice(key="step1"), notice(FAMILY, key="step1")], 200.0)
    async with begin_write(engine) as conn:  # another channel or no key: queued
        await sink.enqueue(conn, [notice(key="step1", channel="sms"), notice(), notice()], 300.0)
    rows = await _rows(engine)
    assert len(rows) == 5
    assert {r["channel"] for r in rows} == {NOTICE_CHANNEL}
    assert rows[0]["next_attempt_at"] == 100.0
    assert rows[0]["ticket_id"] == 7


async def test_notices_roll_back_with_the_callers_transaction(engine: AsyncEngine) -> None:
    async def change_that_fails() -> None:
        async with begin_write(engine) as conn:
            await OutboxNotices().enqueue(conn, [notice()], 1.0)
            raise RuntimeError("the ticket change failed")

    with pytest.raises(RuntimeError):
        await change_that_fails()
    assert await _rows(engine) == []


def test_payload_round_trip_and_bad_input() -> None:
    n = notice(FAMILY, key="k")
    assert notice_from_payload(notice_to_payload(n)) == n
    with pytest.raises(ValueError, match="not a notice"):
        notice_from_payload({"ticket": {}})
    with pytest.raises(ValueError, match="template"):
        Notice(1, WORKER, "email", "hello")
    with pytest.raises(ValueError, match="action"):
        Notice(1, WORKER, "email", "new_ticket", ("delete_everything",))


def test_the_ladder_tells_the_assignee_of_a_confirmed_alarm_and_of_a_severity_rise() -> None:
    from alerts.lifecycle import Status
    from alerts.model import Ticket, TicketEvent
    from alerts.policies import default_policies
    from alerts.policy_notices import PolicyNotices
    from rules.alert import Severity
    from tests.alerts.fakes import FakeHierarchy

    ticket = Ticket(
        1, "smoke:SD1", "smoke_alarm", Severity.CRITICAL, Status.OPEN, "t", {}, "M1", "SD1", None, None, None,
        "p-w1", 0, 1, 0.0, 0.0, None, None, False, None, 0.0, 0.0,
    )  # fmt: skip
    card = [{"id": "p-w1", "name": "王芳"}]
    h = FakeHierarchy()
    ladder_notices = PolicyNotices(default_policies, lambda: h)

    def event(action: str, **data: object) -> TicketEvent:
        return TicketEvent(1, 1, 0.0, "system", action, None, Status.OPEN, None, dict(data))

    for action in ("confirm", "join"):  # the alarm itself stands, or another rule of its group fired
        [n] = ladder_notices(ticket, event(action, confirmed=True), card)
        assert (n.template, n.recipient.id) == ("new_ticket", "p-w1")
    rise = {"from": "major", "to": "critical"}
    for action in ("join", "confirm", "repeat"):
        [n] = ladder_notices(ticket, event(action, severity=rise), card)
        assert (n.template, n.recipient.id) == ("severity_raised", "p-w1")
    assert ladder_notices(ticket, event("join"), card) == []


def test_a_smoke_ticket_that_becomes_critical_calls_its_worker_and_family() -> None:
    from dataclasses import replace

    from alerts.lifecycle import Status
    from alerts.model import Ticket, TicketEvent
    from alerts.policies import default_policies
    from alerts.policy_notices import PolicyNotices
    from rules.alert import Severity
    from tests.alerts.notifykit import registry

    reg = registry()
    plan = PolicyNotices(default_policies, lambda: reg)
    ticket = Ticket(
        1, "smoke:SD-1", "smoke_alarm", Severity.CRITICAL, Status.OPEN, "t", {}, "m1", "SD-1", "h1", "b1", "c1",
        "p-w1", 0, 1, 0.0, 0.0, None, None, False, None, 0.0, 0.0,
    )  # fmt: skip
    rise = TicketEvent(1, 1, 0.0, "system", "join", None, Status.OPEN, None, {"severity": {"from": "major"}})
    got = [(n.recipient.id, n.template, n.channel, n.actions) for n in plan(ticket, rise, [{"id": "p-w1"}])]
    assert got == [
        ("p-w1", "severity_raised", "voice,sms,preferred", ("accept", "on_my_way", "resolve")),
        ("h1#王伟", "family_check", "voice,sms,preferred", ("send_someone",)),
    ]
    # under the ladder, a ticket escalated to the leader: the assignee and the leader hear of the rise
    door = replace(ticket, dedup_key="door:AC-1", rule_id="door_held_open", household_id=None, escalation_level=1)
    got = [(n.recipient.id, n.channel) for n in plan(door, rise, [{"id": "p-w1"}])]
    assert got == [("p-w1", "preferred"), ("p-l1", "preferred")]
