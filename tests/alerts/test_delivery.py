"""Notices delivered for real: a new ticket's assignee gets an e-mail through a real SMTP server (aiosmtpd) via
Apprise, its one-tap link accepts the ticket once, each attempt shows on the timeline, and every bad link is
refused without changing anything."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from alerts.errors import LinkRefusedError
from alerts.lifecycle import Status
from alerts.notices import Audience, Notice, OutboxNotices, Recipient
from core.db import begin_write
from devices.model import Role
from rules.alert import Severity

from .fakes import account
from .notifykit import Kit, alert, link_in, notify_kit, token_of

pytestmark = pytest.mark.timeout(60)


def link(kit: Kit, action: str, mail: int = -1) -> tuple[int, str]:
    """The (ticket, token) of `action`'s link in a received mail."""
    return token_of(link_in(list(kit.mailbox.mails)[mail].text, action))


async def test_a_new_ticket_reaches_its_assignee_by_mail_and_one_tap_accepts_it(engine: AsyncEngine) -> None:
    async with notify_kit(engine) as kit:
        [t] = await kit.service.apply([alert()])
        assert t.assignee_id == "p-w1"
        await kit.deliver_all()
        async with asyncio.timeout(10):
            [mail] = await kit.mailbox.wait_for(1)
        assert mail.to == ("w1@example.org",)
        assert "烟感报警" in mail.subject
        assert f"#{t.id}" in mail.subject
        assert "1号楼 1-101" in mail.text  # where, as people say it
        ticket_id, token = link(kit, "accept")
        assert ticket_id == t.id

        view = await kit.actions.view(ticket_id, token)
        assert (view.action, view.recipient_name) == ("accept", "周杰")
        after = await kit.actions.act(ticket_id, token)
        assert after.status is Status.ACKNOWLEDGED
        assert after.assignee_id == "p-w1"
        timeline = (await kit.service.get_ticket(account("op", Role.OPERATOR, "st"), t.id)).timeline
        sent = [e for e in timeline if e.action == "notified"]
        assert sent[0].data["channel"] == "email"
        assert sent[0].data["to"] == "w***@example.org"
        [ack] = [e for e in timeline if e.action == "ack"]
        assert ack.actor == "p-w1"
        assert ack.data["via"] == "link"
        assert ack.data["channel"] == "email"
        assert "周杰" in (ack.note or "")

        with pytest.raises(LinkRefusedError) as used:  # the same link again
            await kit.actions.act(ticket_id, token)
        assert used.value.reason == "used"


async def test_bad_links_are_refused_and_change_nothing(engine: AsyncEngine) -> None:
    async with notify_kit(engine) as kit:
        [t] = await kit.service.apply([alert()])
        [t2] = await kit.service.apply([alert("water_leak:d2")])
        await kit.deliver_all()
        async with asyncio.timeout(10):
            await kit.mailbox.wait_for(2)
        accept_1 = link(kit, "accept", 0)
        resolve_1 = link(kit, "resolve", 0)
        accept_2 = link(kit, "accept", 1)
        assert accept_1[0] == t.id

        async def refused(ticket_id: int, token: str, note: str | None = None) -> str:
            with pytest.raises(LinkRefusedError) as e:
                await kit.actions.act(ticket_id, token, note)
            return e.value.reason

        # unknown token, a token shown with another ticket's number
        assert await refused(t.id, "not-a-token") == "unknown"
        assert await refused(t2.id, accept_1[1]) == "other_ticket"
        # expired: the clock passes the link's lifetime
        kit.clock.advance(kit.links.ttl_s + 1)
        assert await refused(*accept_2) == "expired"
        kit.clock.advance(-(kit.links.ttl_s + 1))
        # the ticket moved on: someone resolved it on the board, then the resolve link comes too late
        await kit.service.resolve(t.id, account("l1", Role.MICROGRID_LEADER, "m1", "p-l1"), "checked, false alarm")
        assert await refused(*accept_1) == "moved_on"
        assert await refused(*resolve_1, "done") == "moved_on"
        after = await kit.service.store.get(t.id)
        assert after is not None
        assert after.status is Status.RESOLVED
        assert after.resolved_by == "l1"
        ticket2 = await kit.service.store.get(t2.id)
        assert ticket2 is not None
        assert ticket2.status is Status.OPEN  # the expired link did nothing
        with pytest.raises(LinkRefusedError) as e:
            await kit.actions.view(*accept_1)
        assert e.value.reason == "moved_on"


async def test_a_link_tapped_twice_at_once_acts_once(engine: AsyncEngine) -> None:
    async with notify_kit(engine) as kit:
        [t] = await kit.service.apply([alert()])
        await kit.deliver_all()
        async with asyncio.timeout(10):
            await kit.mailbox.wait_for(1)
        ticket_id, token = link(kit, "on_my_way")
        results = await asyncio.gather(*(kit.actions.act(ticket_id, token) for _ in range(5)), return_exceptions=True)
        ok = [r for r in results if not isinstance(r, BaseException)]
        assert len(ok) == 1
        assert all(isinstance(r, LinkRefusedError) for r in results if isinstance(r, BaseException))
        timeline = await kit.service.store.timeline(t.id)
        assert [e.action for e in timeline].count("start") == 1


async def test_family_all_well_resolves_as_the_family_member(engine: AsyncEngine) -> None:
    async with notify_kit(engine) as kit:
        [t] = await kit.service.apply([alert("no_water:h1", Severity.MINOR)])
        family = Recipient(Audience.FAMILY, "h1#王伟", "")
        async with begin_write(engine) as conn:
            await OutboxNotices().enqueue(
                conn, [Notice(t.id, family, "preferred", "family_check", ("all_well", "send_someone"))], kit.clock.now()
            )
        await kit.deliver_all()
        async with asyncio.timeout(10):
            mails = await kit.mailbox.wait_for(2)
        [to_family] = [m for m in mails if m.to == ("son@example.org",)]
        after = await kit.actions.act(*token_of(link_in(to_family.text, "all_well")))
        assert after.status is Status.RESOLVED
        assert after.resolved_by == "family:王伟"
        [resolve] = [e for e in await kit.service.store.timeline(t.id) if e.action == "resolve"]
        assert resolve.data["audience"] == "family"
        assert resolve.data["channel"] == "email"
        # the note in both languages, and its code for the board to say it in one
        assert resolve.note == "家属王伟确认一切安好 (family member 王伟: all is well)"
        assert resolve.data["note_key"] == "notices.family_all_well"
        assert resolve.data["note_values"] == {"name": "王伟"}


async def test_a_recipient_without_contact_points_is_given_up_at_once_with_the_reason(engine: AsyncEngine) -> None:
    async with notify_kit(engine) as kit:
        [t] = await kit.service.apply([alert()])
        nobody = Recipient(Audience.PERSON, "p-w2", "")
        async with begin_write(engine) as conn:
            await OutboxNotices().enqueue(conn, [Notice(t.id, nobody, "preferred", "new_ticket")], kit.clock.now())
        await kit.deliver_all()
        timeline = await kit.service.store.timeline(t.id)
        [gave_up] = [e for e in timeline if e.action == "notify_gave_up"]
        assert "has no contact point" in gave_up.data["error"]
        assert await kit.dispatcher.stats() == {"pending": 0, "delivered": 1, "failed": 1}
