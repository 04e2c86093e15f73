"""Properties of the registry checked against brute force on random grids, and CSV / database round trips of
random content (Chinese text, commas, quotes, line breaks, care profiles)."""

from __future__ import annotations

import tempfile
from datetime import datetime, time, timedelta, timezone
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from devices.csvio import load_registry, save_registry
from devices.model import (
    Building,
    CareProfile,
    Community,
    Contact,
    Device,
    DeviceClass,
    DutyShift,
    Grid,
    Household,
    Level,
    MicroGrid,
    Person,
    QuietHours,
    Role,
    Street,
)
from devices.registry import Registry

CST = timezone(timedelta(hours=8))
T0 = datetime(2026, 3, 1, tzinfo=CST)

# names as clerks type them: Chinese, punctuation that CSV must quote, inner line breaks; no outer whitespace
_name_chars = st.sampled_from(list("幸福街道阳光社区桂花苑号楼王李张abcXYZ0123 ,;\"'|-_()（）\n"))
names = st.text(_name_chars, min_size=1, max_size=12).map(str.strip).filter(bool)
# any finite degrees, down to the last bit: CSV writes the shortest text that reads back as the same float
coordinates = st.one_of(
    st.just((None, None)),
    st.tuples(st.floats(-90, 90, allow_nan=False), st.floats(-180, 180, allow_nan=False)),
)
contact_text = (
    st.text(st.sampled_from(list("王李张伟芳0123456789 ()")), min_size=1, max_size=8).map(str.strip).filter(bool)
)


@st.composite
def registries(draw: st.DrawFn) -> Registry:
    n_comm = draw(st.integers(1, 3))
    streets = [Street("s", draw(names))]
    communities = [Community(f"c{i}", draw(names), "s") for i in range(n_comm)]
    grids = [Grid(f"{c.id}g{j}", draw(names), c.id) for c in communities for j in range(draw(st.integers(0, 2)))]
    micro = [MicroGrid(f"{g.id}m{j}", draw(names), g.id) for g in grids for j in range(draw(st.integers(0, 2)))]
    buildings = [
        Building(f"{m.id}b{j}", draw(names), m.id, draw(st.integers(1, 30)), *draw(coordinates))
        for m in micro
        for j in range(draw(st.integers(0, 2)))
    ]
    households = []
    for b in buildings:
        for j in range(draw(st.integers(0, 3))):
            care = draw(
                st.builds(
                    CareProfile,
                    lives_alone=st.booleans(),
                    elderly=st.booleans(),
                    consent=st.booleans(),
                    emergency_contacts=st.lists(
                        st.builds(Contact, contact_text, contact_text, st.one_of(st.just(""), contact_text)),
                        max_size=2,
                    ).map(tuple),
                    quiet_hours=st.one_of(
                        st.none(),
                        st.builds(
                            QuietHours,
                            st.builds(time, st.integers(0, 23), st.sampled_from([0, 30])),
                            st.builds(time, st.integers(0, 23), st.sampled_from([15, 45])),
                        ),
                    ),
                    away_until=st.one_of(st.none(), st.integers(0, 10**6).map(lambda s: T0 + timedelta(seconds=s))),
                    away_reason=st.one_of(st.none(), contact_text),
                )
            )
            households.append(Household(f"{b.id}h{j}", b.id, draw(names), draw(st.integers(1, b.floors)), care))
    devices = []
    n = 0
    for b in buildings:
        own = [h for h in households if h.building_id == b.id]
        for _ in range(draw(st.integers(0, 3))):
            n += 1
            hh = draw(st.one_of(st.none(), st.sampled_from(own))) if own else None
            devices.append(
                Device(
                    f"D-{n}",
                    draw(st.sampled_from(list(DeviceClass))),
                    b.id,
                    hh.id if hh else None,
                    draw(st.integers(1, 86_400 * 2)),
                    None,
                    draw(st.one_of(st.just(""), names)),
                    draw(st.sampled_from([None, "gw-1", "nb.460-00_5b3e"])),
                )
            )
    nodes: list[str] = [s.id for s in streets] + [c.id for c in communities] + [g.id for g in grids]
    nodes += [m.id for m in micro] + [b.id for b in buildings] + [h.id for h in households]
    people = [
        Person(
            f"p{i}",
            draw(names),
            draw(st.sampled_from(list(Role))),
            draw(st.sampled_from(nodes)),
            "",
            draw(st.sampled_from(["", "sun.lei@example.org", "王伟@例子.中国"])),
        )
        for i in range(draw(st.integers(0, 4)))
    ]
    roster = []
    if people and micro:
        for _ in range(draw(st.integers(0, 6))):
            start = T0 + timedelta(hours=draw(st.integers(0, 48)))
            roster.append(
                DutyShift(
                    draw(st.sampled_from(people)).id,
                    draw(st.sampled_from(micro)).id,
                    start,
                    start + timedelta(hours=draw(st.integers(1, 24))),
                )
            )
    return Registry(
        streets=streets,
        communities=communities,
        grids=grids,
        microgrids=micro,
        buildings=buildings,
        households=households,
        people=people,
        roster=roster,
        devices=devices,
    )


def naive_parent(reg: Registry, node: str) -> str | None:
    for coll, attr in (
        (reg.communities, "street_id"),
        (reg.grids, "community_id"),
        (reg.microgrids, "grid_id"),
        (reg.buildings, "microgrid_id"),
        (reg.households, "building_id"),
    ):
        if node in coll:
            parent: str = getattr(coll[node], attr)
            return parent
    return None


def naive_chain(reg: Registry, node: str) -> list[str]:
    out: list[str] = []
    cur: str | None = node
    while cur is not None:
        out.append(cur)
        cur = naive_parent(reg, cur)
    return out


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(reg=registries())
def test_indexes_agree_with_brute_force(reg: Registry) -> None:
    nodes = [*reg.streets, *reg.communities, *reg.grids, *reg.microgrids, *reg.buildings, *reg.households]
    for node in nodes:
        chain = naive_chain(reg, node)
        assert [nid for _, nid in reg.ancestors(node)] == chain
        assert reg.ancestors(node)[-1] == (Level.STREET, "s")
        expected_devices = [
            d.id for d in reg.devices.values() if node in naive_chain(reg, d.household_id or d.building_id)
        ]
        assert [d.id for d in reg.devices_under(node)] == expected_devices
        assert [h.id for h in reg.households_under(node)] == [
            h.id for h in reg.households.values() if node in naive_chain(reg, h.id)
        ]
        for scope in nodes:
            assert reg.is_within(node, scope) == (scope in chain)
    for d in reg.devices.values():
        p = reg.placement(d.id)
        assert p is not None
        chain = naive_chain(reg, d.household_id or d.building_id)
        assert [p.building_id, p.microgrid_id, p.grid_id, p.community_id] == [
            x for x in chain if x in reg.buildings or x in reg.microgrids or x in reg.grids or x in reg.communities
        ]
        assert reg.microgrid_of(d.id) == p.microgrid_id
        assert reg.community_of(d.id) == p.community_id
    for m in reg.microgrids:
        for hour in range(0, 80, 7):
            when = T0 + timedelta(hours=hour)
            on = {s.person_id for s in reg.roster if s.microgrid_id == m and s.start <= when < s.end}
            got = reg.on_duty(m, when)
            assert {p.id for p in got} == on
            assert len(got) == len(on)
            roles = [p.role is Role.GRID_WORKER for p in got]
            assert roles == sorted(roles, reverse=True)  # workers first


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(reg=registries())
def test_csv_round_trip(reg: Registry) -> None:
    with tempfile.TemporaryDirectory() as d:
        save_registry(reg, d)
        back = load_registry(Path(d))
    assert back == reg
    assert list(back.devices) == list(reg.devices)
