"""Referential checks of registry data: pure, and exhaustive (every problem, not the first one).

Kept apart from `Registry` so the CSV and database loaders can report the same problems against their own
file names and line numbers (see `Locate`)."""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

from core.i18n import Text, tr
from core.urls import outbound_problem
from devices.errors import Problem
from devices.model import (
    Building,
    ChannelKind,
    Community,
    ContactPoint,
    Device,
    DutyShift,
    Grid,
    Household,
    MicroGrid,
    Person,
    Street,
)
from devices.topics import ID_PATTERN

# (collection, 0-based index) -> (file, line). Registries built in code use the collection name and item number.
Locate = Callable[[str, int], tuple[str, int]]

_ID = re.compile(ID_PATTERN)


def locate_items(collection: str, index: int) -> tuple[str, int]:
    return collection, index + 1


@dataclass(frozen=True, slots=True)
class AwayBound:
    """How far ahead an import may hold a household away: `max_days` after `now`, the import's time (epoch
    seconds, from the importer's clock). The registry's `away_until` silences the care rules like "away
    confirmed", so it is bounded alike (`care.away_max_days`)."""

    now: float
    max_days: float

    @property
    def latest(self) -> float:
        return self.now + self.max_days * 86_400


@dataclass(frozen=True, slots=True)
class Collections:
    """The registry's raw content, in input order."""

    streets: Sequence[Street]
    communities: Sequence[Community]
    grids: Sequence[Grid]
    microgrids: Sequence[MicroGrid]
    buildings: Sequence[Building]
    households: Sequence[Household]
    people: Sequence[Person]
    roster: Sequence[DutyShift]
    devices: Sequence[Device]
    contacts: Sequence[ContactPoint] = ()


def _missing(what: str, ref: object) -> Text:
    """ "<what> '<id>' does not exist": `what` is a level of the grid (`names.level`) or "person"."""
    name = tr("registry.person") if what == "person" else tr(f"names.level.{what}")
    return tr("registry.row.missing", what=name, id=repr(ref))


def _aware(d: datetime) -> bool:
    return d.tzinfo is not None and d.utcoffset() is not None


def check(c: Collections, locate: Locate = locate_items, *, unchecked: frozenset[str] = frozenset()) -> list[Problem]:
    """Every problem of `c`: malformed or duplicate ids (node and device ids share one namespace, since they
    are used interchangeably as scopes), dangling parents, households of a device outside its building,
    building coordinates out of range or given alone, shifts of unknown people or micro-grids, empty shifts
    and naive datetimes.

    References to ids in `unchecked` are not reported: a loader passes the ids of rows it already refused, so
    one bad building row is one problem, not one more per household in it."""
    problems: list[Problem] = []

    def bad(collection: str, index: int, column: str, message: str) -> None:
        file, line = locate(collection, index)
        problems.append(Problem(file, line, column, message))

    # ids: syntax and uniqueness across every level and devices; people have their own namespace
    seen: dict[str, str] = {}
    named: list[tuple[str, Sequence[Street | Community | Grid | MicroGrid | Building | Household | Device]]] = [
        ("streets", c.streets),
        ("communities", c.communities),
        ("grids", c.grids),
        ("microgrids", c.microgrids),
        ("buildings", c.buildings),
        ("households", c.households),
        ("devices", c.devices),
    ]
    for collection, items in named:
        for i, item in enumerate(items):
            if not _ID.fullmatch(item.id):
                bad(collection, i, "id", tr("registry.row.id_not_topic_safe", id=repr(item.id)))
            if item.id in seen:
                bad(collection, i, "id", tr("registry.row.duplicate_id", id=repr(item.id), where=seen[item.id]))
            else:
                seen[item.id] = collection
    people_ids: set[str] = set()
    for i, p in enumerate(c.people):
        if not _ID.fullmatch(p.id):
            bad("people", i, "id", tr("registry.row.person_id_invalid", id=repr(p.id)))
        if p.id in people_ids:
            bad("people", i, "id", tr("registry.row.duplicate_person", id=repr(p.id)))
        people_ids.add(p.id)

    streets = {s.id for s in c.streets}
    communities = {x.id for x in c.communities}
    grids = {x.id for x in c.grids}
    microgrids = {x.id for x in c.microgrids}
    buildings = {b.id: b for b in c.buildings}
    households = {h.id: h for h in c.households}

    for i, co in enumerate(c.communities):
        if co.street_id not in streets and co.street_id not in unchecked:
            bad("communities", i, "street_id", _missing("street", co.street_id))
    for i, g in enumerate(c.grids):
        if g.community_id not in communities and g.community_id not in unchecked:
            bad("grids", i, "community_id", _missing("community", g.community_id))
    for i, m in enumerate(c.microgrids):
        if m.grid_id not in grids and m.grid_id not in unchecked:
            bad("microgrids", i, "grid_id", _missing("grid", m.grid_id))
    for i, b in enumerate(c.buildings):
        if b.microgrid_id not in microgrids and b.microgrid_id not in unchecked:
            bad("buildings", i, "microgrid_id", _missing("microgrid", b.microgrid_id))
        if b.floors < 1:
            bad("buildings", i, "floors", tr("registry.row.floors", floors=b.floors))
        if (b.lat is None) != (b.lon is None):
            given, missing = ("lat", "lon") if b.lon is None else ("lon", "lat")
            bad("buildings", i, missing, tr("registry.row.coordinate_alone", given=given, missing=missing))
        if b.lat is not None and not -90 <= b.lat <= 90:
            bad("buildings", i, "lat", tr("registry.row.latitude", lat=b.lat))
        if b.lon is not None and not -180 <= b.lon <= 180:
            bad("buildings", i, "lon", tr("registry.row.longitude", lon=b.lon))
    for i, h in enumerate(c.households):
        hb = buildings.get(h.building_id)
        if hb is None:
            if h.building_id not in unchecked:
                bad("households", i, "building_id", _missing("building", h.building_id))
        elif h.floor > hb.floors:
            bad(
                "households",
                i,
                "floor",
                tr("registry.row.floor_above_top", floor=h.floor, floors=hb.floors, building=repr(hb.id)),
            )
        if h.care.away_until is not None and not _aware(h.care.away_until):
            bad("households", i, "away_until", tr("registry.row.needs_offset", column="away_until"))
    for i, d in enumerate(c.devices):
        if d.building_id not in buildings and d.building_id not in unchecked:
            bad("devices", i, "building_id", _missing("building", d.building_id))
        if d.household_id is not None:
            dh = households.get(d.household_id)
            if dh is None:
                if d.household_id not in unchecked:
                    bad("devices", i, "household_id", _missing("household", d.household_id))
            elif dh.building_id != d.building_id:
                bad(
                    "devices",
                    i,
                    "household_id",
                    tr(
                        "registry.row.household_elsewhere",
                        household=repr(d.household_id),
                        in_building=repr(dh.building_id),
                        building=repr(d.building_id),
                    ),
                )
        if d.expected_interval_s <= 0:
            bad("devices", i, "expected_interval_s", tr("registry.row.positive", value=d.expected_interval_s))
        if d.gateway_id is not None and not _ID.fullmatch(d.gateway_id):
            bad("devices", i, "gateway_id", tr("registry.row.gateway_id", id=repr(d.gateway_id)))
    for i, p in enumerate(c.people):
        if p.scope_id not in unchecked and (p.scope_id not in seen or seen[p.scope_id] == "devices"):
            bad("people", i, "scope_id", tr("registry.row.scope", scope=repr(p.scope_id)))
    for i, s in enumerate(c.roster):
        if s.person_id not in people_ids and s.person_id not in unchecked:
            bad("roster", i, "person_id", _missing("person", s.person_id))
        if s.microgrid_id not in microgrids and s.microgrid_id not in unchecked:
            bad("roster", i, "microgrid_id", _missing("microgrid", s.microgrid_id))
        for column, value in (("start", s.start), ("end", s.end)):
            if not _aware(value):
                bad("roster", i, column, tr("registry.row.needs_offset", column=column))
        if _aware(s.start) and _aware(s.end) and s.end <= s.start:
            bad(
                "roster",
                i,
                "end",
                tr("registry.row.shift_ends_first", end=s.end.isoformat(), start=s.start.isoformat()),
            )
        if s.replaces is not None:
            for reason in _replacing(c.roster, s, people_ids, unchecked):
                bad("roster", i, "replaces", reason)
    _check_contacts(c.contacts, people_ids, set(households), unchecked, bad)
    return problems


def check_away(households: Sequence[Household], bound: AwayBound, locate: Locate = locate_items) -> list[Problem]:
    """The households that `bound` refuses: an `away_until` more than `max_days` after the import, or one still
    ahead without an `away_reason` (who imported it is audited; why is the reason). A past `away_until` is
    accepted as it is: the household is simply not away."""
    problems: list[Problem] = []
    for i, h in enumerate(households):
        until = h.care.away_until
        if until is None or not _aware(until) or until.timestamp() <= bound.now:
            continue
        file, line = locate("households", i)
        if until.timestamp() > bound.latest:
            latest = datetime.fromtimestamp(bound.latest, until.tzinfo).isoformat(timespec="seconds")
            message = tr(
                "registry.row.away_too_far", until=until.isoformat(), days=f"{bound.max_days:g}", latest=latest
            )
            problems.append(Problem(file, line, "away_until", message))
        if not (h.care.away_reason or "").strip():
            problems.append(Problem(file, line, "away_reason", tr("registry.row.away_needs_reason")))
    return problems


def _replacing(roster: Sequence[DutyShift], s: DutyShift, people: set[str], unchecked: frozenset[str]) -> list[str]:
    """What is wrong with a shift that takes over `s.replaces`'s duty (see `DutyShift`)."""
    who = s.replaces
    if who == s.person_id:
        return [tr("registry.row.replaces_self")]
    if who not in people:
        return [] if who in unchecked else [_missing("person", who)]
    if not (_aware(s.start) and _aware(s.end)):
        return []
    overlaps = any(
        o.person_id == who
        and o.microgrid_id == s.microgrid_id
        and o.replaces != s.person_id  # the other half of a swap is not the duty it takes over
        and _aware(o.start)
        and _aware(o.end)
        and o.start < s.end
        and s.start < o.end
        for o in roster
    )
    if not overlaps:
        return [
            tr(
                "registry.row.nothing_to_replace",
                person=repr(who),
                microgrid=repr(s.microgrid_id),
                start=s.start.isoformat(),
                end=s.end.isoformat(),
            )
        ]
    return []


_PHONE = re.compile(r"\+?[0-9][0-9 -]{4,19}")
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")


def _check_contacts(
    contacts: Sequence[ContactPoint],
    people: set[str],
    households: set[str],
    unchecked: frozenset[str],
    bad: Callable[[str, int, str, str], None],
) -> None:
    """Contact points: one owner that exists, a family member's name, an address that fits the channel."""
    for i, k in enumerate(contacts):
        if (k.person_id is None) == (k.household_id is None):
            bad("contacts", i, "person_id", tr("registry.row.contact_owner"))
        elif k.person_id is not None and k.person_id not in people and k.person_id not in unchecked:
            bad("contacts", i, "person_id", _missing("person", k.person_id))
        elif k.household_id is not None:
            if k.household_id not in households and k.household_id not in unchecked:
                bad("contacts", i, "household_id", _missing("household", k.household_id))
            if not k.name.strip():
                bad("contacts", i, "name", tr("registry.row.contact_name"))
            elif "#" in k.name:
                bad("contacts", i, "name", tr("registry.row.name_hash"))
        if k.priority < 1:
            bad("contacts", i, "priority", tr("registry.row.priority", priority=k.priority))
        address = k.address.strip()
        if not address:
            bad("contacts", i, "address", tr("registry.row.address_required"))
        elif k.channel in (ChannelKind.SMS, ChannelKind.VOICE) and not _PHONE.fullmatch(address):
            bad("contacts", i, "address", tr("registry.row.not_phone", address=repr(address)))
        elif k.channel is ChannelKind.EMAIL and not _EMAIL.fullmatch(address):
            bad("contacts", i, "address", tr("registry.row.not_email", address=repr(address)))
        elif k.channel is ChannelKind.WEBHOOK and not address.startswith(("http://", "https://")):
            bad("contacts", i, "address", tr("registry.row.not_http", address=repr(address)))
        elif k.channel is ChannelKind.WEBHOOK and (problem := outbound_problem(address, allow_private=True)):
            # private and loopback addresses are the sender's call (notify.allow_private_targets); link-local never
            bad("contacts", i, "address", tr("registry.row.webhook_refused", reason=problem))
