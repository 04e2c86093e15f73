"""Tickets as the list (`GET /tickets`) and the live stream send them, encoded with msgspec.

A board's page holds up to 500 tickets and an alert storm sends every change to every board, so the ticket's
shape is built here as a `TicketRow` struct and encoded in one pass, at about a third of the cost of validating
and dumping pydantic's `TicketOut`. `TicketOut` stays the documented schema (OpenAPI, docs/api.md) and the body
of the routes that send one ticket; the JSON is the same field for field (`tests/alerts/test_rows.py`)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import msgspec

from alerts.api.views import display_text, registry_items, watched
from alerts.lifecycle import Action, Status
from alerts.model import Ticket
from alerts.scope import Hierarchy
from rules.alert import Severity

__all__ = ["Display", "TicketRow", "encode_page", "encode_row"]


class TicketRow(msgspec.Struct):
    """`alerts.api.models.TicketOut`, field for field and in its order. `actions` left unset is left out (the
    stream adds each role's own)."""

    id: int
    dedup_key: str
    rule_id: str
    severity: Severity
    status: Status
    title: str
    titles: dict[str, str]
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
    acknowledged_at: float | None
    resolved_at: float | None
    resolved_by: str | None
    rating: int | None
    rated_at: float | None
    overdue: bool
    overdue_since: float | None
    overdue_reason: str | None
    verifying: bool
    verify_until: float | None
    microgrid_name: str | None
    building_name: str | None
    household_unit: str | None
    lone_elderly: bool
    device_label: str | None
    actions: Sequence[Action] | msgspec.UnsetType = msgspec.UNSET
    assignee_name: str | None = None


class Display:
    """The registry's display fields of tickets (`alerts.api.views.lookup`, `lone_elderly`), its collections
    looked up once for many tickets."""

    def __init__(self, hierarchy: Hierarchy) -> None:
        self.microgrids = registry_items(hierarchy, "microgrids")
        self.buildings = registry_items(hierarchy, "buildings")
        self.households = registry_items(hierarchy, "households")
        self.devices = registry_items(hierarchy, "devices")

    def row(
        self, t: Ticket, now: float, people: Mapping[str, str], actions: Sequence[Action] | msgspec.UnsetType
    ) -> TicketRow:
        """`t` as `alerts.api.views.ticket_out` shapes it at `now`; `people` names the assignee."""
        h = self.households.get(t.household_id) if t.household_id is not None else None
        since = t.overdue_at(now)
        return TicketRow(
            t.id,
            t.dedup_key,
            t.rule_id,
            t.severity,
            t.status,
            t.title,
            t.titles,
            t.details,
            t.microgrid_id,
            t.device_id,
            t.household_id,
            t.building_id,
            t.community_id,
            t.assignee_id,
            t.escalation_level,
            t.count,
            t.first_seen,
            t.last_seen,
            t.ack_due_at,
            t.resolve_due_at,
            t.cleared,
            t.cleared_at,
            t.created_at,
            t.updated_at,
            t.acknowledged_at,
            t.resolved_at,
            t.resolved_by,
            t.rating,
            t.rated_at,
            since is not None,
            since,
            t.overdue_reason,
            t.verifying,
            t.verify_until,
            display_text(self.microgrids.get(t.microgrid_id), "name"),
            display_text(self.buildings.get(t.building_id), "name") if t.building_id is not None else None,
            display_text(h, "unit"),
            watched(h),
            display_text(self.devices.get(t.device_id), "label") if t.device_id is not None else None,
            actions,
            people.get(t.assignee_id or ""),
        )


_encoder = msgspec.json.Encoder()


class _Page(msgspec.Struct):
    items: list[TicketRow]
    next_cursor: str | None


def encode_page(rows: list[TicketRow], next_cursor: str | None) -> bytes:
    """`TicketPageOut`'s JSON."""
    return _encoder.encode(_Page(rows, next_cursor))


def encode_row(row: TicketRow) -> bytes:
    return _encoder.encode(row)
