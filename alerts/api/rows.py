"""Tickets as the list (`GET /tickets`) and the live stream send them, encoded with msgspec.

A board's page holds up to 500 tickets and an alert storm sends every change to every board, so the ticket's
shape is built here as a `TicketRow` struct, made from `TicketOut`'s fields, and encoded in one pass, at about
a third of the cost of validating and dumping pydantic's `TicketOut`. `TicketOut` stays the documented schema
(OpenAPI, docs/api.md) and the body of the routes that send one ticket; the JSON is the same field for field
(`tests/alerts/test_rows.py`)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import msgspec

from alerts.api.models import TicketOut
from alerts.api.views import display_text, registry_items, watched
from alerts.lifecycle import Action
from alerts.model import Ticket
from alerts.scope import Hierarchy

__all__ = ["Display", "TicketRow", "encode_page", "encode_row"]


def row_struct(model: type[TicketOut]) -> type[msgspec.Struct]:
    """A struct with `model`'s fields in its order and their types; `actions` may also be left unset (left out:
    the stream adds each role's own). Every field is required, though `TicketOut` gives `titles` a default:
    `Display.row` fills them all, so one it does not fill fails at once instead of taking a default."""
    fields: list[tuple[str, Any]] = [
        (name, Sequence[Action] | msgspec.UnsetType if name == "actions" else info.annotation)
        for name, info in model.model_fields.items()
    ]
    return msgspec.defstruct(model.__name__.removesuffix("Out") + "Row", fields, module=__name__)


TicketRow = row_struct(TicketOut)
"""`alerts.api.models.TicketOut`, field for field and in its order, made from it: a field added there is one
here, and `Display.row` must fill it."""


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
    ) -> msgspec.Struct:
        """A `TicketRow`: `t` as `alerts.api.views.ticket_out` shapes it at `now`; `people` names the assignee.
        Positional, in `TicketOut`'s order: keyword arguments cost msgspec a few µs more a row."""
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
    items: list[msgspec.Struct]
    next_cursor: str | None


def encode_page(rows: list[msgspec.Struct], next_cursor: str | None) -> bytes:
    """`TicketPageOut`'s JSON."""
    return _encoder.encode(_Page(rows, next_cursor))


def encode_row(row: msgspec.Struct) -> bytes:
    return _encoder.encode(row)
