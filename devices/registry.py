"""`Registry`: the grid, its people and devices in memory, with every look-up precomputed.

The registry is immutable: the ingester looks up a placement for every message and the rule engine walks the
hierarchy for every alert, so all indexes are built once in `__init__` and never invalidated. A change (a
household's care profile, a new device) builds a new `Registry` with `with_changes`; swapping the reference is
atomic, so readers never see half an update.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from types import MappingProxyType
from typing import Any, Protocol, TypeVar

from devices.errors import DevicesError, RegistryError
from devices.integrity import Collections, Locate, check, locate_items
from devices.model import (
    Building,
    Community,
    ContactPoint,
    Device,
    DutyShift,
    Grid,
    Household,
    Level,
    MicroGrid,
    Person,
    Role,
    Street,
)

__all__ = ["Placement", "Registry"]


@dataclass(frozen=True, slots=True)
class Placement:
    """Where a device sits: everything the ingester stamps on a `Reading`."""

    community_id: str
    grid_id: str
    microgrid_id: str
    building_id: str
    household_id: str | None


class _HasId(Protocol):
    @property
    def id(self) -> str: ...


_T = TypeVar("_T", bound=_HasId)
Chain = tuple[tuple[Level, str], ...]

# on_duty order: the people who go out first come first
_DUTY_ORDER = {Role.GRID_WORKER: 0, Role.MICROGRID_LEADER: 1}


def _by_id(items: Sequence[_T]) -> Mapping[str, _T]:
    return MappingProxyType({x.id: x for x in items})


def _upsert(old: Iterable[_T], new: Iterable[_T] | None, remove: frozenset[str]) -> list[_T]:
    """`old` with items of `new` replacing those of the same id (in place) or appended, minus `remove`."""
    replacements = {x.id: x for x in new} if new is not None else {}
    out: list[_T] = []
    for x in old:
        if x.id in remove:
            continue
        out.append(replacements.pop(x.id, x))
    out.extend(x for x in replacements.values() if x.id not in remove)
    return out


class Registry:
    """The grid hierarchy (street → community → grid → micro-grid → building → household), the people who work
    it, the duty roster and the devices. Construction checks the data and raises `RegistryError` listing every
    problem; afterwards every look-up is a dict access or a precomputed list."""

    __slots__ = (
        "_chain",
        "_chain_ids",
        "_collections",
        "_contacts",
        "_devices_under",
        "_households_under",
        "_level",
        "_people_at",
        "_placement",
        "_shifts",
        "buildings",
        "communities",
        "contacts",
        "devices",
        "grids",
        "households",
        "microgrids",
        "people",
        "roster",
        "streets",
    )

    streets: Mapping[str, Street]
    communities: Mapping[str, Community]
    grids: Mapping[str, Grid]
    microgrids: Mapping[str, MicroGrid]
    buildings: Mapping[str, Building]
    households: Mapping[str, Household]
    people: Mapping[str, Person]
    devices: Mapping[str, Device]
    roster: tuple[DutyShift, ...]
    contacts: tuple[ContactPoint, ...]

    def __init__(
        self,
        *,
        streets: Iterable[Street] = (),
        communities: Iterable[Community] = (),
        grids: Iterable[Grid] = (),
        microgrids: Iterable[MicroGrid] = (),
        buildings: Iterable[Building] = (),
        households: Iterable[Household] = (),
        people: Iterable[Person] = (),
        roster: Iterable[DutyShift] = (),
        devices: Iterable[Device] = (),
        contacts: Iterable[ContactPoint] = (),
        locate: Locate = locate_items,
    ) -> None:
        c = Collections(
            streets=tuple(streets),
            communities=tuple(communities),
            grids=tuple(grids),
            microgrids=tuple(microgrids),
            buildings=tuple(buildings),
            households=tuple(households),
            people=tuple(people),
            roster=tuple(roster),
            devices=tuple(devices),
            contacts=tuple(contacts),
        )
        problems = check(c, locate)
        if problems:
            raise RegistryError(problems)
        self._collections = c
        self.streets = _by_id(c.streets)
        self.communities = _by_id(c.communities)
        self.grids = _by_id(c.grids)
        self.microgrids = _by_id(c.microgrids)
        self.buildings = _by_id(c.buildings)
        self.households = _by_id(c.households)
        self.people = _by_id(c.people)
        self.devices = _by_id(c.devices)
        self.roster = tuple(c.roster)
        self.contacts = tuple(c.contacts)
        self._build_indexes(c)

    def _build_indexes(self, c: Collections) -> None:
        level: dict[str, Level] = {}
        chain: dict[str, Chain] = {}
        for s in c.streets:
            level[s.id] = Level.STREET
            chain[s.id] = ((Level.STREET, s.id),)
        # parents are checked to exist, and each level only refers to the one above, so one pass per level works
        for co in c.communities:
            level[co.id] = Level.COMMUNITY
            chain[co.id] = ((Level.COMMUNITY, co.id), *chain[co.street_id])
        for g in c.grids:
            level[g.id] = Level.GRID
            chain[g.id] = ((Level.GRID, g.id), *chain[g.community_id])
        for m in c.microgrids:
            level[m.id] = Level.MICROGRID
            chain[m.id] = ((Level.MICROGRID, m.id), *chain[m.grid_id])
        for b in c.buildings:
            level[b.id] = Level.BUILDING
            chain[b.id] = ((Level.BUILDING, b.id), *chain[b.microgrid_id])
        for h in c.households:
            level[h.id] = Level.HOUSEHOLD
            chain[h.id] = ((Level.HOUSEHOLD, h.id), *chain[h.building_id])

        households_under: dict[str, list[Household]] = {}
        for h in c.households:
            for _, node in chain[h.id]:
                households_under.setdefault(node, []).append(h)

        placement: dict[str, Placement] = {}
        devices_under: dict[str, list[Device]] = {}
        for d in c.devices:
            home = d.household_id if d.household_id is not None else d.building_id
            up = chain[home]
            # chain from a building: (building, microgrid, grid, community, street); households add one in front
            off = 1 if d.household_id is not None else 0
            placement[d.id] = Placement(
                community_id=up[off + 3][1],
                grid_id=up[off + 2][1],
                microgrid_id=up[off + 1][1],
                building_id=d.building_id,
                household_id=d.household_id,
            )
            devices_under[d.id] = [d]
            for _, node in up:
                devices_under.setdefault(node, []).append(d)

        people_at: dict[str, list[Person]] = {}
        for p in c.people:
            people_at.setdefault(p.scope_id, []).append(p)

        shifts: dict[str, list[DutyShift]] = {}
        for sh in sorted(c.roster, key=lambda x: (x.start, x.end, x.person_id)):
            shifts.setdefault(sh.microgrid_id, []).append(sh)

        self._level = level
        self._chain = chain
        self._chain_ids = {node: tuple(nid for _, nid in ch) for node, ch in chain.items()}
        self._placement = placement
        self._devices_under = devices_under
        self._households_under = households_under
        self._people_at = people_at
        self._shifts = shifts
        contacts: dict[str, list[ContactPoint]] = {}
        for k in sorted(c.contacts, key=lambda x: x.priority):  # stable: equal priorities keep file order
            contacts.setdefault(k.owner, []).append(k)
        self._contacts = {owner: tuple(ks) for owner, ks in contacts.items()}

    # --- look-ups ---------------------------------------------------------------------------------------------

    def device(self, device_id: str) -> Device | None:
        return self.devices.get(device_id)

    def placement(self, device_id: str) -> Placement | None:
        """Where `device_id` sits, or None for an unknown device. One dict access: the ingester's hot path."""
        return self._placement.get(device_id)

    def level_of(self, node_id: str) -> Level | None:
        """The level of a node of the grid; None for devices, people and unknown ids."""
        return self._level.get(node_id)

    def _chain_of(self, node_id: str) -> Chain:
        ch = self._chain.get(node_id)
        if ch is not None:
            return ch
        d = self.devices.get(node_id)
        if d is None:
            return ()
        return self._chain[d.household_id if d.household_id is not None else d.building_id]

    def ancestors(self, node_id: str) -> list[tuple[Level, str]]:
        """The node itself first, then each level up to the street. For a device: its household (or building)
        first. Empty for unknown ids."""
        return list(self._chain_of(node_id))

    def chain_above(self, microgrid_id: str) -> list[tuple[Level, str]]:
        """The levels above a node, nearest first: for a micro-grid [(GRID,id),(COMMUNITY,id),(STREET,id)].
        This is the escalation path of a ticket owned by the micro-grid."""
        return list(self._chain.get(microgrid_id, ())[1:])

    def _at(self, node_id: str, lvl: Level) -> str | None:
        for level, nid in self._chain_of(node_id):
            if level is lvl:
                return nid
        return None

    def microgrid_of(self, node_id: str) -> str | None:
        """The micro-grid of a micro-grid, building, household or device id; None above that level."""
        p = self._placement.get(node_id)
        return p.microgrid_id if p is not None else self._at(node_id, Level.MICROGRID)

    def community_of(self, node_id: str) -> str | None:
        """The community of any node at or below community level, or of a device."""
        p = self._placement.get(node_id)
        return p.community_id if p is not None else self._at(node_id, Level.COMMUNITY)

    def is_within(self, node_id: str, scope_id: str) -> bool:
        """True when `node_id` (a node or a device) equals `scope_id` or lies under it."""
        if node_id == scope_id:
            return node_id in self._level or node_id in self.devices
        ids = self._chain_ids.get(node_id)
        if ids is None:
            d = self.devices.get(node_id)
            if d is None:
                return False
            ids = self._chain_ids[d.household_id if d.household_id is not None else d.building_id]
        return scope_id in ids

    def devices_under(self, node_id: str) -> list[Device]:
        """Devices at or below a node, in registry order; for a device id, the device itself."""
        return list(self._devices_under.get(node_id, ()))

    def households_under(self, node_id: str) -> list[Household]:
        return list(self._households_under.get(node_id, ()))

    def devices_of_household(self, household_id: str) -> list[Device]:
        if household_id not in self.households:
            return []
        return list(self._devices_under.get(household_id, ()))

    def household_of(self, device_id: str) -> Household | None:
        d = self.devices.get(device_id)
        if d is None or d.household_id is None:
            return None
        return self.households[d.household_id]

    def people_at(self, scope_id: str, role: Role | None = None) -> list[Person]:
        """People whose scope is exactly `scope_id` (the micro-grid's leader and workers, a community's duty
        officers), optionally of one role."""
        people = self._people_at.get(scope_id, ())
        return [p for p in people if role is None or p.role is role]

    def contacts_of(self, owner: str) -> tuple[ContactPoint, ...]:
        """The contact points of a person id, or of a family member (`<household_id>#<name>`), first priority
        first."""
        return self._contacts.get(owner, ())

    def family_of(self, household_id: str) -> list[tuple[str, tuple[ContactPoint, ...]]]:
        """The family members of a household who consented to be contacted: (`<household_id>#<name>`, their
        consented contact points), in order of their first priority."""
        out = []
        for owner, points in self._contacts.items():
            if owner.startswith(household_id + "#") and points[0].household_id == household_id:
                consented = tuple(k for k in points if k.consent)
                if consented:
                    out.append((owner, consented))
        return sorted(out, key=lambda x: x[1][0].priority)

    def on_duty(self, microgrid_id: str, when: datetime) -> list[Person]:
        """People whose shift in `microgrid_id` covers `when` (timezone-aware): grid workers first, then the
        micro-grid leader, then anyone else; each person once."""
        if when.tzinfo is None or when.utcoffset() is None:
            raise DevicesError("on_duty needs a timezone-aware datetime (shifts are stored with their offset)")
        found: dict[str, tuple[int, datetime, Person]] = {}
        replaced: set[str] = set()
        for s in self._shifts.get(microgrid_id, ()):
            if s.start > when:
                break  # sorted by start
            if not s.covers(when):
                continue
            if s.replaces is not None:
                replaced.add(s.replaces)
            if s.person_id not in found:
                p = self.people[s.person_id]
                found[p.id] = (_DUTY_ORDER.get(p.role, 2), s.start, p)
        on = [v for k, v in found.items() if k not in replaced]
        return [p for _, _, p in sorted(on, key=lambda x: (x[0], x[1], x[2].id))]

    def shifts_in(self, microgrid_id: str) -> tuple[DutyShift, ...]:
        """The roster of `microgrid_id`, by start."""
        return tuple(self._shifts.get(microgrid_id, ()))

    # --- change ---------------------------------------------------------------------------------------------

    def with_changes(
        self,
        *,
        streets: Iterable[Street] | None = None,
        communities: Iterable[Community] | None = None,
        grids: Iterable[Grid] | None = None,
        microgrids: Iterable[MicroGrid] | None = None,
        buildings: Iterable[Building] | None = None,
        households: Iterable[Household] | None = None,
        people: Iterable[Person] | None = None,
        devices: Iterable[Device] | None = None,
        roster: Iterable[DutyShift] | None = None,
        contacts: Iterable[ContactPoint] | None = None,
        remove: Iterable[str] = (),
    ) -> Registry:
        """A new registry in which the given items replace those with the same id (or are added), ids in
        `remove` are dropped from every collection, and `roster` and `contacts`, when given, replace the whole
        roster or list of contact points.
        Example: `reg.with_changes(households=[replace(h, care=new_care)])`. Raises `RegistryError` if the
        result is inconsistent (e.g. a removed building still has devices)."""
        gone = frozenset(remove)
        c = self._collections
        return Registry(
            streets=_upsert(c.streets, streets, gone),
            communities=_upsert(c.communities, communities, gone),
            grids=_upsert(c.grids, grids, gone),
            microgrids=_upsert(c.microgrids, microgrids, gone),
            buildings=_upsert(c.buildings, buildings, gone),
            households=_upsert(c.households, households, gone),
            people=_upsert(c.people, people, gone),
            devices=_upsert(c.devices, devices, gone),
            roster=tuple(roster) if roster is not None else self.roster,
            contacts=tuple(contacts) if contacts is not None else self.contacts,
        )

    # --- whole-registry helpers -------------------------------------------------------------------------------

    def collections(self) -> Collections:
        """The content in input order; what the CSV and database writers save."""
        return self._collections

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Registry):
            return NotImplemented
        a, b = self._collections, other._collections
        return (
            dict(self.streets) == dict(other.streets)
            and dict(self.communities) == dict(other.communities)
            and dict(self.grids) == dict(other.grids)
            and dict(self.microgrids) == dict(other.microgrids)
            and dict(self.buildings) == dict(other.buildings)
            and dict(self.households) == dict(other.households)
            and dict(self.people) == dict(other.people)
            and dict(self.devices) == dict(other.devices)
            and sorted(a.roster, key=_shift_key) == sorted(b.roster, key=_shift_key)
            and sorted(a.contacts, key=repr) == sorted(b.contacts, key=repr)
        )

    __hash__: Any = None

    def __reduce__(self) -> tuple[Any, tuple[Collections]]:
        # the read-only mapping proxies cannot be pickled; rebuild from the content (worker processes, deepcopy)
        return (_rebuild, (self._collections,))

    def __repr__(self) -> str:
        c = self._collections
        return (
            f"<Registry streets={len(c.streets)} communities={len(c.communities)} grids={len(c.grids)} "
            f"microgrids={len(c.microgrids)} buildings={len(c.buildings)} households={len(c.households)} "
            f"people={len(c.people)} shifts={len(c.roster)} devices={len(c.devices)} contacts={len(c.contacts)}>"
        )


def _shift_key(s: DutyShift) -> tuple[str, str, datetime, datetime]:
    return (s.microgrid_id, s.person_id, s.start, s.end)


def _rebuild(c: Collections) -> Registry:
    return Registry(
        streets=c.streets,
        communities=c.communities,
        grids=c.grids,
        microgrids=c.microgrids,
        buildings=c.buildings,
        households=c.households,
        people=c.people,
        roster=c.roster,
        devices=c.devices,
        contacts=c.contacts,
    )
