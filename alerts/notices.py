"""Notices: one message to one recipient about one ticket, and the sink that queues them for delivery.

This is the seam between who is told when (escalation policies) and how a message gets there (contact points,
channels, one-tap links; `alerts.delivery`). A caller builds `Notice`s and hands them to a `NoticeSink` inside
the transaction of the ticket change (or policy step) that caused them, so a crash never separates the change
from the message. `OutboxNotices` is the sink: one row per notice in the durable outbox (`alerts.notify`) under
the outbox channel `NOTICE_CHANNEL`; the dispatcher resolves the recipient's contact points and sends it.

Idempotence: a notice with a `key` is queued at most once per (ticket, key, recipient, channel); queueing it
again (a policy step replayed after a restart) does nothing. A notice without a key is always queued.

A notice to `TOLD` (the all-clear) goes to everyone a notice about its ticket was queued for before, each once,
except the ids in its `skip`: the sink reads them from the outbox, which is the record of who was told."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, replace
from enum import StrEnum
from typing import Any, Protocol

from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from alerts.tables import outbox

#: The outbox channel every notice travels under (the concrete channel is chosen when it is delivered).
NOTICE_CHANNEL = "notice"

#: The channel kinds a notice may name; "preferred" means the recipient's own order of channels.
PREFERRED = "preferred"

#: Templates a notice may use (see `alerts.messages`).
TEMPLATES = frozenset(
    {
        "new_ticket",
        "reminder",
        "escalated",
        "severity_raised",
        "all_clear",
        "family_check",
        "someone_coming",
        "handover",
        "resolved",
        "not_started",
    }
)

#: One-tap actions a notice may offer (see `alerts.actionlinks`).
ACTIONS = ("accept", "on_my_way", "resolve", "all_well", "send_someone")


#: The recipient id of a notice for everyone told about the ticket before (see the module docstring).
TOLD = "*told*"


class Audience(StrEnum):
    PERSON = "person"  # a registry Person (grid worker, leader, duty)
    FAMILY = "family"  # a consented family contact of a household


@dataclass(frozen=True, slots=True)
class Recipient:
    audience: Audience
    id: str  # person id, or "<household_id>#<contact id>" for a family contact
    name: str


@dataclass(frozen=True, slots=True)
class Notice:
    """One message to one recipient about one ticket, by one channel kind."""

    ticket_id: int
    recipient: Recipient
    #: "email", "sms", "voice", "wecom", "dingtalk", "feishu", "ntfy", "telegram", "webhook", ... or
    #: `PREFERRED`: the recipient's channels from their contact points, in their order
    channel: str
    template: str  # one of `TEMPLATES`
    actions: tuple[str, ...] = ()  # one-tap actions offered, from `ACTIONS`
    step: int = 0  # the policy step that sent it (for the timeline and idempotence)
    key: str = ""  # idempotence key (see the module docstring)
    skip: tuple[str, ...] = ()  # for a notice to `TOLD`: recipient ids left out

    def __post_init__(self) -> None:
        if self.template not in TEMPLATES:
            raise ValueError(f"unknown notice template {self.template!r}")
        unknown = [a for a in self.actions if a not in ACTIONS]
        if unknown:
            raise ValueError(f"unknown one-tap action(s) {', '.join(unknown)}")


class NoticeSink(Protocol):
    async def enqueue(self, conn: AsyncConnection, notices: Sequence[Notice], now: float) -> None:
        """Write notices to the durable outbox in the caller's transaction (same transaction as the ticket
        change or the policy step that caused them)."""
        ...


def notice_to_payload(n: Notice) -> dict[str, Any]:
    """The outbox payload of a notice (JSON)."""
    return {
        "notice": {
            "ticket_id": n.ticket_id,
            "recipient": {"audience": n.recipient.audience.value, "id": n.recipient.id, "name": n.recipient.name},
            "channel": n.channel,
            "template": n.template,
            "actions": list(n.actions),
            "step": n.step,
            "key": n.key,
        }
    }


def notice_from_payload(payload: dict[str, Any]) -> Notice:
    """The notice an outbox payload carries; `ValueError` when it carries none (or a malformed one)."""
    try:
        d = payload["notice"]
        r = d["recipient"]
        return Notice(
            ticket_id=int(d["ticket_id"]),
            recipient=Recipient(Audience(r["audience"]), str(r["id"]), str(r["name"])),
            channel=str(d["channel"]),
            template=str(d["template"]),
            actions=tuple(str(a) for a in d.get("actions", ())),
            step=int(d.get("step", 0)),
            key=str(d.get("key", "")),
        )
    except (KeyError, TypeError) as e:
        raise ValueError(f"not a notice payload: {e}") from e


def delivery_id(n: Notice) -> str:
    """Stable for a keyed notice (so the outbox's unique delivery id refuses a second copy), random otherwise."""
    if not n.key:
        return f"n-{uuid.uuid4().hex}"
    ident = "\x1f".join((str(n.ticket_id), n.key, n.recipient.audience.value, n.recipient.id, n.channel)).encode()
    return "n-" + hashlib.sha256(ident).hexdigest()[:48]


class OutboxNotices:
    """The `NoticeSink` of the durable outbox: one row per notice, due at once."""

    async def enqueue(self, conn: AsyncConnection, notices: Sequence[Notice], now: float) -> None:
        if any(n.recipient.id == TOLD for n in notices):
            notices = [m for n in notices for m in (await _told(conn, n) if n.recipient.id == TOLD else [n])]
        if not notices:
            return
        rows = [
            {
                "delivery_id": delivery_id(n),
                "channel": NOTICE_CHANNEL,
                "ticket_id": n.ticket_id,
                "payload": notice_to_payload(n),
                "attempts": 0,
                "next_attempt_at": now,
                "failed": False,
                "created_at": now,
                "lane": f"{n.recipient.audience.value}:{n.recipient.id}"[:200],
            }
            for n in notices
        ]
        # a keyed notice already queued (by this process or another) is skipped, never an error that would
        # roll back the caller's ticket change
        insert = (postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert)(outbox)
        await conn.execute(insert.on_conflict_do_nothing(index_elements=["delivery_id"]), rows)


async def _told(conn: AsyncConnection, n: Notice) -> list[Notice]:
    """`n` once for each recipient a notice about its ticket was queued for, in the order they were first told."""
    q = select(outbox.c.payload).where(outbox.c.ticket_id == n.ticket_id, outbox.c.channel == NOTICE_CHANNEL)
    seen: dict[tuple[str, str], Recipient] = {}
    for (payload,) in await conn.execute(q.order_by(outbox.c.id)):
        try:
            r = notice_from_payload(dict(payload)).recipient
        except ValueError:
            continue
        if r.id not in n.skip:
            seen.setdefault((r.audience.value, r.id), r)
    return [replace(n, recipient=r, skip=()) for r in seen.values()]
