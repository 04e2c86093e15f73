"""How a ticket follows the conditions it holds (pure): one ticket per situation.

A ticket holds one condition (an alert's dedup key) per rule of its group that fired about its device or
household (`alerts.model.TicketMember`). After each change of a condition, `settle` derives the ticket's own
columns from them:
- severity: the highest of its conditions, never lowered, except when an alarm that was only being verified
  is withdrawn; the ticket's rule, title and details are those of the condition that set it;
- verification: a ticket opened by an alarm in its verification wait (`pending`) shows at once but has no
  deadlines and notifies nobody until a condition is confirmed; then its deadlines start;
- deadlines: a severity rise recomputes them from the higher severity, never later than they were;
- cleared: when none of its conditions is firing or being verified.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from alerts.lifecycle import Status
from alerts.model import SEVERITY_RANK, MemberState, Ticket, TicketMember

_BY_RANK = {rank: severity for severity, rank in SEVERITY_RANK.items()}
_CONFIRMED = (MemberState.FIRING, MemberState.CLEARED)


@dataclass(frozen=True, slots=True)
class Settled:
    """The ticket columns a change writes, what its audit event records, and whether people are told."""

    values: dict[str, Any] = field(default_factory=dict)
    data: dict[str, Any] = field(default_factory=dict)
    confirmed: bool = False  # the ticket left its verification wait with this change
    severity_rose: bool = False
    cleared: bool = False  # its last live condition ended with this change

    @property
    def notify(self) -> bool:
        """People hear of a confirmation and of a severity rise; other steps only show on the board."""
        return self.confirmed or self.severity_rose


def tighter(current: float | None, candidate: float | None) -> float | None:
    """The earlier of two deadlines (None: no deadline)."""
    if candidate is None:
        return current
    return candidate if current is None else min(current, candidate)


def settle(
    ticket: Ticket,
    members: Sequence[TicketMember],
    *,
    ts: float,
    deadlines: tuple[float | None, float | None] | None,
    withdrawn: bool = False,
) -> Settled:
    """The ticket after one of its conditions changed. `members` are its active conditions as they are now, in
    the order they joined; `ts` is the alert's event time; `deadlines` are the (acknowledge, resolve) deadlines
    of the raise that caused the change, counted from now (None for a clear or a withdrawal); `withdrawn` says
    an alarm in its verification wait was withdrawn, the one change that may lower the severity."""
    verifying = ticket.verifying and not any(m.state in _CONFIRMED for m in members)
    counted = [m for m in members if m.state in _CONFIRMED or (verifying and m.state is MemberState.VERIFYING)]
    old_rank = SEVERITY_RANK[ticket.severity]
    rank = min((SEVERITY_RANK[m.severity] for m in counted), default=old_rank)
    if not withdrawn:
        rank = min(rank, old_rank)
    values: dict[str, Any] = {"last_seen": max(ticket.last_seen, ts), "verifying": verifying}
    data: dict[str, Any] = {}
    waits = [m.verify_until for m in members if m.state is MemberState.VERIFYING and m.verify_until is not None]
    values["verify_until"] = min(waits) if waits else None
    if rank != old_rank:
        severity = _BY_RANK[rank]
        lead = next(m for m in counted if SEVERITY_RANK[m.severity] == rank)
        values.update(
            severity=severity.value,
            severity_rank=rank,
            rule_id=lead.rule_id,
            title=lead.title,
            titles=lead.titles or None,
            details=lead.details,
        )
        data["severity"] = {"from": ticket.severity.value, "to": severity.value}
    confirmed = ticket.verifying and not verifying
    rose = rank < old_rank and not verifying
    if deadlines is not None and (confirmed or rose):
        ack, resolve = deadlines
        if confirmed:  # the deadlines start now, from the confirmed condition's severity
            values["ack_due_at"] = ack if ticket.status is Status.OPEN else None
            values["resolve_due_at"] = resolve
        else:
            if ticket.status is Status.OPEN:
                values["ack_due_at"] = tighter(ticket.ack_due_at, ack)
            values["resolve_due_at"] = tighter(ticket.resolve_due_at, resolve)
    live = any(m.state.live for m in members)
    cleared = not live and not ticket.cleared
    if live:
        values.update(cleared=False, cleared_at=None)
    elif cleared:
        values.update(cleared=True, cleared_at=ts)
    return Settled(values, data, confirmed, rose, cleared)
