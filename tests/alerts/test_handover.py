"""The handover at shift change, for real: whoever comes on duty (here a worker covering for a colleague on
leave) gets a mail through a real SMTP server (aiosmtpd) for each ticket still open in the micro-grid, with its
accept link; a shift is handed over once however many escalation cycles see it; new tickets go to the cover."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import msgspec
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from alerts.escalation import Escalator
from alerts.lifecycle import Status
from devices.model import ChannelKind, ContactPoint, DutyShift, Role
from devices.registry import Registry
from rules.alert import Severity
from tests.devices.factory import T0

from .fakes import account
from .notifykit import alert, link_in, notify_kit, registry, token_of

pytestmark = pytest.mark.timeout(60)
H = timedelta(hours=1)


def with_cover() -> Registry:
    """w2 covers w1's leave from 2 h to 6 h after T0; w2 reads e-mail."""
    reg = registry()
    contacts = [k for owner in ("p-w1", "p-l1", "h1#王伟") for k in reg.contacts_of(owner)]
    return reg.with_changes(
        roster=[*reg.roster, DutyShift("p-w2", "m1", T0 + 2 * H, T0 + 6 * H, replaces="p-w1")],
        contacts=[*contacts, ContactPoint(ChannelKind.EMAIL, "w2@example.org", person_id="p-w2")],
    )


async def test_the_cover_coming_on_duty_gets_the_open_tickets_once(engine: AsyncEngine) -> None:
    async with notify_kit(engine, reg=with_cover()) as kit:
        kit.clock.set(T0.timestamp() + 3600)  # an hour into w1's shift
        [smoke] = await kit.service.apply([alert("smoke_alarm:SD-2", Severity.MAJOR, household=None)])
        [leak] = await kit.service.apply([alert("water_leak:WM-1", Severity.MINOR)])
        [done] = await kit.service.apply([alert("door_held_open:AC-1", Severity.WARNING, household=None)])
        await kit.deliver_all()
        async with asyncio.timeout(10):
            await kit.mailbox.wait_for(3)  # the three new tickets, to w1
        assert await kit.service.hand_over() == 0  # nobody came on duty in the last 10 minutes
        leader = account("l1", Role.MICROGRID_LEADER, "m1", "p-l1", 3)
        await kit.service.resolve(done.id, leader, "closed the door")

        kit.clock.set(T0.timestamp() + 2 * 3600 + 30)  # w2 takes over w1's duty
        escalator = Escalator(kit.service, kit.clock)
        await escalator.run_once()
        await escalator.run_once()  # a second cycle in the window adds nothing
        await kit.deliver_all()
        async with asyncio.timeout(10):
            mails = await kit.mailbox.wait_for(7)
        handed = [m for m in mails if m.to == ("w2@example.org",)]
        assert ["交接班：以下工单仍未完成" in m.text.splitlines()[0] for m in handed] == [True, True]
        assert [f"#{t.id}" in m.subject for t, m in zip((smoke, leak), handed, strict=True)] == [True, True]
        # the resolved ticket is not handed over, nor anything twice (the leader's mails are the escalations)
        assert len([m for m in kit.mailbox.mails if m.to == ("w2@example.org",)]) == 2

        taken = await kit.actions.act(*token_of(link_in(handed[0].text, "accept")))
        assert taken.status is Status.ACKNOWLEDGED
        assert taken.assignee_id == "p-w2"

        later = msgspec.structs.replace(alert("water_leak:WM-3", Severity.MINOR, household=None), ts=kit.clock.now())
        [new] = await kit.service.apply([later])
        assert new.assignee_id == "p-w2"  # the cover is on duty, w1 is on leave

        kit.clock.advance(3600)  # past the window: the shift is not handed over again
        assert await kit.service.hand_over() == 0
