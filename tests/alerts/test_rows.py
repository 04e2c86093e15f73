"""The list's and the stream's encoding of a ticket (`alerts.api.rows`) says exactly what `TicketOut`, the
documented schema, says: same fields, same order, same values, for tickets of every shape."""

from __future__ import annotations

import json
from dataclasses import replace

import msgspec
import pytest

from alerts.api.models import TicketOut
from alerts.api.rows import Display, TicketRow, encode_page, encode_row, row_struct
from alerts.api.views import people_names, ticket_out
from alerts.lifecycle import Status, available_actions
from alerts.model import Account, Ticket
from devices.model import Role
from devices.sample import sample_street
from rules.alert import Severity

REG = sample_street(start=None)
NOW = 1_000_000.0


def _tickets() -> list[Ticket]:
    watched = next(h for h in REG.households.values() if h.care.watched)
    unwatched = next(h for h in REG.households.values() if not h.care.watched)
    device = next(iter(REG.devices.values()))
    mg = REG.buildings[watched.building_id].microgrid_id
    worker = REG.people_at(mg, Role.GRID_WORKER)[0]
    base = Ticket(
        id=7,
        dedup_key="no_water:" + watched.id,
        rule_id="no_water",
        severity=Severity.CRITICAL,
        status=Status.OPEN,
        title="长时间无用水 No water use",
        details={"hours": 30.5, "note": "独居老人", "nested": {"a": [1, 2.5, None]}},
        microgrid_id=mg,
        device_id=None,
        household_id=watched.id,
        building_id=watched.building_id,
        community_id=None,
        assignee_id=worker.id,
        escalation_level=1,
        count=3,
        first_seen=NOW - 3_600.25,
        last_seen=NOW - 60.0,
        ack_due_at=NOW - 1.0,  # overdue by the deadline, before the escalation loop's turn
        resolve_due_at=NOW + 7_200.0,
        cleared=False,
        cleared_at=None,
        created_at=NOW - 3_600.0,
        updated_at=NOW - 60.0,
        titles={"zh-CN": "长时间无用水", "en": "No water use"},
    )
    return [
        base,
        replace(
            base,
            id=8,
            status=Status.RESOLVED,
            household_id=unwatched.id,
            building_id=unwatched.building_id,
            device_id=device.id,
            assignee_id="nobody-known",
            cleared=True,
            cleared_at=NOW - 30.0,
            resolved_at=NOW - 10.0,
            resolved_by="w1",
            rating=5,
            rated_at=NOW - 5.0,
            titles={},
            details={},
        ),
        replace(
            base,
            id=9,
            status=Status.ACKNOWLEDGED,
            household_id=None,
            building_id=None,
            assignee_id=None,
            verifying=True,
            verify_until=NOW + 30.0,
            overdue_since=NOW - 500.0,
            overdue_reason="resolve",
            microgrid_id="M-unknown",
        ),
    ]


def test_the_row_has_ticket_out_s_fields_in_its_order() -> None:
    assert [f.name for f in msgspec.structs.fields(TicketRow)] == list(TicketOut.model_fields)


def test_a_field_added_to_ticket_out_is_in_the_row_and_must_be_filled() -> None:
    class Wider(TicketOut):
        ward: str | None

    row = row_struct(Wider)
    assert [f.name for f in msgspec.structs.fields(row)] == [*TicketOut.model_fields, "ward"]
    assert all(f.required for f in msgspec.structs.fields(row))  # no default quietly stands in for it
    filled = msgspec.structs.astuple(Display(REG).row(_tickets()[0], NOW, {}, []))
    with pytest.raises(TypeError, match="ward"):
        row(*filled)
    assert msgspec.json.decode(msgspec.json.encode(row(*filled, "W1")))["ward"] == "W1"


def test_a_row_encodes_as_ticket_out_dumps_for_every_role() -> None:
    display = Display(REG)
    for role in (Role.GRID_WORKER, Role.MICROGRID_LEADER, Role.STREET_DUTY):
        viewer = Account(1, "v", role, "S1", "v", None)
        for t in _tickets():
            people = people_names(REG, t.microgrid_id)
            want = ticket_out(REG, viewer, t, NOW, people).model_dump_json()
            got = encode_row(display.row(t, NOW, people, available_actions(t.status, role))).decode()
            assert json.loads(got) == json.loads(want)
            assert list(json.loads(got)) == list(json.loads(want))  # same order of keys
            unset = json.loads(encode_row(display.row(t, NOW, people, msgspec.UNSET)))
            assert "actions" not in unset
            assert unset == {k: v for k, v in json.loads(want).items() if k != "actions"}


def test_a_page_encodes_as_the_page_model() -> None:
    display = Display(REG)
    tickets = _tickets()
    rows = [display.row(t, NOW, people_names(REG, t.microgrid_id), []) for t in tickets]
    page = json.loads(encode_page(rows, "cursor-1"))
    assert list(page) == ["items", "next_cursor"]
    assert page["next_cursor"] == "cursor-1"
    assert [r["id"] for r in page["items"]] == [t.id for t in tickets]
