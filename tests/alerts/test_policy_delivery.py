"""An escalation policy carried out for real: mails through a real SMTP server (aiosmtpd) for the first step,
reminders until someone accepts, the next step, an accepted ticket nobody started, and the all-clear. The clock
is a ManualClock; the escalation cycle runs by hand."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from alerts.lifecycle import Status
from alerts.policies import parse_policies
from devices.model import Role

from .fakes import account
from .notifykit import Kit, alert, lead_of, link_in, notify_kit, token_of

pytestmark = pytest.mark.timeout(60)

POLICY = """\
policies:
  - name: careful
    steps:
      - targets: [worker_on_duty]
        wait: 10m
      - targets: [microgrid_leader]
        channel: email
        wait: 10m
    remind_every: 4m
    ack_timeout: 20m
    ack_timeout_action: remind
    all_clear: true
"""
OPERATOR = account("op", Role.OPERATOR, "st")


async def mails(kit: Kit, count: int) -> list[tuple[str, str]]:
    """Deliver what is due and wait for `count` mails in all; (recipient, English lead line) of each."""
    await kit.deliver_all()
    async with asyncio.timeout(10):
        got = await kit.mailbox.wait_for(count)
    assert len(got) == count, [m.subject for m in got]
    return [(m.to[0], lead_of(m.text)) for m in got]


def link(kit: Kit, action: str, mail: int) -> tuple[int, str]:
    return token_of(link_in(list(kit.mailbox.mails)[mail].text, action))


async def test_reminders_next_step_not_started_and_all_clear(engine: AsyncEngine) -> None:
    async with notify_kit(engine, policies=parse_policies(POLICY)) as kit:
        [t] = await kit.service.apply([alert()])
        assert t.ack_due_at == kit.clock.now() + 600
        assert t.nudge_at == kit.clock.now() + 240
        assert await mails(kit, 1) == [("w1@example.org", "New ticket for you.")]

        kit.clock.advance(239)
        assert await kit.service.escalate_due() == []
        kit.clock.advance(1)
        [reminded] = await kit.service.escalate_due()
        assert reminded.escalation_level == 0
        assert (await mails(kit, 2))[1] == ("w1@example.org", "Reminder: nobody has accepted this ticket yet.")

        kit.clock.advance(240)  # a second reminder at 8 min
        await kit.service.escalate_due()
        kit.clock.advance(120)  # 10 min: the leader is told by e-mail
        [up] = await kit.service.escalate_due()
        assert up.escalation_level == 1
        got = await mails(kit, 4)
        assert got[2:] == [
            ("w1@example.org", "Reminder: nobody has accepted this ticket yet."),
            ("l1@example.org", "This ticket was escalated to you."),
        ]

        after = await kit.actions.act(*link(kit, "accept", 3))  # the leader accepts from the mail
        assert after.status is Status.ACKNOWLEDGED
        assert after.assignee_id == "p-l1"
        assert after.nudge_at == kit.clock.now() + 1200
        kit.clock.advance(1199)
        assert await kit.service.escalate_due() == []  # accepted: no more reminders
        kit.clock.advance(1)
        [nudged] = await kit.service.escalate_due()
        assert nudged.nudge_at == kit.clock.now() + 1200
        assert (await mails(kit, 5))[4] == ("l1@example.org", "Reminder: this ticket was accepted but not started.")

        leader = account("l1", Role.MICROGRID_LEADER, "m1", "p-l1", 3)
        await kit.service.start(t.id, leader)
        kit.clock.advance(3600)
        assert [e.action for e in await kit.service.escalate_due()] == []  # started: nothing more to nudge
        await kit.service.resolve(t.id, leader, "checked the detector; a false alarm from steam")
        got = await mails(kit, 6)
        assert got[5] == ("w1@example.org", "All clear.")  # the leader closed it: not told again
        await asyncio.sleep(0)
        assert len(kit.mailbox.mails) == 6

        timeline = (await kit.service.get_ticket(OPERATOR, t.id)).timeline
        policy_events = [(e.action, e.data.get("reason"), e.data.get("notified")) for e in timeline]
        assert ("remind", "remind", ["p-w1"]) in policy_events
        assert ("escalate", "ack", ["p-l1"]) in policy_events
        assert ("remind", "not_started", ["p-l1"]) in policy_events
