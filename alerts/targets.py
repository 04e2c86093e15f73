"""Who a policy step's targets are for one ticket, as contact cards. Pure, over the registry view.

A card is what a notification carries about a recipient: `id`, `name`, `phone`, `role`, and `audience` (`person`
for people of the registry, `family` for a household's family member, whose id is `<household_id>#<name>`)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from alerts.dispatch import contact_card, escalation_targets, person_card
from alerts.notices import Audience
from alerts.policies import Policy, Target
from alerts.scope import Hierarchy

Card = dict[str, str]


class Subject(Protocol):
    """What targets depend on: a `Ticket`, or a ticket about to be opened (`Opening`)."""

    @property
    def assignee_id(self) -> str | None: ...
    @property
    def microgrid_id(self) -> str: ...
    @property
    def household_id(self) -> str | None: ...


@dataclass(frozen=True, slots=True)
class Opening:
    assignee_id: str | None
    microgrid_id: str
    household_id: str | None


#: The escalation level of `alerts.dispatch` each target above the micro-grid is.
_LEVEL = {Target.GRID: 2, Target.COMMUNITY_DUTY: 3, Target.STREET_DUTY: 4}


def target_cards(hierarchy: Hierarchy, ticket: Subject, target: Target) -> list[Card]:
    """The people (or family members) `target` means for `ticket` now."""
    if target is Target.WORKER_ON_DUTY:
        if not ticket.assignee_id or ticket.assignee_id.startswith("account:"):
            return []
        return [_person(c) for c in person_card(hierarchy, ticket.assignee_id)]
    if target is Target.MICROGRID_LEADER:
        return [_person(contact_card(p)) for p in escalation_targets(hierarchy, ticket.microgrid_id, 1)]
    if target is Target.FAMILY:
        return family_cards(hierarchy, ticket.household_id)
    return [_person(contact_card(p)) for p in escalation_targets(hierarchy, ticket.microgrid_id, _LEVEL[target])]


def step_cards(hierarchy: Hierarchy, ticket: Subject, policy: Policy, step: int) -> list[Card]:
    """Everyone step `step` of `policy` tells about `ticket`, each once, in the order of its targets."""
    out: list[Card] = []
    seen: set[tuple[str, str]] = set()
    for target in policy.targets(step):
        for card in target_cards(hierarchy, ticket, target):
            key = (card["audience"], card["id"])
            if key not in seen:
                seen.add(key)
                out.append(card)
    return out


def first_step_with_people(hierarchy: Hierarchy, ticket: Subject, policy: Policy, start: int = 0) -> int | None:
    """The first step from `start` on that tells anyone, or None."""
    for step in range(start, len(policy.steps)):
        if step_cards(hierarchy, ticket, policy, step):
            return step
    return None


def opening_step(hierarchy: Hierarchy, ticket: Subject, policy: Policy) -> int:
    """The step a new ticket is announced to: the first, unless it asks only the family and the household has
    none who consented (then the next such, and so on). A step of people that is empty is not skipped: the
    ticket waits there for its deadline, as the ladder always did."""
    for step in range(len(policy.steps)):
        if set(policy.targets(step)) != {Target.FAMILY} or step_cards(hierarchy, ticket, policy, step):
            return step
    return 0


def family_cards(hierarchy: Hierarchy, household_id: str | None) -> list[Card]:
    """The household's family members who consented to be contacted (a registry without contact points: none)."""
    family_of = getattr(hierarchy, "family_of", None)
    if household_id is None or not callable(family_of):
        return []
    out = []
    for owner, points in family_of(household_id):
        name = points[0].name if points else str(owner).partition("#")[2]
        phone = next((k.address for k in points if k.channel.value in ("sms", "voice")), "")
        out.append(
            {"id": str(owner), "name": name, "phone": phone, "role": "family", "audience": Audience.FAMILY.value}
        )
    return out


def audience_of(card: Mapping[str, Any]) -> Audience:
    return Audience.FAMILY if card.get("audience") == Audience.FAMILY.value else Audience.PERSON


def ids(cards: Iterable[Mapping[str, Any]]) -> list[str]:
    return [str(c["id"]) for c in cards]


def _person(card: Mapping[str, str]) -> Card:
    return {**card, "audience": Audience.PERSON.value}
