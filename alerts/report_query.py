"""The one query behind a report: tickets created in a period, counted per micro-grid, rule, severity and
period bucket, with the escalations that made them late. The roll-up is `alerts.reports` (pure)."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import ColumnElement, Subquery, and_, case, func, literal, not_, or_, select
from sqlalchemy.ext.asyncio import AsyncEngine

from alerts.dbguard import translated
from alerts.model import SYSTEM_ACTOR
from alerts.reports import Counts, Period
from alerts.tables import ticket_events, tickets

#: Timeline actions the escalator writes when a deadline passed (`alerts.escalation.plan_escalation`).
_LATE_ACTIONS = ("escalate", "remind")


def _escalations(period: Period) -> Subquery:
    """Per ticket escalated since the period began: 1 when it was escalated (or reminded) for a missed
    acknowledgement (`ack`) / resolution (`res`). One pass over the timeline instead of a probe per ticket."""
    reason = ticket_events.c.data["reason"].as_string()
    return (
        select(
            ticket_events.c.ticket_id,
            func.max(case((reason == "ack", 1), else_=0)).label("ack"),
            func.max(case((reason == "resolve", 1), else_=0)).label("res"),
        )
        .where(ticket_events.c.action.in_(_LATE_ACTIONS), ticket_events.c.at >= period.start)
        .group_by(ticket_events.c.ticket_id)
        .subquery("late")
    )


def _bucket(period: Period) -> ColumnElement[int]:
    """The index of the bucket a ticket's creation falls in (edges ascending; the period's start is edge 0)."""
    if len(period.edges) == 1:
        return literal(0)
    whens = [(tickets.c.created_at < edge, i) for i, edge in enumerate(period.edges[1:])]
    return case(*whens, else_=len(period.edges) - 1)


def _count(cond: ColumnElement[bool]) -> ColumnElement[int]:
    return func.coalesce(func.sum(case((cond, 1), else_=0)), 0)


async def report_counts(engine: AsyncEngine, microgrids: Sequence[str] | None, period: Period) -> list[Counts]:
    """Aggregated rows for `period` within `microgrids` (None: all)."""
    late = _escalations(period)
    late_ack = func.coalesce(late.c.ack, 0) == 1
    late_resolve = func.coalesce(late.c.res, 0) == 1
    acked = tickets.c.acknowledged_at.is_not(None)
    by_person = and_(tickets.c.resolved_at.is_not(None), tickets.c.resolved_by != SYSTEM_ACTOR)
    bucket = _bucket(period).label("bucket")
    q = (
        select(
            tickets.c.microgrid_id,
            tickets.c.rule_id,
            tickets.c.severity,
            bucket,
            func.count().label("n"),
            _count(tickets.c.active),
            func.count(tickets.c.acknowledged_at),
            func.coalesce(func.sum(tickets.c.acknowledged_at - tickets.c.created_at), 0.0),
            _count(and_(acked, not_(late_ack))),
            _count(or_(late_ack, and_(not_(acked), tickets.c.overdue_reason == "ack"))),
            _count(by_person),
            func.coalesce(func.sum(case((by_person, tickets.c.resolved_at - tickets.c.created_at))), 0.0),
            _count(and_(by_person, not_(late_resolve))),
            _count(or_(late_resolve, tickets.c.overdue_reason == "resolve")),
            func.count(tickets.c.rating),
            func.coalesce(func.sum(tickets.c.rating), 0),
            func.max(tickets.c.title),
        )
        .select_from(tickets.outerjoin(late, late.c.ticket_id == tickets.c.id))
        .where(tickets.c.created_at >= period.start, tickets.c.created_at < period.end)
        .group_by(tickets.c.microgrid_id, tickets.c.rule_id, tickets.c.severity, bucket)
    )
    if microgrids is not None:
        if not microgrids:
            return []
        q = q.where(tickets.c.microgrid_id.in_(list(microgrids)))
    async with translated(), engine.connect() as conn:
        rows = (await conn.execute(q)).all()
    return [
        Counts(
            microgrid_id=r[0],
            rule_id=r[1],
            severity=r[2],
            bucket=int(r[3]),
            tickets=int(r[4]),
            open=int(r[5]),
            acknowledged=int(r[6]),
            tta_sum=float(r[7]),
            ack_on_time=int(r[8]),
            ack_late=int(r[9]),
            resolved=int(r[10]),
            ttr_sum=float(r[11]),
            resolve_on_time=int(r[12]),
            resolve_late=int(r[13]),
            rated=int(r[14]),
            rating_sum=float(r[15]),
            title=str(r[16] or ""),
        )
        for r in rows
    ]
