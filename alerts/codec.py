"""Tickets and events as JSON-ready dicts: one shape for the API, the board stream and webhooks."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from alerts.model import Ticket, TicketEvent


def ticket_to_dict(t: Ticket, now: float | None = None) -> dict[str, Any]:
    d = asdict(t)
    d["severity"] = t.severity.value
    d["status"] = t.status.value
    if now is not None:
        d["overdue"] = t.overdue(now)
        d["overdue_since"] = t.overdue_at(now)
    return d


def event_to_dict(e: TicketEvent) -> dict[str, Any]:
    d = asdict(e)
    d["from_status"] = e.from_status.value if e.from_status else None
    d["to_status"] = e.to_status.value if e.to_status else None
    return d
