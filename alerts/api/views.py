"""Shaping tickets, accounts and households into response models, with display names from the registry (the
board shows 桂花苑1号楼 1-101 rather than ids). Pure: reads the registry handed in, no I/O."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, fields
from typing import Any

from alerts.api.models import AccountOut, ContactOut, EventOut, HouseholdOut, MemberOut, PersonOut, TicketOut
from alerts.lifecycle import available_actions
from alerts.model import Account, Ticket, TicketEvent, TicketMember
from alerts.scope import Hierarchy, as_people
from devices.model import Household, Person, Role

TICKET_FIELDS = fields(Ticket)
EVENT_FIELDS = fields(TicketEvent)


def account_out(a: Account) -> AccountOut:
    return AccountOut(
        id=a.id,
        username=a.username,
        role=a.role,
        scope_id=a.scope_id,
        display_name=a.display_name,
        person_id=a.person_id,
    )


def person_out(p: Person) -> PersonOut:
    return PersonOut(id=p.id, name=p.name, role=p.role, phone=p.phone)


def microgrid_people(hierarchy: Hierarchy, microgrid_id: str) -> list[Person]:
    """Workers and leaders of a micro-grid: the candidates for (re)assignment."""
    out: list[Person] = []
    for role in (Role.GRID_WORKER, Role.MICROGRID_LEADER):
        try:
            out.extend(p for p in as_people(hierarchy.people_at(microgrid_id, role)) if p not in out)
        except (KeyError, LookupError, ValueError):
            continue
    return out


def people_names(hierarchy: Hierarchy, microgrid_id: str) -> dict[str, str]:
    return {p.id: p.name for p in microgrid_people(hierarchy, microgrid_id)}


def registry_items(hierarchy: Hierarchy, collection: str) -> Mapping[str, Any]:
    """A collection of the registry (`microgrids`/`buildings`/`households`/`devices`); empty when the hierarchy
    has none (a test's stand-in)."""
    items = getattr(hierarchy, collection, None)
    return items if isinstance(items, Mapping) else {}


def display_text(item: object, attr: str) -> str | None:
    """A display field of a registry item, when it has a non-empty one."""
    value = getattr(item, attr, None)
    return value if isinstance(value, str) and value else None


def watched(household: object) -> bool:
    """The household is watched by the care rules (a lone elderly resident): the list row says so."""
    return isinstance(household, Household) and household.care.watched


def lookup(hierarchy: Hierarchy, collection: str, item_id: str | None, attr: str) -> str | None:
    """A display field of a registry item, when the registry has one."""
    if item_id is None:
        return None
    return display_text(registry_items(hierarchy, collection).get(item_id), attr)


_NODES = ("streets", "communities", "grids", "microgrids", "buildings")


def node_name(hierarchy: Hierarchy, node_id: str | None) -> str | None:
    """The name of a node of the grid (a street, community, grid, micro-grid or building), when it has one: what
    a person reads instead of the id of a scope."""
    return next((n for c in _NODES if (n := lookup(hierarchy, c, node_id, "name")) is not None), None)


def lone_elderly(hierarchy: Hierarchy, household_id: str | None) -> bool:
    """`watched` of the household `household_id`."""
    return household_id is not None and watched(registry_items(hierarchy, "households").get(household_id))


def household_info(hierarchy: Hierarchy, household_id: str | None) -> HouseholdOut | None:
    """What a worker needs before a home visit: the unit, whether a lone elderly resident lives there, and
    (only when the household consented to care monitoring) the emergency contacts to call first."""
    households = getattr(hierarchy, "households", None)
    if household_id is None or not isinstance(households, Mapping):
        return None
    h = households.get(household_id)
    if not isinstance(h, Household):
        return None
    care = h.care
    return HouseholdOut(
        id=h.id,
        unit=h.unit,
        floor=h.floor,
        building_name=lookup(hierarchy, "buildings", h.building_id, "name"),
        watched=care.watched,
        contacts=[ContactOut(name=c.name, phone=c.phone, relation=c.relation) for c in care.emergency_contacts]
        if care.consent
        else [],
    )


def ticket_out(hierarchy: Hierarchy, viewer: Account, ticket: Ticket, now: float, people: dict[str, str]) -> TicketOut:
    """`ticket` as `viewer` sees it at `now`; `people` names the assignee (`people_names`)."""
    fields = {f.name: getattr(ticket, f.name) for f in TICKET_FIELDS}  # shallow: `asdict` deep-copies (storms)
    fields["overdue_since"] = ticket.overdue_at(now)  # also between a deadline and the escalation loop's turn
    return TicketOut(
        **fields,
        overdue=ticket.overdue(now),
        microgrid_name=lookup(hierarchy, "microgrids", ticket.microgrid_id, "name"),
        building_name=lookup(hierarchy, "buildings", ticket.building_id, "name"),
        household_unit=lookup(hierarchy, "households", ticket.household_id, "unit"),
        lone_elderly=lone_elderly(hierarchy, ticket.household_id),
        device_label=lookup(hierarchy, "devices", ticket.device_id, "label"),
        actions=available_actions(ticket.status, viewer.role),
        assignee_name=people.get(ticket.assignee_id or ""),
    )


def event_out(e: TicketEvent, actor_name: str | None = None) -> EventOut:
    return EventOut(**{f.name: getattr(e, f.name) for f in EVENT_FIELDS}, actor_name=actor_name)


def member_out(m: TicketMember) -> MemberOut:
    fields = asdict(m)
    del fields["details"]
    return MemberOut(**fields)
