"""In-process judging with the real decoder and rule engine: injected incidents are detected in time."""

from __future__ import annotations

from devices.registry import Registry
from simulator.generate import Simulation
from simulator.judge import alert_json, judge
from simulator.score import score
from tests.simulator.conftest import scenario


def test_injected_incidents_are_detected_by_the_default_rules(street: Registry) -> None:
    incidents = [
        {"kind": "door_forced", "at": "+20m"},
        {"kind": "thrown_object", "at": "+30m"},
        {"kind": "gas_leak", "at": "+40m"},
        {"kind": "door_held_open", "at": "+50m"},
    ]
    sim = Simulation(street, scenario(hours=2, incidents=incidents))
    targets = [i.device_id for i in sim.incidents]
    result = judge(sim.messages(targets), street, end=sim.end)
    assert result.refused == {}
    assert result.readings >= result.messages > 50
    mine = [a for a in result.alerts if a.device_id in targets]
    report = score([t for t in sim.ground_truth() if t.target in targets], mine)
    assert report.missed == []
    assert report.recall == 1.0
    row = alert_json(mine[0])
    assert isinstance(row["action"], str)
    assert row["rule_id"] in {"door_forced", "thrown_object", "gas_leak", "door_held_open", "device_offline"}
