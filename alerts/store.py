"""Ticket persistence: SQLAlchemy Core, async, the same statements on SQLite and PostgreSQL.

Concurrency without locks the two databases disagree on:
- a raise runs `UPDATE ... WHERE dedup_key = ? AND active RETURNING` first and inserts only when nothing was
  updated; when two processes insert at once, the partial unique index refuses the second, which retries the
  update and bumps the ticket the first one created;
- people's actions read the ticket, decide (pure), then write with `WHERE id = ? AND version = ?`; a lost race
  re-reads and decides again.
Every change writes its audit event, and its outbox rows, in the same transaction as the ticket row."""

from __future__ import annotations

import base64
import json
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from sqlalchemy import Select, and_, func, or_, select, text, tuple_
from sqlalchemy.engine import Row
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from alerts.codec import event_to_dict, ticket_to_dict
from alerts.dbguard import translated
from alerts.errors import ConflictError, InvalidCursorError, NotFoundError, StoreError
from alerts.incident import settle
from alerts.lifecycle import ACTIVE, Action, Status, SystemAction
from alerts.messages import coded
from alerts.model import SEVERITY_RANK, SYSTEM_ACTOR, MemberState, Ticket, TicketEvent, TicketMember, TicketPage
from alerts.notices import Notice, NoticeSink
from alerts.tables import create_tables, outbox, ticket_events, ticket_members, tickets
from core.db import begin_write
from core.i18n import LANGS, title_in, tr
from rules.alert import Alert, AlertAction, Severity

__all__ = ["CONFIRMED_BY", "Cards", "Change", "NewTicket", "TicketStore", "create_tables", "no_cards"]

_RETRIES = 8
CONFIRMED_BY = "confirmed_by"
"""A raise's detail saying who confirmed a verification wait when its rule could not (`timeout`: the service)."""
_BY_RANK = {rank: severity for severity, rank in SEVERITY_RANK.items()}

#: `TicketStore.microgrid_ids`: each step asks the index for the least micro-grid after the previous one.
_MICROGRIDS = text(
    "WITH RECURSIVE mg(id) AS (SELECT min(microgrid_id) FROM tickets UNION ALL "
    "SELECT (SELECT min(microgrid_id) FROM tickets WHERE microgrid_id > mg.id) FROM mg WHERE mg.id IS NOT NULL) "
    "SELECT id FROM mg"
)


@dataclass(frozen=True, slots=True)
class Change:
    """What a decision does to a ticket: new column values plus the audit event that explains them."""

    action: str
    actor: str
    values: dict[str, Any] = field(default_factory=dict)
    note: str | None = None
    data: dict[str, Any] = field(default_factory=dict)
    #: who should be told (id, name, phone, role), carried in notifications so a gateway can text them
    recipients: tuple[dict[str, str], ...] = ()
    #: enqueue no notification: repeats of an open condition would flood webhooks during an alert storm (the
    #: ticket's `count` travels with its next notified change), and an alarm being verified tells nobody yet
    quiet: bool = False
    #: more rows written in the change's own transaction (a photo's row): given the connection and the ticket's
    #: id, returns what to add to the event's `data`
    also: Callable[[AsyncConnection, int], Awaitable[dict[str, Any]]] | None = None


@dataclass(frozen=True, slots=True)
class NewTicket:
    """Column values the service decided for a ticket that a raise may create (assignment, deadlines)."""

    assignee_id: str | None
    ack_due_at: float | None
    resolve_due_at: float | None
    data: dict[str, Any] = field(default_factory=dict)
    recipients: tuple[dict[str, str], ...] = ()
    #: the policy's first reminder (None: it sends none); set with the acknowledge deadline
    nudge_at: float | None = None


Changed = tuple[Ticket, TicketEvent]
Cards = Callable[[str | None], tuple[dict[str, str], ...]]
"""The contact cards of a person (a ticket's assignee), for the recipients of a notification."""


def no_cards(_person_id: str | None) -> tuple[dict[str, str], ...]:
    return ()


def _wait(alert: Alert) -> dict[str, Any]:
    """What an event records of an alarm's verification wait."""
    return {"until": alert.until} if alert.action is AlertAction.PENDING else {}


def _member_values(alert: Alert) -> dict[str, Any]:
    """The columns of a condition that a raise or the start of a verification wait sets."""
    pending = alert.action is AlertAction.PENDING
    until = alert.until if alert.until is not None else alert.ts
    return {
        "rule_id": alert.rule_id,
        "severity": alert.severity.value,
        "severity_rank": SEVERITY_RANK[alert.severity],
        "state": (MemberState.VERIFYING if pending else MemberState.FIRING).value,
        "title": alert.title,
        "titles": dict(alert.titles) or None,
        "details": dict(alert.details),
        # a confirmation dated at the end of the wait still belongs to this ticket, even once it is finished
        "last_seen": max(alert.ts, until) if pending else alert.ts,
        "verify_until": until if pending else None,
    }


def _ticket_values(alert: Alert, key: str, now: float, new: NewTicket) -> dict[str, Any]:
    """The row of a ticket that `alert` opens under `key`."""
    verifying = alert.action is AlertAction.PENDING
    return {
        "dedup_key": key,
        "rule_id": alert.rule_id,
        "severity": alert.severity.value,
        "severity_rank": SEVERITY_RANK[alert.severity],
        "status": Status.OPEN.value,
        "active": True,
        "title": alert.title,
        "titles": dict(alert.titles) or None,
        "details": dict(alert.details),
        "device_id": alert.device_id,
        "household_id": alert.household_id,
        "building_id": alert.building_id,
        "community_id": alert.community_id,
        "microgrid_id": alert.microgrid_id,
        "assignee_id": new.assignee_id,
        "escalation_level": 0,
        "count": 1,
        "first_seen": alert.ts,
        "last_seen": alert.ts,
        # an alarm in its verification wait has no deadlines yet: they start when it is confirmed
        "ack_due_at": None if verifying else new.ack_due_at,
        "resolve_due_at": None if verifying else new.resolve_due_at,
        "nudge_at": None if verifying else new.nudge_at,
        "cleared": False,
        "verifying": verifying,
        "verify_until": alert.until if verifying else None,
        "created_at": now,
        "updated_at": now,
        "version": 1,
    }


def _opening_change(alert: Alert, new: NewTicket) -> Change:
    """The audit event of a ticket `alert` opens: raised, or verifying (nobody told yet)."""
    verifying = alert.action is AlertAction.PENDING
    return Change(
        (SystemAction.VERIFY if verifying else SystemAction.RAISE).value,
        SYSTEM_ACTOR,
        data={"alert_ts": alert.ts, "rule_id": alert.rule_id, **_wait(alert), **new.data},
        recipients=new.recipients,
        quiet=verifying,
    )


#: Who is told of a change: (ticket, its event, the change's contact cards) -> notices
NoticePlan = Callable[[Ticket, TicketEvent, Sequence[Mapping[str, str]]], Sequence[Notice]]


def row_to_ticket(r: Row[Any] | Mapping[str, Any]) -> Ticket:
    m = r._mapping if isinstance(r, Row) else r
    return Ticket(
        id=m["id"],
        dedup_key=m["dedup_key"],
        rule_id=m["rule_id"],
        severity=Severity(m["severity"]),
        status=Status(m["status"]),
        title=m["title"],
        details=dict(m["details"] or {}),
        microgrid_id=m["microgrid_id"],
        device_id=m["device_id"],
        household_id=m["household_id"],
        building_id=m["building_id"],
        community_id=m["community_id"],
        assignee_id=m["assignee_id"],
        escalation_level=m["escalation_level"],
        count=m["count"],
        first_seen=m["first_seen"],
        last_seen=m["last_seen"],
        ack_due_at=m["ack_due_at"],
        resolve_due_at=m["resolve_due_at"],
        cleared=bool(m["cleared"]),
        cleared_at=m["cleared_at"],
        created_at=m["created_at"],
        updated_at=m["updated_at"],
        acknowledged_at=m["acknowledged_at"],
        resolved_at=m["resolved_at"],
        resolved_by=m["resolved_by"],
        rating=m["rating"],
        rated_at=m["rated_at"],
        verifying=bool(m["verifying"]),
        verify_until=m["verify_until"],
        overdue_since=m["overdue_since"],
        overdue_reason=m["overdue_reason"],
        nudge_at=m["nudge_at"],
        titles=dict(m.get("titles") or {}),
    )


def row_to_member(r: Row[Any] | Mapping[str, Any]) -> TicketMember:
    m = r._mapping if isinstance(r, Row) else r
    return TicketMember(
        dedup_key=m["dedup_key"],
        rule_id=m["rule_id"],
        severity=Severity(m["severity"]),
        state=MemberState(m["state"]),
        title=m["title"],
        details=dict(m["details"] or {}),
        count=m["count"],
        first_seen=m["first_seen"],
        last_seen=m["last_seen"],
        verify_until=m["verify_until"],
        joined_at=m["joined_at"],
        titles=dict(m.get("titles") or {}),
    )


def row_to_event(r: Row[Any] | Mapping[str, Any]) -> TicketEvent:
    m = r._mapping if isinstance(r, Row) else r
    return TicketEvent(
        id=m["id"],
        ticket_id=m["ticket_id"],
        at=m["at"],
        actor=m["actor"],
        action=m["action"],
        from_status=Status(m["from_status"]) if m["from_status"] else None,
        to_status=Status(m["to_status"]) if m["to_status"] else None,
        note=m["note"],
        data=dict(m["data"] or {}),
    )


def _with_tickets() -> Select[Any]:
    """Conditions with their tickets, one row each: the ticket's columns, then the condition's as `m_<name>`."""
    m = ticket_members.c
    return select(tickets, *(c.label(f"m_{c.name}") for c in m)).join_from(
        ticket_members, tickets, tickets.c.id == m.ticket_id
    )


def _split(row: Row[Any]) -> tuple[Ticket, TicketMember]:
    """A row of `_with_tickets` as its ticket and condition."""
    return row_to_ticket(row), row_to_member({c.name: row._mapping[f"m_{c.name}"] for c in ticket_members.c})


def encode_cursor(t: Ticket) -> str:
    raw = json.dumps([SEVERITY_RANK[t.severity], t.first_seen, t.id]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[int, float, int]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        rank, first_seen, tid = json.loads(raw)
        return int(rank), float(first_seen), int(tid)
    except (ValueError, TypeError) as e:
        raise InvalidCursorError(tr("errors.invalid_cursor")) from e


def page_query(
    microgrids: Sequence[str] | None,
    statuses: Sequence[Status],
    severities: Sequence[Severity],
    assignee_id: str | None,
    limit: int,
    after: tuple[int, float, int] | None = None,
) -> Select[Any]:
    """The query of `TicketStore.page`: in `ix_tickets_order`'s order, so the database stops at `limit`."""
    q = select(tickets)
    if microgrids is not None:
        q = q.where(tickets.c.microgrid_id.in_(list(microgrids)))
    if statuses:
        q = q.where(tickets.c.status.in_([s.value for s in statuses]))
    if severities:
        q = q.where(tickets.c.severity.in_([s.value for s in severities]))
    if assignee_id is not None:
        q = q.where(tickets.c.assignee_id == assignee_id)
    if after is not None:
        rank, first_seen, tid = after
        q = q.where(tuple_(tickets.c.severity_rank, tickets.c.first_seen, tickets.c.id) > tuple_(rank, first_seen, tid))
    return q.order_by(tickets.c.severity_rank, tickets.c.first_seen, tickets.c.id).limit(limit)


class TicketStore:
    """Reads and writes tickets. `channels` are the durable notification channels: each change enqueues one
    outbox row per channel in the change's own transaction (see `alerts.notify`)."""

    def __init__(
        self,
        engine: AsyncEngine,
        channels: Sequence[str] = (),
        notices: NoticeSink | None = None,
        plan: NoticePlan | None = None,
    ) -> None:
        self.engine = engine
        self.channels = tuple(channels)
        #: notices to people about each change (`alerts.notices`), queued in the change's transaction
        self.notices = notices
        self.plan = plan

    # --- writes -------------------------------------------------------------------------------------------

    async def _record(
        self,
        conn: AsyncConnection,
        ticket: Ticket,
        at: float,
        change: Change,
        from_status: Status | None,
    ) -> TicketEvent:
        return (await self._record_many(conn, [(ticket, change)], at, from_status))[0][1]

    async def _record_many(
        self,
        conn: AsyncConnection,
        changes: Sequence[tuple[Ticket, Change]],
        at: float,
        from_status: Status | None = None,
    ) -> list[Changed]:
        """The audit events of `changes` (made at `at`, each ticket from `from_status`), their outbox rows and
        their notices: one statement for each kind of row, however many changes."""
        rows = await conn.execute(
            ticket_events.insert().returning(*ticket_events.c, sort_by_parameter_order=True),
            [
                {
                    "ticket_id": ticket.id,
                    "at": at,
                    "actor": change.actor,
                    "action": change.action,
                    "from_status": from_status.value if from_status else None,
                    "to_status": ticket.status.value,
                    "note": change.note,
                    "data": change.data,
                }
                for ticket, change in changes
            ],
        )
        events = [row_to_event(r) for r in rows]
        told = [(t, c, e) for (t, c), e in zip(changes, events, strict=True) if not c.quiet]
        if self.channels and told:
            deliveries = []
            for ticket, change, event in told:
                payload = {
                    "ticket": ticket_to_dict(ticket),
                    "event": event_to_dict(event),
                    "recipients": list(change.recipients),
                }
                deliveries += [
                    {
                        "delivery_id": f"{ch}-{event.id}",
                        "channel": ch,
                        "ticket_id": ticket.id,
                        "payload": payload,
                        "attempts": 0,
                        "next_attempt_at": at,
                        "failed": False,
                        "created_at": at,
                    }
                    for ch in self.channels
                ]
            await conn.execute(outbox.insert(), deliveries)
        if self.notices is not None and self.plan is not None and told:
            plan = self.plan
            planned = [n for ticket, change, event in told for n in plan(ticket, event, change.recipients)]
            if planned:
                await self.notices.enqueue(conn, planned, at)
        return [(ticket, event) for (ticket, _), event in zip(changes, events, strict=True)]

    async def raise_alert(
        self,
        alert: Alert,
        now: float,
        new: NewTicket,
        flap_window_s: float = 0.0,
        cards: Cards = no_cards,
    ) -> tuple[Ticket, TicketEvent, bool] | None:
        """File a raise (or the start of a verification wait) on its ticket, creating one if needed. Returns
        (ticket, event, created), or None for a stale raise (see `_raise_in`). Safe against concurrent raises
        from other processes (see the module docstring). `cards` gives the contact cards of a ticket's assignee,
        for the notification of a confirmation or a severity rise.

        Flap control: a raise within `flap_window_s` of its ticket being auto-resolved by a clear reopens that
        ticket instead of opening a new one, so a door that keeps opening and closing stays one ticket."""
        for _ in range(_RETRIES):
            try:
                async with translated(), begin_write(self.engine) as conn:
                    raised = await self._raise_in(conn, alert, now, new, flap_window_s, cards)
                    if raised is None:
                        return None
                    (ticket, event), created = raised
                    return ticket, event, created
            except IntegrityError:
                continue  # another writer created the active ticket first: bump it on the next round
        raise StoreError(f"could not raise {alert.dedup_key!r}: too many concurrent writers")

    async def _raise_in(
        self, conn: AsyncConnection, alert: Alert, now: float, new: NewTicket, flap_window_s: float, cards: Cards
    ) -> tuple[Changed, bool] | None:
        """File the raise under the ticket holding its condition (a repeat, or the end of its verification wait),
        else the active ticket of its group (a join), else a recently auto-resolved one (flap control), else a
        new ticket. A raise no later (in event time) than the last alert of its condition on a finished ticket
        belongs to that incident (a replay after a restart, or a late message): it is ignored instead of
        opening a duplicate ticket."""
        found = await self._condition(conn, alert.dedup_key)
        if found is not None:
            holder, member, active = found
            if active:
                changed = await self._on_member(conn, holder, member, alert, now, new, cards)
                return None if changed is None else (changed, False)
            if alert.ts <= member.last_seen:
                return None
        key = alert.group or alert.dedup_key
        if alert.group is not None:  # a ticket keyed by a lone condition holds only that one: nothing to join
            q = select(tickets).where(tickets.c.dedup_key == key, tickets.c.active).with_for_update()
            group_ticket = (await conn.execute(q)).first()
            if group_ticket is not None:
                ticket = row_to_ticket(group_ticket)
                await self._add_member(conn, ticket.id, alert, now)
                joined = await self._settle(conn, ticket, None, alert, now, new, cards, SystemAction.JOIN, count=1)
                return joined, False
        if flap_window_s > 0 or alert.reopen_within > 0:
            revived = await self._revive(conn, alert, key, now, new, flap_window_s)
            if revived is not None:
                return revived, False
        ticket = await self._insert(conn, alert, key, now, new)
        await self._add_member(conn, ticket.id, alert, now)
        event = await self._record(conn, ticket, now, _opening_change(alert, new), None)
        return (ticket, event), True

    async def apply_batch(
        self,
        items: Sequence[tuple[Alert, NewTicket | None]],
        now: float,
        flap_window_s: float,
        auto_resolve: Callable[[Ticket], bool],
        cards: Cards = no_cards,
    ) -> list[list[Changed]]:
        """Raises and starts of verification waits (with their `NewTicket`), clears and withdrawals (None) in
        order, in one transaction: an alert storm costs one commit, not one per alert. Raises that open a new
        ticket with nothing to look up first (`_fresh`) are written together, a few statements for the lot
        (`_open_many`). If a concurrent writer makes the batch hit a unique index, the batch is rolled back and
        redone alert by alert (each with its own retry)."""
        try:
            async with translated(), begin_write(self.engine) as conn:
                fresh = await self._fresh(conn, {a.dedup_key for a, new in items if new is not None and not a.group})
                out: list[list[Changed]] = []
                opening: list[tuple[Alert, NewTicket]] = []
                for alert, new in items:
                    if new is not None and alert.group is None and alert.dedup_key in fresh:
                        fresh.discard(alert.dedup_key)  # a later alert of the key finds this one's ticket
                        opening.append((alert, new))
                        continue
                    fresh.discard(alert.dedup_key)
                    if opening:  # in order: what was opened so far is written before this alert looks
                        out.extend([c] for c in await self._open_many(conn, opening, now))
                        opening = []
                    if new is None:
                        out.append(await self._clear_in(conn, alert, now, auto_resolve))
                    else:
                        raised = await self._raise_in(conn, alert, now, new, flap_window_s, cards)
                        out.append([] if raised is None else [raised[0]])
                if opening:
                    out.extend([c] for c in await self._open_many(conn, opening, now))
                return out
        except IntegrityError:
            pass
        slow: list[list[Changed]] = []
        for alert, new in items:
            if new is None:
                slow.append(await self.clear_alert(alert, now, auto_resolve))
            else:
                one = await self.raise_alert(alert, now, new, flap_window_s, cards)
                slow.append([] if one is None else [(one[0], one[1])])
        return slow

    async def _fresh(self, conn: AsyncConnection, keys: set[str]) -> set[str]:
        """The condition keys among `keys` that no condition and no ticket has had yet: a raise of one opens a
        new ticket, as `_raise_in` would after finding nothing (no repeat, join, revival or stale raise)."""
        if not keys:
            return set()
        held = select(ticket_members.c.dedup_key).where(ticket_members.c.dedup_key.in_(keys))
        keyed = select(tickets.c.dedup_key).where(tickets.c.dedup_key.in_(keys))
        taken = {r[0] for r in await conn.execute(held.union(keyed))}
        return keys - taken

    async def _open_many(
        self, conn: AsyncConnection, opening: Sequence[tuple[Alert, NewTicket]], now: float
    ) -> list[Changed]:
        """New tickets for raises of fresh conditions (`_fresh`, distinct keys): what `_raise_in` writes for
        each, as one multi-row insert per table, in order."""
        rows = await conn.execute(
            tickets.insert().returning(*tickets.c, sort_by_parameter_order=True),
            [_ticket_values(alert, alert.dedup_key, now, new) for alert, new in opening],
        )
        made = [row_to_ticket(r) for r in rows]
        await conn.execute(
            ticket_members.insert(),
            [
                {
                    **_member_values(alert),
                    "ticket_id": t.id,
                    "dedup_key": alert.dedup_key,
                    "active": True,
                    "count": 1,
                    "first_seen": alert.ts,
                    "joined_at": now,
                }
                for t, (alert, _) in zip(made, opening, strict=True)
            ],
        )
        changes = [(t, _opening_change(alert, new)) for t, (alert, new) in zip(made, opening, strict=True)]
        return await self._record_many(conn, changes, now)

    # --- conditions of a ticket ---------------------------------------------------------------------------

    async def _condition(self, conn: AsyncConnection, dedup_key: str) -> tuple[Ticket, TicketMember, bool] | None:
        """In one query: the condition on its active ticket, else its latest finished one (whose `last_seen`
        dates the incident it belonged to), with that ticket and whether it is active; both rows are locked for
        this transaction (PostgreSQL)."""
        m = ticket_members.c
        q = (
            _with_tickets()
            .where(m.dedup_key == dedup_key)
            .order_by(m.active.desc(), m.last_seen.desc())
            .limit(1)
            .with_for_update()
        )
        row = (await conn.execute(q)).first()
        if row is None:
            return None
        ticket, member = _split(row)
        return ticket, member, bool(row._mapping["m_active"])

    async def _members(self, conn: AsyncConnection, ticket: Ticket, changed: TicketMember) -> list[TicketMember]:
        """The ticket's active conditions, `changed` among them as it is now. A ticket keyed by a lone condition
        holds only that one (joins go by group keys, which are never conditions' keys): no query."""
        if ticket.dedup_key == changed.dedup_key:
            return [changed]
        return await self._active_members(conn, ticket.id)

    async def _active_members(self, conn: AsyncConnection, ticket_id: int) -> list[TicketMember]:
        q = (
            select(ticket_members)
            .where(ticket_members.c.ticket_id == ticket_id, ticket_members.c.active)
            .order_by(ticket_members.c.id)
        )
        return [row_to_member(r) for r in await conn.execute(q)]

    async def _add_member(self, conn: AsyncConnection, ticket_id: int, alert: Alert, now: float) -> None:
        """Attach the alert's condition to the ticket (again, if it belonged to it before a flap revival)."""
        values = _member_values(alert)
        res = await conn.execute(
            ticket_members.update()
            .where(ticket_members.c.ticket_id == ticket_id, ticket_members.c.dedup_key == alert.dedup_key)
            .values(**values, active=True, count=ticket_members.c.count + 1)
        )
        if res.rowcount == 0:
            await conn.execute(
                ticket_members.insert().values(
                    **values,
                    ticket_id=ticket_id,
                    dedup_key=alert.dedup_key,
                    active=True,
                    count=1,
                    first_seen=alert.ts,
                    joined_at=now,
                )
            )

    async def _on_member(
        self,
        conn: AsyncConnection,
        ticket: Ticket,
        member: TicketMember,
        alert: Alert,
        now: float,
        new: NewTicket,
        cards: Cards,
    ) -> Changed | None:
        """A raise of a condition the ticket holds: its verification wait ends (confirm), or it fires again
        (repeat). A new verification wait of a condition that cleared starts again on the same ticket."""
        severity = min(alert.severity, member.severity, key=SEVERITY_RANK.__getitem__)
        last_seen = max(member.last_seen, alert.ts)
        count = 1
        if alert.action is AlertAction.PENDING:
            if member.state.live:
                return None  # the same wait again (a replay), or a wait of a condition that already fires
            until = alert.until if alert.until is not None else alert.ts
            state, verify_until, last_seen = MemberState.VERIFYING, until, max(last_seen, until)
            action = SystemAction.VERIFY
        else:
            state, verify_until = MemberState.FIRING, None
            action = SystemAction.CONFIRM if member.state is MemberState.VERIFYING else SystemAction.REPEAT
            count = 0 if action is SystemAction.CONFIRM else 1  # a confirmation is the same firing as its wait
        changed = replace(
            member,
            severity=severity,
            state=state,
            last_seen=last_seen,
            verify_until=verify_until,
            count=member.count + count,
        )
        await self._write_member(conn, ticket.id, changed)
        members = await self._members(conn, ticket, changed)
        return await self._settle(conn, ticket, members, alert, now, new, cards, action, count=count)

    async def _write_member(self, conn: AsyncConnection, ticket_id: int, m: TicketMember) -> None:
        await conn.execute(
            ticket_members.update()
            .where(ticket_members.c.ticket_id == ticket_id, ticket_members.c.dedup_key == m.dedup_key)
            .values(
                severity=m.severity.value,
                severity_rank=SEVERITY_RANK[m.severity],
                state=m.state.value,
                last_seen=m.last_seen,
                verify_until=m.verify_until,
                count=m.count,
            )
        )

    async def _settle(
        self,
        conn: AsyncConnection,
        ticket: Ticket,
        members: list[TicketMember] | None,
        alert: Alert,
        now: float,
        new: NewTicket | None,
        cards: Cards,
        action: SystemAction,
        *,
        count: int = 0,
        withdrawn: bool = False,
    ) -> Changed:
        """Write what a change of one condition does to its ticket (`alerts.incident.settle`) and record it.
        `members`: the ticket's active conditions after the change (None: read them)."""
        if members is None:
            members = await self._active_members(conn, ticket.id)
        deadlines = None if new is None else (new.ack_due_at, new.resolve_due_at)
        settled = settle(ticket, members, ts=alert.ts, deadlines=deadlines, withdrawn=withdrawn)
        if new is not None and settled.confirmed and ticket.status is Status.OPEN:
            settled.values["nudge_at"] = new.nudge_at  # the policy's reminders start with the deadlines
        if action is SystemAction.CLEAR and not settled.cleared:
            action = SystemAction.CLEAR_PART
        if action is SystemAction.JOIN and alert.action is AlertAction.PENDING:
            action = SystemAction.VERIFY
        changed = await self._write(conn, ticket.id, now, {**settled.values, "count": tickets.c.count + count})
        data: dict[str, Any] = {"alert_ts": alert.ts, "rule_id": alert.rule_id, **_wait(alert), **settled.data}
        if alert.group is not None or action is SystemAction.JOIN:
            data["dedup_key"] = alert.dedup_key
        if action is SystemAction.REPEAT:
            data["count"] = changed.count
        if settled.confirmed:
            data["confirmed"] = True
        notify = settled.notify or action is SystemAction.CLEAR
        recipients = cards(changed.assignee_id) if settled.notify else ()
        note = None
        if action is SystemAction.CONFIRM and alert.details.get(CONFIRMED_BY) == "timeout":
            note, code = coded("notices.system.confirmed_by_timeout")
            data.update(code)
        change = Change(action.value, SYSTEM_ACTOR, note=note, data=data, recipients=recipients, quiet=not notify)
        return changed, await self._record(conn, changed, now, change, None)

    async def _write(self, conn: AsyncConnection, ticket_id: int, now: float, values: dict[str, Any]) -> Ticket:
        res = await conn.execute(
            tickets.update()
            .where(tickets.c.id == ticket_id)
            .values(**values, updated_at=now, version=tickets.c.version + 1)
            .returning(*tickets.c)
        )
        return row_to_ticket(res.one())

    async def _set_members_active(self, conn: AsyncConnection, ticket_id: int, active: bool) -> None:
        """A ticket's conditions follow it: they belong to an active ticket, or no longer to any."""
        await conn.execute(
            ticket_members.update()
            .where(ticket_members.c.ticket_id == ticket_id, ticket_members.c.active != active)
            .values(active=active)
        )

    async def _revive(
        self, conn: AsyncConnection, alert: Alert, key: str, now: float, new: NewTicket, flap_window_s: float
    ) -> Changed | None:
        """Reopen the ticket of `key` resolved most recently: by a clear within `flap_window_s`, or (the rule's
        `reopen_within`, `Alert.reopen_within`) by a clear or a person within that. None: there is none."""
        recently = []
        if flap_window_s > 0:
            recently.append(and_(tickets.c.resolved_by == SYSTEM_ACTOR, tickets.c.resolved_at >= now - flap_window_s))
        if alert.reopen_within > 0:
            recently.append(tickets.c.resolved_at >= now - alert.reopen_within)
        recent = (
            await conn.execute(
                select(tickets.c.id, tickets.c.resolved_by)
                .where(tickets.c.dedup_key == key, tickets.c.status == Status.RESOLVED.value, or_(*recently))
                .order_by(tickets.c.id.desc())
                .limit(1)
            )
        ).first()
        if recent is None:
            return None
        recent_id, resolved_by = recent
        verifying = alert.action is AlertAction.PENDING
        res = await conn.execute(
            tickets.update()
            .where(tickets.c.id == recent_id, tickets.c.status == Status.RESOLVED.value)
            .values(
                status=Status.OPEN.value,
                active=True,
                count=tickets.c.count + 1,
                last_seen=alert.ts,
                cleared=False,
                cleared_at=None,
                resolved_at=None,
                resolved_by=None,
                assignee_id=new.assignee_id,  # whoever is on duty now, not who had it before
                # revived by an alarm in its verification wait: back to verifying, its deadlines start later
                ack_due_at=None if verifying else new.ack_due_at,
                resolve_due_at=None if verifying else new.resolve_due_at,
                nudge_at=None if verifying else new.nudge_at,
                verifying=verifying,
                verify_until=alert.until if verifying else None,
                overdue_since=None,
                overdue_reason=None,
                updated_at=now,
                version=tickets.c.version + 1,
            )
            .returning(*tickets.c)
        )
        row = res.first()
        if row is None:
            return None
        ticket = row_to_ticket(row)
        await self._add_member(conn, ticket.id, alert, now)
        # reopened after a person resolved it (`reopen_within`): their fix did not hold, it did not clear
        note, code = coded(f"notices.system.reopen.{'cleared' if resolved_by == SYSTEM_ACTOR else 'resolved'}")
        data: dict[str, Any] = {"alert_ts": alert.ts, "flap": True, "rule_id": alert.rule_id, **_wait(alert), **code}
        if alert.reopen_within > 0:
            data["reopen_within"] = alert.reopen_within
        change = Change(
            Action.REOPEN.value, SYSTEM_ACTOR, note=note, data=data, recipients=new.recipients, quiet=verifying
        )
        return ticket, await self._record(conn, ticket, now, change, Status.RESOLVED)

    async def _insert(self, conn: AsyncConnection, alert: Alert, key: str, now: float, new: NewTicket) -> Ticket:
        res = await conn.execute(tickets.insert().values(**_ticket_values(alert, key, now, new)).returning(*tickets.c))
        return row_to_ticket(res.one())

    async def clear_alert(self, alert: Alert, now: float, auto_resolve: Callable[[Ticket], bool]) -> list[Changed]:
        """A clear, or the withdrawal of an alarm in its verification wait: the condition ends on its active
        ticket; when it was the ticket's last live condition the ticket is cleared, and resolved too if
        `auto_resolve(ticket)`. Returns the (ticket, event) pairs written (empty when no active ticket holds the
        condition)."""
        async with translated(), begin_write(self.engine) as conn:
            return await self._clear_in(conn, alert, now, auto_resolve)

    async def _clear_in(
        self, conn: AsyncConnection, alert: Alert, now: float, auto_resolve: Callable[[Ticket], bool]
    ) -> list[Changed]:
        found = await self._condition(conn, alert.dedup_key)
        if found is None or not found[2]:
            return []
        ticket, member, _ = found
        withdrawn = member.state is MemberState.VERIFYING
        if not member.state.live or (alert.action is AlertAction.CANCEL and not withdrawn):
            return []
        changed = replace(
            member,
            state=MemberState.CANCELLED if withdrawn else MemberState.CLEARED,
            verify_until=None,
            last_seen=max(member.last_seen, alert.ts),
        )
        await self._write_member(conn, ticket.id, changed)
        members = await self._members(conn, ticket, changed)
        if withdrawn and ticket.verifying and not any(m.state.live for m in members):
            return [await self._withdrawn(conn, ticket, alert, now)]
        action = SystemAction.CANCEL if withdrawn else SystemAction.CLEAR
        out = [await self._settle(conn, ticket, members, alert, now, None, no_cards, action, withdrawn=withdrawn)]
        cleared = out[0][0]
        if cleared.cleared and not ticket.cleared and auto_resolve(cleared):
            out.append(await self._auto_resolve(conn, cleared, now))
        return out

    async def _withdrawn(self, conn: AsyncConnection, ticket: Ticket, alert: Alert, now: float) -> Changed:
        """The ticket held only alarms being verified, and the last one was withdrawn: nothing happened. Closed
        when nobody took it yet; a ticket a person took stays with them, cleared."""
        what = alert.details.get("event") or alert.details.get("reason")
        note, code = coded("notices.system.withdrawn", f": {what}" if what else "")
        values: dict[str, Any] = {"verifying": False, "verify_until": None, "cleared": True, "cleared_at": alert.ts}
        if ticket.status is Status.OPEN:
            values.update(
                status=Status.CLOSED.value,
                active=False,
                resolved_at=now,
                resolved_by=SYSTEM_ACTOR,
                ack_due_at=None,
                resolve_due_at=None,
            )
            await self._set_members_active(conn, ticket.id, False)
        changed = await self._write(conn, ticket.id, now, values)
        data = {"alert_ts": alert.ts, "rule_id": alert.rule_id, "reason": what, **code}
        change = Change(SystemAction.CANCEL.value, SYSTEM_ACTOR, note=note, data=data, quiet=True)
        return changed, await self._record(conn, changed, now, change, ticket.status)

    async def _auto_resolve(self, conn: AsyncConnection, ticket: Ticket, now: float) -> Changed:
        values = {
            "status": Status.RESOLVED.value,
            "active": False,
            "resolved_at": now,
            "resolved_by": SYSTEM_ACTOR,
        }
        resolved = await self._write(conn, ticket.id, now, values)
        await self._set_members_active(conn, ticket.id, False)
        note, code = coded("notices.system.auto_resolved")
        change = Change(SystemAction.AUTO_RESOLVE.value, SYSTEM_ACTOR, note=note, data=code)
        return resolved, await self._record(conn, resolved, now, change, ticket.status)

    async def update(self, ticket_id: int, now: float, decide: Callable[[Ticket], Change | None]) -> Changed | None:
        """Apply the change `decide` returns for the current ticket (optimistic: retried when someone else
        changed the ticket in between). `decide` may raise to refuse; returning None writes nothing."""
        for _ in range(_RETRIES):
            loaded = await self._load(ticket_id)
            if loaded is None:
                raise NotFoundError(tr("errors.ticket_not_found", id=ticket_id))
            current, version = loaded
            change = decide(current)
            if change is None:
                return None
            values = dict(change.values)
            if "status" in values:
                status = Status(values["status"])
                values["status"] = status.value
                values["active"] = status in ACTIVE
            try:
                async with translated(), begin_write(self.engine) as conn:
                    res = await conn.execute(
                        tickets.update()
                        .where(tickets.c.id == ticket_id, tickets.c.version == version)
                        .values(**values, updated_at=now, version=tickets.c.version + 1)
                        .returning(*tickets.c)
                    )
                    row = res.first()
                    if row is None:
                        continue
                    ticket = row_to_ticket(row)
                    if ticket.status.active != current.status.active:
                        await self._set_members_active(conn, ticket.id, ticket.status.active)
                    if change.also is not None:
                        change = replace(change, data={**change.data, **await change.also(conn, ticket.id)})
                    event = await self._record(conn, ticket, now, change, current.status)
                    return ticket, event
            except IntegrityError as e:
                raise ConflictError(tr("errors.already_active", key=current.dedup_key)) from e
        raise ConflictError(tr("errors.keeps_changing", id=ticket_id))

    # --- reads --------------------------------------------------------------------------------------------

    async def get(self, ticket_id: int) -> Ticket | None:
        loaded = await self._load(ticket_id)
        return None if loaded is None else loaded[0]

    async def _load(self, ticket_id: int) -> tuple[Ticket, int] | None:
        async with translated(), self.engine.connect() as conn:
            row = (await conn.execute(select(tickets).where(tickets.c.id == ticket_id))).first()
            return None if row is None else (row_to_ticket(row), int(row._mapping["version"]))

    async def timeline(self, ticket_id: int) -> list[TicketEvent]:
        async with translated(), self.engine.connect() as conn:
            rows = await conn.execute(
                select(ticket_events).where(ticket_events.c.ticket_id == ticket_id).order_by(ticket_events.c.id)
            )
            return [row_to_event(r) for r in rows]

    async def active_for(self, dedup_key: str) -> Ticket | None:
        """The active ticket whose key is `dedup_key` (a group's, or a lone rule's condition)."""
        async with translated(), self.engine.connect() as conn:
            row = (
                await conn.execute(select(tickets).where(tickets.c.dedup_key == dedup_key, tickets.c.active))
            ).first()
            return None if row is None else row_to_ticket(row)

    async def active_for_alert(self, alert: Alert) -> Ticket | None:
        """The active ticket an alert would update: the one holding its condition, or its group's."""
        holding = (
            select(ticket_members.c.ticket_id)
            .where(ticket_members.c.dedup_key == alert.dedup_key, ticket_members.c.active)
            .scalar_subquery()
        )
        key = alert.group or alert.dedup_key
        q = select(tickets).where(tickets.c.active, or_(tickets.c.id == holding, tickets.c.dedup_key == key)).limit(1)
        async with translated(), self.engine.connect() as conn:
            row = (await conn.execute(q)).first()
            return None if row is None else row_to_ticket(row)

    async def stale_waits(self, ended_before: float) -> list[tuple[Ticket, TicketMember]]:
        """Conditions of active tickets still in a verification wait that ended before `ended_before`."""
        m = ticket_members.c
        q = _with_tickets().where(m.active, m.state == MemberState.VERIFYING.value, m.verify_until < ended_before)
        async with translated(), self.engine.connect() as conn:
            return [_split(r) for r in await conn.execute(q.order_by(m.id))]

    async def members(self, ticket_id: int) -> list[TicketMember]:
        """The conditions a ticket holds or held, in the order they joined."""
        q = select(ticket_members).where(ticket_members.c.ticket_id == ticket_id).order_by(ticket_members.c.id)
        async with translated(), self.engine.connect() as conn:
            return [row_to_member(r) for r in await conn.execute(q)]

    async def active_in(self, microgrid_id: str, limit: int = 100) -> list[Ticket]:
        """Active tickets of a micro-grid that people were told of (not verifying), most severe then oldest."""
        q = (
            select(tickets)
            .where(tickets.c.active, tickets.c.microgrid_id == microgrid_id, ~tickets.c.verifying)
            .order_by(tickets.c.severity_rank, tickets.c.first_seen, tickets.c.id)
            .limit(limit)
        )
        async with translated(), self.engine.connect() as conn:
            return [row_to_ticket(r) for r in await conn.execute(q)]

    async def rule_titles(self, rule_ids: Iterable[str], microgrids: Sequence[str] | None) -> dict[str, dict[str, str]]:
        """Each rule's title per language, as its newest ticket in `microgrids` carries it (None: anywhere, for
        operators): what names a rule where only its id is kept, as on a silence or in a report. Only tickets
        the reader may see: a ticket's title is its condition's, which need not be the rule's alone."""
        wanted = sorted(set(rule_ids))
        if not wanted or (microgrids is not None and not microgrids):
            return {}
        newest = select(func.max(tickets.c.id)).where(tickets.c.rule_id.in_(wanted))
        if microgrids is not None:
            newest = newest.where(tickets.c.microgrid_id.in_(sorted(set(microgrids))))
        newest = newest.group_by(tickets.c.rule_id)
        q = select(tickets.c.rule_id, tickets.c.title, tickets.c.titles).where(tickets.c.id.in_(newest))
        async with translated(), self.engine.connect() as conn:
            rows = await conn.execute(q)
            return {r[0]: {lang: title_in(r[1], r[2], lang) for lang in LANGS} for r in rows if r[1]}

    async def microgrid_ids(self) -> list[str]:
        """Distinct owners of stored tickets (small: one per micro-grid with tickets). Asked at every list call,
        so it skips from one micro-grid to the next along `ix_tickets_board` (one index probe each) instead of
        reading every ticket as a plain DISTINCT does."""
        async with translated(), self.engine.connect() as conn:
            rows = await conn.execute(_MICROGRIDS)
            return [r[0] for r in rows if r[0] is not None]

    async def page(
        self,
        *,
        microgrids: Sequence[str] | Callable[[list[str]], Sequence[str]] | None,
        statuses: Sequence[Status] = (),
        severities: Sequence[Severity] = (),
        assignee_id: str | None = None,
        limit: int = 50,
        cursor: str | None = None,
    ) -> TicketPage:
        """Tickets ordered by severity, then age (oldest first), then id; keyset-paginated by `cursor`.
        `microgrids=None` means every micro-grid (operators); a function picks them among `microgrid_ids`, read
        on the same connection as the page (each checkout costs round trips, each waiting its turn of a busy
        event loop)."""
        after = decode_cursor(cursor) if cursor else None
        if microgrids is not None and not callable(microgrids) and not microgrids:
            return TicketPage([], None)
        async with translated(), self.engine.connect() as conn:
            if callable(microgrids):
                microgrids = microgrids([r[0] for r in await conn.execute(_MICROGRIDS) if r[0] is not None])
                if not microgrids:
                    return TicketPage([], None)
            q = page_query(microgrids, statuses, severities, assignee_id, limit + 1, after)
            items = [row_to_ticket(r) for r in await conn.execute(q)]
        more = len(items) > limit
        items = items[:limit]
        return TicketPage(items, encode_cursor(items[-1]) if more and items else None)

    async def due(self, now: float, limit: int = 500) -> list[Ticket]:
        """Active tickets whose acknowledge (while open) or resolve deadline has passed, or whose policy nudges
        (a reminder while open, the acknowledge timeout while acknowledged)."""
        q = (
            select(tickets)
            .where(
                tickets.c.active,
                or_(
                    and_(tickets.c.status == Status.OPEN.value, tickets.c.ack_due_at <= now),
                    tickets.c.resolve_due_at <= now,
                    and_(
                        tickets.c.status.in_([Status.OPEN.value, Status.ACKNOWLEDGED.value]),
                        tickets.c.nudge_at <= now,
                    ),
                ),
            )
            .order_by(tickets.c.severity_rank, tickets.c.id)
            .limit(limit)
        )
        async with translated(), self.engine.connect() as conn:
            return [row_to_ticket(r) for r in await conn.execute(q)]

    async def counts(
        self, microgrids: Sequence[str] | None, now: float, window_s: float = 7 * 86_400
    ) -> dict[str, Any]:
        """Counts for the summary strip: by status, active by severity, overdue; and the mean time to
        acknowledge / to resolve (by a person) of tickets created in the last `window_s`."""
        base = select(tickets.c.status, tickets.c.severity, func.count())
        # overdue: a missed deadline not met since (escalation moves the deadlines forward), or one that passed
        # before the escalation loop got to it
        overdue_q = select(func.count()).where(
            tickets.c.active,
            or_(
                tickets.c.overdue_since.is_not(None),
                and_(tickets.c.status == Status.OPEN.value, tickets.c.ack_due_at <= now),
                tickets.c.resolve_due_at <= now,
            ),
        )
        recent = tickets.c.created_at >= now - window_s
        mtta_q = select(func.avg(tickets.c.acknowledged_at - tickets.c.created_at)).where(
            recent, tickets.c.acknowledged_at.is_not(None)
        )
        mttr_q = select(func.avg(tickets.c.resolved_at - tickets.c.created_at)).where(
            recent, tickets.c.resolved_at.is_not(None), tickets.c.resolved_by != SYSTEM_ACTOR
        )
        rating_q = select(func.avg(tickets.c.rating), func.count(tickets.c.rating)).where(
            recent, tickets.c.rating.is_not(None)
        )
        if microgrids is not None:
            in_scope = tickets.c.microgrid_id.in_(list(microgrids))
            base, overdue_q = base.where(in_scope), overdue_q.where(in_scope)
            mtta_q, mttr_q = mtta_q.where(in_scope), mttr_q.where(in_scope)
            rating_q = rating_q.where(in_scope)
        by_status = {s.value: 0 for s in Status}
        by_severity = {s.value: 0 for s in Severity}
        async with translated(), self.engine.connect() as conn:
            for status, severity, n in await conn.execute(base.group_by(tickets.c.status, tickets.c.severity)):
                by_status[status] += n
                if Status(status) in ACTIVE:
                    by_severity[severity] += n
            overdue = (await conn.execute(overdue_q)).scalar_one() if microgrids != [] else 0
            mtta = (await conn.execute(mtta_q)).scalar_one() if microgrids != [] else None
            mttr = (await conn.execute(mttr_q)).scalar_one() if microgrids != [] else None
            rating, rated = (await conn.execute(rating_q)).one() if microgrids != [] else (None, 0)
        return {
            "active": sum(by_status[s.value] for s in ACTIVE),
            "overdue": overdue,
            "mtta_s": None if mtta is None else round(float(mtta), 1),
            "mttr_s": None if mttr is None else round(float(mttr), 1),
            "rating": None if rating is None else round(float(rating), 2),
            "rated": int(rated),
            "by_status": by_status,
            "by_severity": by_severity,
        }
