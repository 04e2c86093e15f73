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
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from sqlalchemy import and_, func, or_, select, tuple_
from sqlalchemy.engine import Row
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from alerts.codec import event_to_dict, ticket_to_dict
from alerts.dbguard import translated
from alerts.errors import ConflictError, InvalidCursorError, NotFoundError, StoreError
from alerts.lifecycle import ACTIVE, Action, Status, SystemAction
from alerts.model import SEVERITY_RANK, SYSTEM_ACTOR, Ticket, TicketEvent, TicketPage
from alerts.tables import create_tables, outbox, ticket_events, tickets
from cwatch.db import begin_write
from rules.alert import Alert, Severity

__all__ = ["Change", "NewTicket", "TicketStore", "create_tables"]

_RETRIES = 8
#: Audit events that enqueue no notification: repeats of an open condition would flood webhooks during an
#: alert storm; the ticket's `count` travels with its next notified change.
QUIET_ACTIONS = frozenset({SystemAction.REPEAT.value})


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


@dataclass(frozen=True, slots=True)
class NewTicket:
    """Column values the service decided for a ticket that a raise may create (assignment, deadlines)."""

    assignee_id: str | None
    ack_due_at: float | None
    resolve_due_at: float | None
    data: dict[str, Any] = field(default_factory=dict)
    recipients: tuple[dict[str, str], ...] = ()


Changed = tuple[Ticket, TicketEvent]


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


def encode_cursor(t: Ticket) -> str:
    raw = json.dumps([SEVERITY_RANK[t.severity], t.first_seen, t.id]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[int, float, int]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        rank, first_seen, tid = json.loads(raw)
        return int(rank), float(first_seen), int(tid)
    except (ValueError, TypeError) as e:
        raise InvalidCursorError("invalid cursor") from e


class TicketStore:
    """Reads and writes tickets. `channels` are the durable notification channels: each change enqueues one
    outbox row per channel in the change's own transaction (see `alerts.notify`)."""

    def __init__(self, engine: AsyncEngine, channels: Sequence[str] = ()) -> None:
        self.engine = engine
        self.channels = tuple(channels)

    # --- writes -------------------------------------------------------------------------------------------

    async def _record(
        self,
        conn: AsyncConnection,
        ticket: Ticket,
        at: float,
        change: Change,
        from_status: Status | None,
    ) -> TicketEvent:
        res = await conn.execute(
            ticket_events.insert()
            .values(
                ticket_id=ticket.id,
                at=at,
                actor=change.actor,
                action=change.action,
                from_status=from_status.value if from_status else None,
                to_status=ticket.status.value,
                note=change.note,
                data=change.data,
            )
            .returning(*ticket_events.c)
        )
        event = row_to_event(res.one())
        if self.channels and change.action not in QUIET_ACTIONS:
            payload = {
                "ticket": ticket_to_dict(ticket),
                "event": event_to_dict(event),
                "recipients": list(change.recipients),
            }
            await conn.execute(
                outbox.insert(),
                [
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
                ],
            )
        return event

    async def raise_alert(
        self, alert: Alert, now: float, new: NewTicket, flap_window_s: float = 0.0
    ) -> tuple[Ticket, TicketEvent, bool] | None:
        """Create the active ticket of `alert.dedup_key`, or bump it if one exists. Returns (ticket, event,
        created), or None for a stale raise (see `_raise_in`). Safe against concurrent raises from other
        processes (see the module docstring).

        Flap control: a raise within `flap_window_s` of the key's ticket being auto-resolved by a clear reopens
        that ticket instead of opening a new one, so a door that keeps opening and closing stays one ticket."""
        for _ in range(_RETRIES):
            try:
                async with translated(), begin_write(self.engine) as conn:
                    raised = await self._raise_in(conn, alert, now, new, flap_window_s)
                    if raised is None:
                        return None
                    (ticket, event), created = raised
                    return ticket, event, created
            except IntegrityError:
                continue  # another writer created the active ticket first: bump it on the next round
        raise StoreError(f"could not raise {alert.dedup_key!r}: too many concurrent writers")

    async def _raise_in(
        self, conn: AsyncConnection, alert: Alert, now: float, new: NewTicket, flap_window_s: float
    ) -> tuple[Changed, bool] | None:
        """Bump, revive (flap control) or create. A raise no later (in event time) than the last alert of the
        key's most recent finished ticket belongs to that incident (a replay after a restart, or a late
        message): it is ignored instead of opening a duplicate ticket."""
        bumped = await self._bump(conn, alert, now)
        if bumped is not None:
            return bumped, False
        last_finished = (
            await conn.execute(
                select(func.max(tickets.c.last_seen)).where(tickets.c.dedup_key == alert.dedup_key, ~tickets.c.active)
            )
        ).scalar_one()
        if last_finished is not None and alert.ts <= last_finished:
            return None
        if flap_window_s > 0:
            revived = await self._revive(conn, alert, now, new, flap_window_s)
            if revived is not None:
                return revived, False
        ticket = await self._insert(conn, alert, now, new)
        change = Change(
            SystemAction.RAISE.value,
            SYSTEM_ACTOR,
            data={"alert_ts": alert.ts, **new.data},
            recipients=new.recipients,
        )
        event = await self._record(conn, ticket, now, change, None)
        return (ticket, event), True

    async def apply_batch(
        self,
        items: Sequence[tuple[Alert, NewTicket | None]],
        now: float,
        flap_window_s: float,
        auto_resolve: Callable[[Ticket], bool],
    ) -> list[list[Changed]]:
        """Raises (with their `NewTicket`) and clears (None) in order, in one transaction: an alert storm
        costs one commit, not one per alert. If a concurrent writer makes the batch hit the unique index, the
        batch is rolled back and redone alert by alert (each with its own retry)."""
        try:
            async with translated(), begin_write(self.engine) as conn:
                out: list[list[Changed]] = []
                for alert, new in items:
                    if new is None:
                        out.append(await self._clear_in(conn, alert, now, auto_resolve))
                    else:
                        raised = await self._raise_in(conn, alert, now, new, flap_window_s)
                        out.append([] if raised is None else [raised[0]])
                return out
        except IntegrityError:
            pass
        slow: list[list[Changed]] = []
        for alert, new in items:
            if new is None:
                slow.append(await self.clear_alert(alert, now, auto_resolve))
            else:
                one = await self.raise_alert(alert, now, new, flap_window_s)
                slow.append([] if one is None else [(one[0], one[1])])
        return slow

    async def _bump(self, conn: AsyncConnection, alert: Alert, now: float) -> Changed | None:
        rank = SEVERITY_RANK[alert.severity]
        res = await conn.execute(
            tickets.update()
            .where(tickets.c.dedup_key == alert.dedup_key, tickets.c.active)
            .values(
                count=tickets.c.count + 1,
                last_seen=func.max(tickets.c.last_seen, alert.ts)
                if conn.dialect.name == "sqlite"
                else func.greatest(tickets.c.last_seen, alert.ts),
                # a repeat at a higher severity raises the ticket's severity; it never lowers it
                severity_rank=func.min(tickets.c.severity_rank, rank)
                if conn.dialect.name == "sqlite"
                else func.least(tickets.c.severity_rank, rank),
                cleared=False,
                cleared_at=None,
                updated_at=now,
                version=tickets.c.version + 1,
            )
            .returning(*tickets.c)
        )
        row = res.first()
        if row is None:
            return None
        ticket = row_to_ticket(row)
        severity = next(s for s, r in SEVERITY_RANK.items() if r == row._mapping["severity_rank"])
        data: dict[str, Any] = {"alert_ts": alert.ts, "count": ticket.count}
        if severity != ticket.severity:
            await conn.execute(tickets.update().where(tickets.c.id == ticket.id).values(severity=severity.value))
            data["severity"] = {"from": ticket.severity.value, "to": severity.value}
            ticket = _replace(ticket, severity=severity)
        event = await self._record(conn, ticket, now, Change(SystemAction.REPEAT.value, SYSTEM_ACTOR, data=data), None)
        return ticket, event

    async def _revive(
        self, conn: AsyncConnection, alert: Alert, now: float, new: NewTicket, window: float
    ) -> Changed | None:
        recent = (
            select(tickets.c.id)
            .where(
                tickets.c.dedup_key == alert.dedup_key,
                tickets.c.status == Status.RESOLVED.value,
                tickets.c.resolved_by == SYSTEM_ACTOR,
                tickets.c.resolved_at >= now - window,
            )
            .order_by(tickets.c.id.desc())
            .limit(1)
            .scalar_subquery()
        )
        res = await conn.execute(
            tickets.update()
            .where(tickets.c.id == recent, tickets.c.status == Status.RESOLVED.value)
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
                ack_due_at=new.ack_due_at,
                resolve_due_at=new.resolve_due_at,
                updated_at=now,
                version=tickets.c.version + 1,
            )
            .returning(*tickets.c)
        )
        row = res.first()
        if row is None:
            return None
        ticket = row_to_ticket(row)
        note = "自动解决后不久再次告警，重新打开 (fired again soon after it cleared)"
        change = Change(
            Action.REOPEN.value,
            SYSTEM_ACTOR,
            note=note,
            data={"alert_ts": alert.ts, "flap": True},
            recipients=new.recipients,
        )
        event = await self._record(conn, ticket, now, change, Status.RESOLVED)
        return ticket, event

    async def _insert(self, conn: AsyncConnection, alert: Alert, now: float, new: NewTicket) -> Ticket:
        res = await conn.execute(
            tickets.insert()
            .values(
                dedup_key=alert.dedup_key,
                rule_id=alert.rule_id,
                severity=alert.severity.value,
                severity_rank=SEVERITY_RANK[alert.severity],
                status=Status.OPEN.value,
                active=True,
                title=alert.title,
                details=dict(alert.details),
                device_id=alert.device_id,
                household_id=alert.household_id,
                building_id=alert.building_id,
                community_id=alert.community_id,
                microgrid_id=alert.microgrid_id,
                assignee_id=new.assignee_id,
                escalation_level=0,
                count=1,
                first_seen=alert.ts,
                last_seen=alert.ts,
                ack_due_at=new.ack_due_at,
                resolve_due_at=new.resolve_due_at,
                cleared=False,
                created_at=now,
                updated_at=now,
                version=1,
            )
            .returning(*tickets.c)
        )
        return row_to_ticket(res.one())

    async def clear_alert(self, alert: Alert, now: float, auto_resolve: Callable[[Ticket], bool]) -> list[Changed]:
        """Mark the active ticket of the key as cleared; if `auto_resolve(ticket)`, resolve it too. Returns the
        (ticket, event) pairs written (empty when no ticket is active for the key)."""
        async with translated(), begin_write(self.engine) as conn:
            return await self._clear_in(conn, alert, now, auto_resolve)

    async def _clear_in(
        self, conn: AsyncConnection, alert: Alert, now: float, auto_resolve: Callable[[Ticket], bool]
    ) -> list[Changed]:
        out: list[Changed] = []
        res = await conn.execute(
            tickets.update()
            .where(tickets.c.dedup_key == alert.dedup_key, tickets.c.active)
            .values(cleared=True, cleared_at=alert.ts, updated_at=now, version=tickets.c.version + 1)
            .returning(*tickets.c)
        )
        row = res.first()
        if row is None:
            return out
        ticket = row_to_ticket(row)
        event = await self._record(
            conn, ticket, now, Change(SystemAction.CLEAR.value, SYSTEM_ACTOR, data={"alert_ts": alert.ts}), None
        )
        out.append((ticket, event))
        if auto_resolve(ticket):
            res = await conn.execute(
                tickets.update()
                .where(tickets.c.id == ticket.id)
                .values(
                    status=Status.RESOLVED.value,
                    active=False,
                    resolved_at=now,
                    resolved_by=SYSTEM_ACTOR,
                    updated_at=now,
                    version=tickets.c.version + 1,
                )
                .returning(*tickets.c)
            )
            resolved = row_to_ticket(res.one())
            note = "条件已恢复，系统自动解决 (condition cleared; resolved automatically)"
            event = await self._record(
                conn, resolved, now, Change(SystemAction.AUTO_RESOLVE.value, SYSTEM_ACTOR, note=note), ticket.status
            )
            out.append((resolved, event))
        return out

    async def update(self, ticket_id: int, now: float, decide: Callable[[Ticket], Change | None]) -> Changed | None:
        """Apply the change `decide` returns for the current ticket (optimistic: retried when someone else
        changed the ticket in between). `decide` may raise to refuse; returning None writes nothing."""
        for _ in range(_RETRIES):
            loaded = await self._load(ticket_id)
            if loaded is None:
                raise NotFoundError(f"ticket {ticket_id} not found")
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
                    event = await self._record(conn, ticket, now, change, current.status)
                    return ticket, event
            except IntegrityError as e:
                raise ConflictError(
                    f"another ticket for {current.dedup_key!r} is already active; work on that one"
                ) from e
        raise ConflictError(f"ticket {ticket_id} keeps changing; try again")

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
        async with translated(), self.engine.connect() as conn:
            row = (
                await conn.execute(select(tickets).where(tickets.c.dedup_key == dedup_key, tickets.c.active))
            ).first()
            return None if row is None else row_to_ticket(row)

    async def microgrid_ids(self) -> list[str]:
        """Distinct owners of stored tickets (small: one per micro-grid with tickets)."""
        async with translated(), self.engine.connect() as conn:
            rows = await conn.execute(select(tickets.c.microgrid_id).distinct())
            return [r[0] for r in rows]

    async def page(
        self,
        *,
        microgrids: Sequence[str] | None,
        statuses: Sequence[Status] = (),
        severities: Sequence[Severity] = (),
        assignee_id: str | None = None,
        limit: int = 50,
        cursor: str | None = None,
    ) -> TicketPage:
        """Tickets ordered by severity, then age (oldest first), then id; keyset-paginated by `cursor`.
        `microgrids=None` means every micro-grid (operators)."""
        after = decode_cursor(cursor) if cursor else None
        q = select(tickets)
        if microgrids is not None:
            if not microgrids:
                return TicketPage([], None)
            q = q.where(tickets.c.microgrid_id.in_(list(microgrids)))
        if statuses:
            q = q.where(tickets.c.status.in_([s.value for s in statuses]))
        if severities:
            q = q.where(tickets.c.severity.in_([s.value for s in severities]))
        if assignee_id is not None:
            q = q.where(tickets.c.assignee_id == assignee_id)
        if after is not None:
            rank, first_seen, tid = after
            q = q.where(
                tuple_(tickets.c.severity_rank, tickets.c.first_seen, tickets.c.id) > tuple_(rank, first_seen, tid)
            )
        q = q.order_by(tickets.c.severity_rank, tickets.c.first_seen, tickets.c.id).limit(limit + 1)
        async with translated(), self.engine.connect() as conn:
            items = [row_to_ticket(r) for r in await conn.execute(q)]
        more = len(items) > limit
        items = items[:limit]
        return TicketPage(items, encode_cursor(items[-1]) if more and items else None)

    async def due(self, now: float, limit: int = 500) -> list[Ticket]:
        """Active tickets whose acknowledge (while open) or resolve deadline has passed."""
        q = (
            select(tickets)
            .where(
                tickets.c.active,
                or_(
                    and_(tickets.c.status == Status.OPEN.value, tickets.c.ack_due_at <= now),
                    tickets.c.resolve_due_at <= now,
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
        overdue_q = select(func.count()).where(
            tickets.c.active,
            or_(
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


def _replace(t: Ticket, **changes: Any) -> Ticket:
    return replace(t, **changes)
