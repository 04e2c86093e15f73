from __future__ import annotations

import copy
import pickle
from dataclasses import replace
from datetime import datetime, timedelta

import pytest

from devices.errors import DevicesError, Problem, RegistryError
from devices.model import (
    Building,
    CareProfile,
    Community,
    Device,
    DeviceClass,
    DutyShift,
    Household,
    Level,
    MicroGrid,
    Person,
    Role,
    Street,
)
from devices.registry import Placement, Registry
from tests.devices.factory import T0, tiny, tiny_kwargs


def test_placement_of_household_and_building_devices() -> None:
    reg = tiny()
    assert reg.placement("WM-1") == Placement("c1", "g1", "m1", "b1", "h1")
    assert reg.placement("AC-1") == Placement("c2", "g2", "m2", "b3", None)
    assert reg.placement("nope") is None


def test_levels_and_ancestors() -> None:
    reg = tiny()
    assert reg.level_of("st") is Level.STREET
    assert reg.level_of("h3") is Level.HOUSEHOLD
    assert reg.level_of("WM-1") is None
    assert reg.ancestors("h1") == [
        (Level.HOUSEHOLD, "h1"),
        (Level.BUILDING, "b1"),
        (Level.MICROGRID, "m1"),
        (Level.GRID, "g1"),
        (Level.COMMUNITY, "c1"),
        (Level.STREET, "st"),
    ]
    assert reg.ancestors("SD-2")[0] == (Level.BUILDING, "b1")
    assert reg.ancestors("zzz") == []
    assert reg.chain_above("m2") == [(Level.GRID, "g2"), (Level.COMMUNITY, "c2"), (Level.STREET, "st")]


@pytest.mark.parametrize(
    ("node", "microgrid", "community"),
    [
        ("st", None, None),
        ("c1", None, "c1"),
        ("g2", None, "c2"),
        ("m1", "m1", "c1"),
        ("b3", "m2", "c2"),
        ("h1", "m1", "c1"),
        ("WM-3", "m2", "c2"),
        ("unknown", None, None),
    ],
)
def test_microgrid_and_community_of(node: str, microgrid: str | None, community: str | None) -> None:
    reg = tiny()
    assert reg.microgrid_of(node) == microgrid
    assert reg.community_of(node) == community


@pytest.mark.parametrize(
    ("node", "scope", "inside"),
    [
        ("h1", "h1", True),
        ("h1", "m1", True),
        ("h1", "st", True),
        ("h1", "m2", False),
        ("WM-1", "h1", True),
        ("WM-1", "WM-1", True),
        ("SD-2", "h1", False),
        ("m1", "h1", False),
        ("ghost", "ghost", False),
        ("ghost", "st", False),
    ],
)
def test_is_within(node: str, scope: str, inside: bool) -> None:
    assert tiny().is_within(node, scope) is inside


def test_devices_and_households_under() -> None:
    reg = tiny()
    assert [d.id for d in reg.devices_under("st")] == ["WM-1", "SD-1", "SD-2", "AC-1", "WM-3"]
    assert [d.id for d in reg.devices_under("b1")] == ["WM-1", "SD-1", "SD-2"]
    assert [d.id for d in reg.devices_under("b2")] == []
    assert [d.id for d in reg.devices_under("WM-3")] == ["WM-3"]
    assert [h.id for h in reg.households_under("m1")] == ["h1", "h2"]
    assert [d.id for d in reg.devices_of_household("h1")] == ["WM-1", "SD-1"]
    assert reg.devices_of_household("b1") == []
    hh = reg.household_of("WM-1")
    assert hh is not None
    assert hh.id == "h1"
    assert reg.household_of("SD-2") is None
    # returned lists are copies: mutating one does not change the registry
    reg.devices_under("b1").clear()
    assert len(reg.devices_under("b1")) == 3


def test_people_at() -> None:
    reg = tiny()
    assert [p.id for p in reg.people_at("m1")] == ["p-l1", "p-w1", "p-w2"]
    assert [p.id for p in reg.people_at("m1", Role.GRID_WORKER)] == ["p-w1", "p-w2"]
    assert [p.id for p in reg.people_at("c1", Role.COMMUNITY_DUTY)] == ["p-c1"]
    assert reg.people_at("m2") == []


def test_on_duty_workers_first_and_shift_bounds() -> None:
    reg = tiny()
    assert [p.id for p in reg.on_duty("m1", T0)] == ["p-w1", "p-l1"]
    assert [p.id for p in reg.on_duty("m1", T0 + timedelta(hours=11, minutes=59))] == ["p-w1", "p-l1"]
    # 20:00 CST: end is exclusive; two overlapping night shifts, each person once
    assert [p.id for p in reg.on_duty("m1", T0 + timedelta(hours=12))] == ["p-w1", "p-w2"]
    assert reg.on_duty("m1", T0 - timedelta(seconds=1)) == []
    assert reg.on_duty("m2", T0) == []
    with pytest.raises(DevicesError, match="timezone-aware"):
        reg.on_duty("m1", T0.replace(tzinfo=None))


def test_mappings_are_read_only() -> None:
    reg = tiny()
    with pytest.raises(TypeError):
        reg.devices["X"] = reg.devices["WM-1"]  # type: ignore[index]


def test_with_changes_replaces_adds_and_removes() -> None:
    reg = tiny()
    h2 = replace(reg.households["h2"], care=CareProfile(lives_alone=True, elderly=True, consent=True))
    new = reg.with_changes(households=[h2], devices=[Device("GD-1", DeviceClass.GAS_DETECTOR, "b1", "h2")])
    assert new.households["h2"].care.watched
    assert not reg.households["h2"].care.watched
    assert new.placement("GD-1") == Placement("c1", "g1", "m1", "b1", "h2")
    assert reg.placement("GD-1") is None
    assert list(new.households) == ["h1", "h2", "h3"]  # replaced in place
    smaller = new.with_changes(remove=["GD-1", "h2"])
    assert "h2" not in smaller.households
    assert smaller == reg.with_changes(remove=["h2"])
    with pytest.raises(RegistryError, match="building 'b1' does not exist"):
        reg.with_changes(remove=["b1"])
    assert new.with_changes(roster=[]).roster == ()


def test_equality() -> None:
    assert tiny() == tiny()
    assert tiny() != tiny().with_changes(remove=["SD-2"])
    kw = tiny_kwargs()
    kw["roster"] = list(reversed(kw["roster"]))
    assert Registry(**kw) == tiny()  # type: ignore[arg-type]


def test_every_problem_is_reported() -> None:
    kw = tiny_kwargs()
    kw["communities"].append(Community("c3", "x", "no-street"))
    kw["microgrids"].append(MicroGrid("c1", "duplicate of a community id", "g1"))
    kw["buildings"].append(Building("b9", "x", "m1", 0))
    kw["households"].append(Household("h9", "b2", "2-701", 7))
    kw["devices"].extend(
        [
            Device("SD 9", DeviceClass.SMOKE_DETECTOR, "b1"),
            Device("WM-9", DeviceClass.WATER_METER, "b2", "h1"),
            Device("WM-1", DeviceClass.WATER_METER, "b1"),
            Device("SD-8", DeviceClass.SMOKE_DETECTOR, "ghost", "h-ghost", 0),
        ]
    )
    kw["people"].append(Person("p-x", "x", Role.GRID_WORKER, "nowhere"))
    kw["roster"].extend(
        [
            DutyShift("p-ghost", "m-ghost", T0, T0 - timedelta(hours=1)),
            DutyShift("p-w1", "m1", datetime(2026, 1, 1), T0),
        ]
    )
    with pytest.raises(RegistryError) as info:
        Registry(**kw)  # type: ignore[arg-type]
    got = {(p.file, p.line, p.column) for p in info.value.problems}
    assert got == {
        ("communities", 3, "street_id"),
        ("microgrids", 3, "id"),
        ("buildings", 4, "floors"),
        ("households", 4, "floor"),
        ("devices", 6, "id"),
        ("devices", 7, "household_id"),
        ("devices", 8, "id"),
        ("devices", 9, "building_id"),
        ("devices", 9, "household_id"),
        ("devices", 9, "expected_interval_s"),
        ("people", 6, "scope_id"),
        ("roster", 5, "person_id"),
        ("roster", 5, "microgrid_id"),
        ("roster", 5, "end"),
        ("roster", 6, "start"),
    }
    text = str(info.value)
    assert "15 problems" in text
    assert "roster:5: end: shift ends" in text
    assert isinstance(info.value, DevicesError)


def test_problem_str() -> None:
    assert str(Problem("devices.csv", 7, "building_id", "building 'x' does not exist")) == (
        "devices.csv:7: building_id: building 'x' does not exist"
    )


def test_empty_registry() -> None:
    reg = Registry()
    assert reg.placement("x") is None
    assert reg == Registry(streets=[])
    assert Registry(streets=[Street("s", "s")]).devices_under("s") == []


def test_pickle_and_deepcopy() -> None:
    reg = tiny()
    back = pickle.loads(pickle.dumps(reg))
    assert back == reg
    assert back.placement("WM-1") == reg.placement("WM-1")
    assert copy.deepcopy(reg) == reg
