"""Who gets a ticket, and who hears about it when it escalates. Pure functions over the registry view.

Dispatch (派单): the grid worker on duty in the owning micro-grid at the time of the alert; when nobody is on
duty, the micro-grid leader; when the micro-grid has no leader either, nobody (the ticket still shows on the
board of everyone whose scope covers it, and escalation starts from level 1).

Escalation levels: 0 the assignee, 1 the micro-grid leader(s), 2 the people of the grid, 3 community duty,
4 street duty (levels 2-4 walk `chain_above`). Levels without anyone are skipped."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

from alerts.scope import Hierarchy, as_node_ids, as_people
from devices.model import Person, Role

#: Roles looked for at each node above the micro-grid, in order of preference.
_ROLES_ABOVE: tuple[Role, ...] = (Role.COMMUNITY_DUTY, Role.STREET_DUTY, Role.MICROGRID_LEADER, Role.GRID_WORKER)


@dataclass(frozen=True, slots=True)
class Assignment:
    person_id: str | None
    reason: str  # "on_duty" | "leader" | "unassigned"


def choose_assignee(hierarchy: Hierarchy, microgrid_id: str, when: float) -> Assignment:
    at = datetime.fromtimestamp(when, UTC)
    try:
        on_duty = as_people(hierarchy.on_duty(microgrid_id, at))
    except (KeyError, LookupError, ValueError):
        on_duty = []
    workers = [p for p in on_duty if p.role == Role.GRID_WORKER] or on_duty
    if workers:
        return Assignment(workers[0].id, "on_duty")
    leaders = _people_at(hierarchy, microgrid_id, Role.MICROGRID_LEADER)
    if leaders:
        return Assignment(leaders[0].id, "leader")
    return Assignment(None, "unassigned")


def escalation_targets(hierarchy: Hierarchy, microgrid_id: str, level: int) -> list[Person]:
    """The people to alert at escalation `level` (≥ 1) of a ticket owned by `microgrid_id`."""
    if level <= 0:
        return []
    if level == 1:
        return _people_at(hierarchy, microgrid_id, Role.MICROGRID_LEADER)
    try:
        chain = as_node_ids(hierarchy.chain_above(microgrid_id))
    except (KeyError, LookupError, ValueError):
        return []
    if level - 2 >= len(chain):
        return []
    node = chain[level - 2]
    people: list[Person] = []
    for role in _ROLES_ABOVE:
        people.extend(p for p in _people_at(hierarchy, node, role) if p not in people)
    return people


def next_level_with_people(
    hierarchy: Hierarchy, microgrid_id: str, level: int, max_level: int
) -> tuple[int, list[Person]] | None:
    """The first level above `level` (up to `max_level`) that has someone to alert, or None."""
    for candidate in range(level + 1, max_level + 1):
        people = escalation_targets(hierarchy, microgrid_id, candidate)
        if people:
            return candidate, people
    return None


def answers_for(hierarchy: Hierarchy, person_id: str, microgrid_id: str) -> bool:
    """True when the person works in the micro-grid or at a node above it. A registry without a `people`
    index cannot say, so any id is accepted there."""
    people = getattr(hierarchy, "people", None)
    if not isinstance(people, Mapping):
        return True
    person = people.get(person_id)
    if not isinstance(person, Person):
        return False
    if person.scope_id == microgrid_id:
        return True
    try:
        return bool(hierarchy.is_within(microgrid_id, person.scope_id))
    except (KeyError, LookupError, ValueError):
        return False


def contact_card(p: Person) -> dict[str, str]:
    """What a notification gateway needs to reach a person."""
    return {"id": p.id, "name": p.name, "phone": p.phone, "role": p.role.value}


def person_card(hierarchy: Hierarchy, person_id: str | None) -> tuple[dict[str, str], ...]:
    """The contact card of `person_id` when the registry knows the person (else just the id)."""
    if person_id is None:
        return ()
    people = getattr(hierarchy, "people", None)
    person = people.get(person_id) if isinstance(people, Mapping) else None
    if isinstance(person, Person):
        return (contact_card(person),)
    return ({"id": person_id, "name": "", "phone": "", "role": ""},)


def _people_at(hierarchy: Hierarchy, node_id: str, role: Role) -> list[Person]:
    try:
        return as_people(hierarchy.people_at(node_id, role))
    except (KeyError, LookupError, ValueError):
        return []
