"""Tickets and events as JSON-ready dicts: one shape for the API, the board stream and webhooks."""

from __future__ import annotations

from dataclasses import fields
from typing import Any

from alerts.model import Ticket, TicketEvent

_TICKET = fields(Ticket)
_EVENT = fields(TicketEvent)


def ticket_to_dict(t: Ticket, now: float | None = None) -> dict[str, Any]:
    """Shallow: `details` is the ticket's own dict (no field holds a dataclass); `asdict`'s deep copy cost an
    alert storm more than the statements that store these."""
    d = {f.name: getattr(t, f.name) for f in _TICKET}
    d["severity"] = t.severity.value
    d["status"] = t.status.value
    if now is not None:
        d["overdue"] = t.overdue(now)
        d["overdue_since"] = t.overdue_at(now)
    return d


def event_to_dict(e: TicketEvent) -> dict[str, Any]:
    """Shallow, as `ticket_to_dict`."""
    d = {f.name: getattr(e, f.name) for f in _EVENT}
    d["from_status"] = e.from_status.value if e.from_status else None
    d["to_status"] = e.to_status.value if e.to_status else None
    return d
