"""Delivering notices (`alerts.notices`): the outbox channel that turns one queued notice into one message.

For each attempt the `NoticeChannel`
1. reads the ticket as it is now and the recipient's contact points from the registry (a person's, or a family
   member's consented ones), keeps those of the notice's channel (all of them for `preferred`, in priority
   order) for which a sender is configured;
2. leaves out points in their quiet hours unless the ticket is critical; when all are quiet the notice waits
   until the first quiet hours end (`Deferred`, no attempt counted);
3. picks the point for this attempt: attempt n uses the n-th usable point, round the list, so a provider that
   is down does not keep a person from hearing by their next channel;
4. mints the one-tap links of the actions that still apply (`alerts.actionlinks`), renders the message in the
   recipient's language (`alerts.messages.recipient_lang`) and hands it to the sender.
A recipient with no usable contact point is given up at once (`UndeliverableError`), with the reason on the
ticket's timeline; every other failure is retried by the dispatcher.

`TimelineOutcomes` writes each attempt's outcome on the ticket's timeline (sent, failed with the reason and the
next try, given up, held for quiet hours), in the dispatcher's own transaction. A family asked first (family
first) that cannot be reached at all ends its step's wait at once, so the worker is not kept waiting."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from alerts.actionlinks import ActionLinks, Link, link_url, refusal
from alerts.channels import Sender, mask_address
from alerts.errors import DeliveryError, UndeliverableError
from alerts.lifecycle import Status
from alerts.messages import both, place, recipient_lang, render
from alerts.model import SYSTEM_ACTOR
from alerts.notices import NOTICE_CHANNEL, PREFERRED, Audience, Notice, notice_from_payload
from alerts.notify import Deferred, Delivery, Outcome
from alerts.store import TicketStore
from alerts.tables import outbox, ticket_events, tickets
from core.clock import Clock
from core.i18n import ZH
from devices.model import ChannelKind, ContactPoint, QuietHours
from rules.alert import Severity


class NoticeChannel:
    """The `Channel` of the outbox's `notice` rows (see the module docstring)."""

    def __init__(
        self,
        engine: AsyncEngine,
        registry: Callable[[], Any],
        senders: Mapping[str, Sender],
        links: ActionLinks,
        clock: Clock,
        *,
        base_url: str,
        tz: ZoneInfo,
        lang: str = ZH,
    ) -> None:
        self.store = TicketStore(engine)
        self.registry = registry
        self.senders = dict(senders)
        self.links = links
        self.clock = clock
        self.base_url = base_url
        self.tz = tz
        self.lang = lang  # the language of a recipient who has none of their own

    async def deliver(self, delivery: Delivery) -> Mapping[str, Any]:
        try:
            notice = notice_from_payload(delivery.payload)
        except ValueError as e:
            raise UndeliverableError(str(e)) from e
        ticket = await self.store.get(notice.ticket_id)
        if ticket is None:
            raise UndeliverableError(f"ticket {notice.ticket_id} no longer exists")
        reg = self.registry()
        name = notice.recipient.name or _name_of(reg, notice)
        details: dict[str, Any] = {"recipient": notice.recipient.id, "name": name, "template": notice.template}
        points = self.usable(reg, notice)
        if not points:
            configured = ", ".join(sorted(self.senders)) or "none"
            raise UndeliverableError(
                f"{name or notice.recipient.id} has no contact point for {notice.channel} "
                f"among the configured channels ({configured})",
                details,
            )
        now = self.clock.now()
        local = datetime.fromtimestamp(now, self.tz)
        awake = [k for k in points if ticket.severity is Severity.CRITICAL or not _quiet(k.quiet_hours, local)]
        if not awake:
            until = min(_quiet_end(k.quiet_hours, local) for k in points if k.quiet_hours is not None)
            raise Deferred(until, {**details, "channel": points[0].channel.value})
        point = awake[(delivery.attempt - 1) % len(awake)]
        kind = point.channel.value
        details.update(channel=kind, to=mask_address(point.address))
        links: list[tuple[str, str]] = []
        recipient = replace(notice.recipient, name=name)
        for action in notice.actions:
            probe = Link(ticket.id, recipient, action, kind, delivery.delivery_id, now, now, None)
            if refusal(probe, ticket) is None:
                token = await self.links.mint(ticket.id, recipient, action, kind, delivery.delivery_id, now)
                links.append((action, link_url(self.base_url, ticket.id, token)))
        message = render(
            notice.template,
            ticket,
            where=place(reg, ticket),
            recipient_name=name,
            links=links,
            tz=self.tz,
            link_ttl_s=self.links.ttl_s,
            lang=recipient_lang(
                reg, notice.recipient.id, family=notice.recipient.audience is Audience.FAMILY, default=self.lang
            ),
        )
        context = {"delivery_id": delivery.delivery_id, "ticket_id": ticket.id, "template": notice.template}
        try:
            await self.senders[kind].send(kind, point.address, message, context)
        except DeliveryError as e:
            e.details.update(details)
            raise
        except Exception as e:  # a provider library's own error: retried like any failure
            raise DeliveryError(f"{kind}: {type(e).__name__}", details) from e
        return details

    def usable(self, reg: Any, notice: Notice) -> list[ContactPoint]:
        """The recipient's contact points this notice may use, in the order they are tried. A notice's channel
        may list kinds in order (`voice,sms,preferred`): the first kind that has a sender and a point of the
        recipient is used. A call (`voice`) may go to a number given for texts, and a person's registry phone
        serves `voice` and `sms` when they have no point of either."""
        contacts_of = getattr(reg, "contacts_of", None)
        points: Sequence[ContactPoint] = contacts_of(notice.recipient.id) if callable(contacts_of) else ()
        if notice.recipient.audience is Audience.FAMILY:
            points = [k for k in points if k.consent]
        for kind in notice.channel.split(","):
            if kind == PREFERRED:
                found = [k for k in points if k.channel.value in self.senders]
            elif kind not in self.senders:
                continue
            else:
                found = [k for k in points if k.channel.value == kind]
                if kind == ChannelKind.VOICE.value:
                    found += [replace(k, channel=ChannelKind.VOICE) for k in points if k.channel is ChannelKind.SMS]
                if not found and kind in _PHONE_KINDS and notice.recipient.audience is Audience.PERSON:
                    found = _registry_phone(reg, notice.recipient.id, ChannelKind(kind))
            if found:
                return found
        return []


_PHONE_KINDS = frozenset({ChannelKind.SMS.value, ChannelKind.VOICE.value})


def _registry_phone(reg: Any, person_id: str, kind: ChannelKind) -> list[ContactPoint]:
    """A point of `kind` at the phone number the registry has for the person (none: empty)."""
    people = getattr(reg, "people", None)
    phone = getattr(people.get(person_id), "phone", "") if isinstance(people, Mapping) else ""
    return [ContactPoint(kind, phone, person_id=person_id)] if isinstance(phone, str) and phone else []


def _quiet(q: QuietHours | None, local: datetime) -> bool:
    return q is not None and q.contains(local.time())


def _quiet_end(q: QuietHours | None, local: datetime) -> float:
    """When the quiet hours `local` is in end (epoch seconds)."""
    assert q is not None
    end = local.replace(hour=q.end.hour, minute=q.end.minute, second=0, microsecond=0)
    if end <= local:
        end += timedelta(days=1)
    return end.timestamp()


def _name_of(reg: Any, notice: Notice) -> str:
    if notice.recipient.audience is Audience.FAMILY:
        return notice.recipient.id.partition("#")[2]
    people = getattr(reg, "people", None)
    person = people.get(notice.recipient.id) if isinstance(people, Mapping) else None
    return str(getattr(person, "name", ""))


#: The timeline action of each outcome.
OUTCOME_ACTIONS = {
    "sent": "notified",
    "failed": "notify_failed",
    "gave_up": "notify_gave_up",
    "deferred": "notify_deferred",
}


class TimelineOutcomes:
    """The dispatcher's `OutcomeLog` for notices: one timeline event per attempt's outcome."""

    def __init__(self, tz: ZoneInfo, clock: Clock | None = None) -> None:
        self.tz = tz
        self.clock = clock  # the tickets' clock (a demo's may run fast); None: the dispatcher's time

    def note(self, outcome: Outcome) -> str:
        d = outcome.details
        who = f"{d.get('name') or d.get('recipient', '')}"
        via = f"{d.get('channel', '')} {d.get('to', '')}".strip()
        at = (
            datetime.fromtimestamp(outcome.next_attempt_at, self.tz).strftime("%H:%M")
            if outcome.next_attempt_at
            else ""
        )
        if outcome.status == "sent":
            return both("notices.outcome.sent", who=who, via=via)
        if outcome.status == "deferred":
            return both("notices.outcome.deferred", who=who, at=at)
        if outcome.status == "failed":
            return f"{both('notices.outcome.failed', who=who, via=via, at=at)}: {outcome.error}"
        return f"{both('notices.outcome.gave_up', who=who)}: {outcome.error}"

    async def record(self, conn: AsyncConnection, delivery: Delivery, outcome: Outcome, at: float) -> None:
        if delivery.channel != NOTICE_CHANNEL:
            return
        data = {
            **{k: v for k, v in outcome.details.items()},
            "attempt": delivery.attempt,
            "delivery_id": delivery.delivery_id,
        }
        if outcome.error:
            data["error"] = outcome.error
        if outcome.next_attempt_at is not None:
            data["next_attempt_at"] = outcome.next_attempt_at
        await conn.execute(
            ticket_events.insert().values(
                ticket_id=delivery.ticket_id,
                at=self.clock.now() if self.clock is not None else at,
                actor=SYSTEM_ACTOR,
                action=OUTCOME_ACTIONS[outcome.status],
                from_status=None,
                to_status=None,
                note=self.note(outcome),
                data=data,
            )
        )
        if outcome.status == "gave_up" and delivery.payload.get("notice", {}).get("template") == "family_check":
            await _family_unreachable(conn, delivery, self.clock.now() if self.clock is not None else at)


async def _family_unreachable(conn: AsyncConnection, delivery: Delivery, now: float) -> None:
    """The family a ticket asks first cannot be reached (no usable contact point, or every retry failed): as
    good as no answer, so the step's wait ends now and the escalation loop sends the worker at its next cycle.
    Not while another family member's question is still on its way or was delivered."""
    others = await conn.execute(
        select(outbox.c.payload).where(
            outbox.c.ticket_id == delivery.ticket_id,
            outbox.c.channel == NOTICE_CHANNEL,
            outbox.c.delivery_id != delivery.delivery_id,
            ~outbox.c.failed,
        )
    )
    if any(dict(p or {}).get("notice", {}).get("template") == "family_check" for (p,) in others):
        return
    await conn.execute(
        tickets.update()
        .where(
            tickets.c.id == delivery.ticket_id,
            tickets.c.status == Status.OPEN.value,
            tickets.c.escalation_level == 0,
            tickets.c.ack_due_at > now,
        )
        .values(ack_due_at=now, version=tickets.c.version + 1)
    )
