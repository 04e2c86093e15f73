"""Value types handed out by the store and the service: tickets, their audit events, accounts.

Frozen dataclasses, so the API, the board stream and the notifier can share them without copying."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from alerts.lifecycle import Status
from core.i18n import title_in
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


class MemberState(StrEnum):
    """Where one condition of a ticket stands."""

    VERIFYING = "verifying"  # an alarm in its verification wait (`pending`): shown, nobody notified yet
    FIRING = "firing"
    CLEARED = "cleared"  # its rule's clear came
    CANCELLED = "cancelled"  # withdrawn during its verification wait (the resident silenced the alarm)

    @property
    def live(self) -> bool:
        """Still wrong (or maybe wrong): a ticket with a live condition is not cleared."""
        return self in (MemberState.VERIFYING, MemberState.FIRING)


@dataclass(frozen=True, slots=True)
class TicketMember:
    """One condition (an alert's dedup key) a ticket holds: several when rules share a group."""

    dedup_key: str
    rule_id: str
    severity: Severity
    state: MemberState
    title: str
    details: dict[str, Any]
    count: int
    first_seen: float
    last_seen: float
    verify_until: float | None
    joined_at: float
    titles: dict[str, str] = field(default_factory=dict)  # the rule's title per language; empty: `title`

    def title_in(self, lang: str) -> str:
        return title_in(self.title, self.titles, lang)


@dataclass(frozen=True, slots=True)
class Ticket:
    """One dispatch ticket. `microgrid_id` owns it; `count` is how often its conditions fired while it was
    active; `first_seen`/`last_seen` are event times of the alerts, `created_at`/`updated_at` service times.
    `dedup_key` is the ticket's key: the alerts' group (`smoke:SD1`) or the dedup key of its only rule.

    `verifying`: the ticket holds only alarms in their verification wait (no deadlines, nobody notified);
    `verify_until` is when the earliest running wait ends (event time). `overdue_since` is the first missed
    deadline not yet met (`overdue_reason` `ack` or `resolve`): escalation moves the deadlines forward, the
    ticket stays overdue until a person meets them."""

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
    verifying: bool = False
    verify_until: float | None = None
    overdue_since: float | None = None
    overdue_reason: str | None = None
    nudge_at: float | None = None  # the escalation policy's next reminder or acknowledge timeout
    titles: dict[str, str] = field(default_factory=dict)  # the rule's title per language; empty: `title`

    def title_in(self, lang: str) -> str:
        """The title in `lang`: the rule's own for that language, else `title` (in `lang` alone when it is an
        older "中文 English" one)."""
        return title_in(self.title, self.titles, lang)

    def overdue_at(self, now: float) -> float | None:
        """Since when the active ticket is overdue (None: it is not): the stored first missed deadline, or the
        deadline that passed before the escalation loop got to it."""
        if not self.status.active:
            return None
        if self.overdue_since is not None:
            return self.overdue_since
        if self.status == Status.OPEN and self.ack_due_at is not None and now >= self.ack_due_at:
            return self.ack_due_at
        if self.resolve_due_at is not None and now >= self.resolve_due_at:
            return self.resolve_due_at
        return None

    def overdue(self, now: float) -> bool:
        """True when the ticket missed its acknowledge or resolve deadline and nobody has met it since."""
        return self.overdue_at(now) is not None


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
    members: list[TicketMember] = field(default_factory=list)


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
