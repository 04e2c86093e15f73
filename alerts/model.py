"""Value types handed out by the store and the service: tickets, their audit events, accounts.

Frozen dataclasses, so the API, the board stream and the notifier can share them without copying."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from alerts.lifecycle import Status
from devices.model import Role
from rules.alert import Severity

#: Severity order for sorting (most urgent first).
SEVERITY_RANK: dict[Severity, int] = {
    Severity.CRITICAL: 0,
    Severity.MAJOR: 1,
    Severity.MINOR: 2,
    Severity.WARNING: 3,
    Severity.INFO: 4,
}


@dataclass(frozen=True, slots=True)
class Ticket:
    """One dispatch ticket. `microgrid_id` owns it; `count` is how often the condition fired while it was
    active; `first_seen`/`last_seen` are event times of the alerts, `created_at`/`updated_at` service times."""

    id: int
    dedup_key: str
    rule_id: str
    severity: Severity
    status: Status
    title: str
    details: dict[str, Any]
    microgrid_id: str
    device_id: str | None
    household_id: str | None
    building_id: str | None
    community_id: str | None
    assignee_id: str | None
    escalation_level: int
    count: int
    first_seen: float
    last_seen: float
    ack_due_at: float | None
    resolve_due_at: float | None
    cleared: bool
    cleared_at: float | None
    created_at: float
    updated_at: float
    acknowledged_at: float | None = None
    resolved_at: float | None = None
    resolved_by: str | None = None
    rating: int | None = None
    rated_at: float | None = None

    def overdue(self, now: float) -> bool:
        """True when the ticket missed its acknowledge or resolve deadline."""
        if self.status == Status.OPEN and self.ack_due_at is not None and now >= self.ack_due_at:
            return True
        return self.status.active and self.resolve_due_at is not None and now >= self.resolve_due_at


@dataclass(frozen=True, slots=True)
class TicketEvent:
    """One line of the audit trail. `actor` is an account username, or `system`."""

    id: int
    ticket_id: int
    at: float
    actor: str
    action: str
    from_status: Status | None
    to_status: Status | None
    note: str | None
    data: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class TicketDetail:
    ticket: Ticket
    timeline: list[TicketEvent]


@dataclass(frozen=True, slots=True)
class TicketPage:
    items: list[Ticket]
    next_cursor: str | None


@dataclass(frozen=True, slots=True)
class Account:
    """A login. `role` and `scope_id` decide what it sees (see `alerts.scope`); `person_id` links it to the
    roster so tickets assigned to that person show as theirs."""

    id: int
    username: str
    role: Role
    scope_id: str
    display_name: str
    person_id: str | None = None
    disabled: bool = False


SYSTEM_ACTOR = "system"
