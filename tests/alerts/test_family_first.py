"""Family first for a lone elderly resident's no-water alert, under the packaged policies, with mail through a
real SMTP server (aiosmtpd): the consented family is asked first; "all is well" closes the ticket as the family
member; no answer in 30 minutes sends the worker and tells the family someone is coming; "please send someone"
does so at once; a household without consented family has the worker told at once."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from alerts.lifecycle import Status
from devices.model import ChannelKind, ContactPoint, Role
from rules.alert import Alert, AlertAction, Severity
from tests.devices.factory import T0

from .fakes import account
from .notifykit import Kit, lead_of, link_in, notify_kit, registry, token_of

pytestmark = pytest.mark.timeout(60)
OPERATOR = account("op", Role.OPERATOR, "st")
SON = "son@example.org"
WORKER = "w1@example.org"


def no_water(household: str = "h1") -> Alert:
    return Alert(
        action=AlertAction.RAISE,
        rule_id="elderly_no_water",
        dedup_key=f"elderly_no_water:{household}:elderly_absence",
        severity=Severity.MAJOR,
        ts=T0.timestamp() + 60,
        microgrid_id="m1",
        title="独居老人 12 小时未用水 No water for 12 h",
        device_id="WM-1",
        household_id=household,
        building_id="b1",
        community_id="c1",
        group=f"elderly_absence:{household}",
    )


async def mails(kit: Kit, count: int) -> list[tuple[str, str]]:
    await kit.deliver_all()
    async with asyncio.timeout(10):
        got = await kit.mailbox.wait_for(count)
    assert len(got) == count, [(m.to, m.subject) for m in got]
    return [(m.to[0], lead_of(m.text)) for m in got]


def link(kit: Kit, action: str, mail: int) -> tuple[int, str]:
    return token_of(link_in(list(kit.mailbox.mails)[mail].text, action))


async def test_the_family_is_asked_first_and_all_is_well_closes_the_ticket(engine: AsyncEngine) -> None:
    async with notify_kit(engine) as kit:
        [t] = await kit.service.apply([no_water()])
        assert t.assignee_id == "p-w1"  # the worker has it on the board, but is not called out yet
        assert t.ack_due_at == kit.clock.now() + 1800
        assert await mails(kit, 1) == [(SON, "Please check on your family member.")]
        after = await kit.actions.act(*link(kit, "all_well", 0))
        assert after.status is Status.RESOLVED
        assert after.resolved_by == "family:王伟"
        [resolve] = [e for e in await kit.service.store.timeline(t.id) if e.action == "resolve"]
        assert (resolve.actor, resolve.data["audience"], resolve.data["recipient"]) == (
            "family:王伟",
            "family",
            "h1#王伟",
        )
        kit.clock.advance(3600)
        assert await kit.service.escalate_due() == []  # closed: the worker is never sent
        await kit.deliver_all()
        assert [m.to[0] for m in kit.mailbox.mails] == [SON]  # the one who answered gets no all-clear


async def test_no_answer_in_30_minutes_sends_the_worker_and_the_family_hears_someone_is_coming(
    engine: AsyncEngine,
) -> None:
    async with notify_kit(engine) as kit:
        [t] = await kit.service.apply([no_water()])
        await mails(kit, 1)
        kit.clock.advance(1799)
        assert await kit.service.escalate_due() == []
        kit.clock.advance(1)
        [up] = await kit.service.escalate_due()
        assert up.escalation_level == 1
        assert up.ack_due_at == kit.clock.now() + 15 * 60  # the worker's step: the SLA of a major ticket
        got = await mails(kit, 3)
        assert sorted(got[1:]) == [(SON, "Someone is on the way."), (WORKER, "This ticket was escalated to you.")]
        [coming] = [m for m in kit.mailbox.mails if m.to[0] == SON and lead_of(m.text) == "Someone is on the way."]
        assert "http" not in coming.text  # nothing to tap: information only

        worker = account("w1", Role.GRID_WORKER, "m1", "p-w1", 1)
        await kit.service.start(t.id, worker)
        await kit.service.resolve(t.id, worker, "上门看过，老人安好 visited, all well")
        got = await mails(kit, 4)
        assert got[3] == (SON, "All clear.")  # the family hears it is over; the worker who closed it does not


async def test_please_send_someone_moves_on_at_once(engine: AsyncEngine) -> None:
    async with notify_kit(engine) as kit:
        [t] = await kit.service.apply([no_water()])
        await mails(kit, 1)
        after = await kit.actions.act(*link(kit, "send_someone", 0))
        assert after.escalation_level == 1
        assert after.ack_due_at == kit.clock.now() + 15 * 60
        got = await mails(kit, 3)
        assert sorted(got[1:]) == [(SON, "Someone is on the way."), (WORKER, "This ticket was escalated to you.")]
        kit.clock.advance(1800)  # the family step's 30 min: the worker is not sent a second time
        [up] = await kit.service.escalate_due()
        assert up.escalation_level == 2
        got = await mails(kit, 4)
        assert got[3] == ("l1@example.org", "This ticket was escalated to you.")
        timeline = (await kit.service.get_ticket(OPERATOR, t.id)).timeline
        [asked] = [e for e in timeline if e.action == "send_someone"]
        assert asked.data["notified"] == ["p-w1", "h1#王伟"]


async def test_without_consented_family_the_worker_is_told_at_once(engine: AsyncEngine) -> None:
    async with notify_kit(engine) as kit:
        [t] = await kit.service.apply([no_water("h2")])  # h2 has no family contact
        assert t.ack_due_at == kit.clock.now() + 15 * 60  # the worker's step, not the family's 30 min
        assert await mails(kit, 1) == [(WORKER, "New ticket for you.")]


async def test_a_family_that_cannot_be_reached_does_not_keep_the_worker_waiting(engine: AsyncEngine) -> None:
    reg = registry()
    people = [k for owner in ("p-w1", "p-l1") for k in reg.contacts_of(owner)]
    by_text = ContactPoint(ChannelKind.SMS, "13800000009", household_id="h1", name="王伟", consent=True)
    async with notify_kit(engine, reg=reg.with_changes(contacts=[*people, by_text])) as kit:  # no SMS provider
        [t] = await kit.service.apply([no_water()])
        assert t.ack_due_at == kit.clock.now() + 1800
        await kit.deliver_all()
        timeline = await kit.service.store.timeline(t.id)
        assert [e.data["recipient"] for e in timeline if e.action == "notify_gave_up"] == ["h1#王伟"]
        waiting = await kit.service.store.get(t.id)
        assert waiting is not None
        assert waiting.ack_due_at == kit.clock.now()  # the family step's wait ends now
        [up] = await kit.service.escalate_due()
        assert up.escalation_level == 1
        assert await mails(kit, 1) == [(WORKER, "This ticket was escalated to you.")]
