"""A contract test over every incident kind: the target shows it in its messages, at its start, and the
ground truth names the canonical rule, the right target and a deadline after the start."""

from __future__ import annotations

import json
from typing import Any

import pytest

from devices.registry import Registry
from simulator.errors import IncidentError
from simulator.generate import Simulation
from simulator.groundtruth import RULE_OF
from simulator.incidents import GROUP_OF, group_node, is_mains
from simulator.scenario import INCIDENT_KINDS
from tests.simulator.conftest import scenario

# what the target's stream must contain at the incident's start: (channel, field, value)
SIGNATURE: dict[str, tuple[str, str, Any]] = {
    "kitchen_fire": ("event", "event", "alarm"),
    "thrown_object": ("event", "event", "thrown_object"),
    "door_forced": ("event", "event", "forced_open"),
    "door_held_open": ("event", "event", "held_open"),
    "face_fail_burst": ("event", "event", "face_verification_failed"),
    "duress": ("event", "event", "duress"),
    "fire_lane_blocked": ("event", "state", "start"),
    "ebike_in_elevator": ("event", "event", "ebike_in_elevator"),
    "shed_smoke": ("event", "event", "smoke_fire"),
    "gas_leak": ("event", "event", "alarm"),
    "manhole_open": ("event", "event", "opened"),
    "trash_fire": ("event", "event", "fire"),
    "water_leak": ("event", "event", "leak"),
    "charger_overheat": ("event", "event", "overtemperature"),
}


@pytest.fixture(scope="module")
def every_kind(street: Registry) -> Simulation:
    incidents = [
        {"kind": k, "at": f"day 1 {8 + i // 2:02d}:{(i % 2) * 30 + 5:02d}"} for i, k in enumerate(INCIDENT_KINDS)
    ]
    return Simulation(street, scenario(seed=9, days=2, incidents=incidents))


def test_every_kind_is_placed_on_a_distinct_target(every_kind: Simulation) -> None:
    assert [i.kind for i in every_kind.incidents] == list(INCIDENT_KINDS)
    targets = [i.device_id for i in every_kind.incidents]
    assert len(set(targets)) == len(targets)


@pytest.mark.parametrize("kind", sorted(SIGNATURE))
def test_the_target_shows_the_incident_at_its_start(every_kind: Simulation, kind: str) -> None:
    inc = next(i for i in every_kind.incidents if i.kind == kind)
    channel, field, value = SIGNATURE[kind]
    hits = [
        m
        for m in every_kind.device_messages(inc.device_id)
        if m.topic.endswith("/" + channel) and abs(m.ts - inc.start) < 1 and json.loads(m.payload).get(field) == value
    ]
    assert hits, f"{kind}: no {field}={value} on {inc.device_id} at its start"
    if kind == "thrown_object":
        assert json.loads(hits[0].payload)["confidence"] >= 0.8


@pytest.mark.parametrize("kind", ["meter_silent", "device_offline"])
def test_a_silenced_device_sends_nothing_then_comes_back(every_kind: Simulation, kind: str) -> None:
    inc = next(i for i in every_kind.incidents if i.kind == kind)
    times = [m.ts for m in every_kind.device_messages(inc.device_id)]
    assert not [t for t in times if inc.start <= t < inc.end]
    assert [t for t in times if t < inc.start]
    assert [t for t in times if t >= inc.end]


def test_a_gateway_outage_silences_every_device_behind_the_gateway(every_kind: Simulation) -> None:
    inc = next(i for i in every_kind.incidents if i.kind == "gateway_outage")
    behind = [d.id for d in every_kind.world.devices.values() if d.gateway_id == inc.params["gateway"]]
    assert len(behind) >= 10
    for dev in behind:
        times = [m.ts for m in every_kind.device_messages(dev)]
        assert not [t for t in times if inc.start <= t < inc.end], dev
        assert [t for t in times if t < inc.start], dev


@pytest.mark.parametrize("kind", ["power_cut", "network_outage"])
def test_a_power_cut_or_network_outage_silences_the_group_s_mains_devices_only(
    every_kind: Simulation, kind: str
) -> None:
    """A building's power cut or a community's network outage: its cameras, doors and chargers go dark, its
    battery devices (meters, detectors) keep reporting."""
    inc = next(i for i in every_kind.incidents if i.kind == kind)
    level = GROUP_OF[kind]
    world = every_kind.world
    group = [d for d in world.devices.values() if group_node(world, d, level) == inc.params[level]]
    mains = [d.id for d in group if is_mains(d)]
    assert len(mains) >= 3
    for dev in mains:
        times = [m.ts for m in every_kind.device_messages(dev)]
        assert not [t for t in times if inc.start <= t < inc.end], dev
        assert [t for t in times if t >= inc.end], dev
    battery = next(d.id for d in group if not is_mains(d) and d.expected_interval_s <= 3600)
    assert [m.ts for m in every_kind.device_messages(battery) if inc.start <= m.ts < inc.end]


def test_ground_truth_uses_the_canonical_rules_targets_and_deadlines(every_kind: Simulation) -> None:
    required = [t for t in every_kind.truths if t.required]
    assert len(required) == len(INCIDENT_KINDS)
    for inc, truth in zip(every_kind.incidents, required, strict=True):
        assert truth.rule_id == RULE_OF[inc.kind]
        assert truth.start == round(inc.start, 3)
        assert truth.deadline > truth.start
        if inc.kind == "elderly_fall":
            assert (truth.target, truth.target_kind) == (inc.household_id, "household")
            assert truth.deadline >= inc.start + 12 * 3600 + 60
        elif inc.kind in GROUP_OF:
            level = GROUP_OF[inc.kind]
            assert (truth.target, truth.target_kind) == (f"{level}:{inc.params[level]}", level)
        else:
            assert (truth.target, truth.target_kind) == (inc.device_id, "device")
    by_kind = {t.incident: t for t in required}
    assert by_kind["thrown_object"].deadline == by_kind["thrown_object"].start + 60
    assert by_kind["door_held_open"].deadline == by_kind["door_held_open"].start + 6 * 60
    silent = by_kind["meter_silent"]
    assert silent.deadline == silent.start + 24 * 3600 + 60  # a water meter: a day (longer than 3 x 1 h)


def test_an_impossible_target_is_refused(street: Registry) -> None:
    with pytest.raises(IncidentError, match="cannot show it"):
        Simulation(street, scenario(hours=2, incidents=[{"kind": "gas_leak", "at": "+1h", "target": "AC-0000001"}]))
    with pytest.raises(IncidentError, match="building 999"):
        Simulation(street, scenario(hours=2, incidents=[{"kind": "door_forced", "at": "+1h", "building": 999}]))
