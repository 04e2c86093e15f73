"""A scenario through the real service over a real Mosquitto, on a virtual clock shared by the service and the
simulator: every injected incident becomes a ticket in time. The street is cut down to a few micro-grids
(~600 devices) so the service keeps up at 300x on a shared 2-core machine. Slow (~1 min)."""

from __future__ import annotations

from pathlib import Path

import pytest

from devices.model import DeviceClass
from devices.registry import Registry
from simulator.incidents import resolve
from simulator.world import World
from testkit.services import MosquittoProcess
from tests.simulator.conftest import scenario
from tests.simulator.service_replay import part_of_street, replay_through_service

INCIDENTS = [
    {"kind": "door_forced", "at": "day 1 06:30"},
    {"kind": "kitchen_fire", "at": "day 1 07:05"},
    {"kind": "thrown_object", "at": "day 1 08:12", "floor": 12},
    {"kind": "face_fail_burst", "at": "day 1 09:00"},
    {"kind": "door_held_open", "at": "day 1 10:00"},
    {"kind": "tap_left_running", "at": "day 1 07:30"},
]


def _microgrids(street: Registry) -> list[str]:
    """Three micro-grids, one of them with a building of at least 12 floors."""
    tall = sorted({b.microgrid_id for b in street.buildings.values() if b.floors >= 12})
    others = [m for m in sorted(street.microgrids) if m not in tall]
    return [tall[0], *others[:2]]


@pytest.mark.slow
async def test_incidents_become_tickets_through_the_service(
    street: Registry, mosquitto: MosquittoProcess, tmp_path: Path
) -> None:
    part = part_of_street(street, _microgrids(street))
    # a door controller on mains is offline within minutes; a water meter only after a day (devices.classes),
    # longer than this run: the silent device is a door that no other incident uses
    start, hours = "2026-03-03T06:00:00+08:00", 5
    used = {i.device_id for i in resolve(World(part), scenario(seed=3, start=start, hours=hours, incidents=INCIDENTS))}
    door = next(
        d.id for d in part.devices.values() if d.device_class is DeviceClass.ACCESS_CONTROL and d.id not in used
    )
    offline = {"kind": "device_offline", "at": "day 1 07:00", "target": door}
    sc = scenario(seed=3, start=start, hours=hours, incidents=[*INCIDENTS, offline])
    run = await replay_through_service(sc, mosquitto.port, tmp_path, speed=300, sweep=600, lateness=3600, registry=part)
    assert run.published.acknowledged == run.published.published > 5_000
    missed = [(t.incident, t.rule_id, t.target) for t in run.report.missed]
    assert missed == []
    assert run.report.recall == 1.0
