"""Live progress keeps event time: a scenario judged through the rule runner on a running clock, at two
speeds (a tick every second, and every 30 s), gives exactly the alerts of the replay driven by
`Engine.advance` (as `bench.rules.score` does), and the timer-based ones reach the sink when they fall due by
their device's clock, not the allowed lateness later."""

from __future__ import annotations

import contextlib
from pathlib import Path

import msgspec

from core.clock import ManualClock
from core.db import make_engine
from devices.model import DeviceClass
from devices.reading import Reading
from devices.registry import Registry
from ingest.decode import Decoder
from ingest.refusals import Refused
from rules.alert import Alert, AlertAction
from rules.config import default_ruleset_path, load_ruleset
from rules.engine import Engine
from rules.runner import RuleRunner, open_engine
from rules.state import RuleStateStore, create_tables
from simulator.generate import Simulation
from tests.simulator.conftest import scenario
from tests.simulator.service_replay import part_of_street

LATENESS = 300.0
SLACK = 1.0
INCIDENTS = [
    {"kind": "door_forced", "at": "day 1 06:30"},
    {"kind": "door_held_open", "at": "day 1 06:40"},
    {"kind": "kitchen_fire", "at": "day 1 07:05"},
    {"kind": "thrown_object", "at": "day 1 07:12", "floor": 12},
]
TIMED = {"smoke_alarm", "door_held_open", "device_offline"}
"""Rules whose raises come from timers: the wait of a smoke alarm, a door held open, a silence."""


def _readings(street: Registry) -> tuple[Registry, list[Reading], float]:
    tall = sorted({b.microgrid_id for b in street.buildings.values() if b.floors >= 12})
    others = [m for m in sorted(street.microgrids) if m not in tall]
    part = part_of_street(street, [tall[0], *others[:2]])
    camera = min(d.id for d in part.devices.values() if d.device_class is DeviceClass.AI_CAMERA)
    offline = {"kind": "device_offline", "at": "day 1 06:20", "target": camera}  # silent 15 min later
    sc = scenario(seed=3, start="2026-03-03T06:00:00+08:00", hours=2, incidents=[*INCIDENTS, offline])
    clock = ManualClock()
    decoder = Decoder(part, clock)
    readings: list[Reading] = []
    for m in Simulation(part, sc).messages():
        clock.set(m.ts)
        with contextlib.suppress(Refused):
            readings.extend(decoder.decode(m.topic, m.payload, retain=False, received_at=m.ts))
    return part, readings, sc.t1 + 3600


def _replay(reg: Registry, readings: list[Reading], end: float) -> list[Alert]:
    eng = Engine(load_ruleset(default_ruleset_path(), reg), reg, allowed_lateness_s=LATENESS)
    out: list[Alert] = []
    next_sweep = readings[0].ts + 60
    for r in readings:
        while r.ts >= next_sweep:
            out += eng.advance(next_sweep - LATENESS)
            next_sweep += 60
        out += eng.process(r)
    return out + eng.advance(end)


async def _live(
    reg: Registry, readings: list[Reading], end: float, step: float, tmp_path: Path
) -> list[tuple[float, Alert]]:
    """The runner on a clock moved by `step`: each step hands on what was received meanwhile as one batch,
    then ticks; a sweep every minute of clock time."""
    db = make_engine(f"sqlite+aiosqlite:///{tmp_path / f'rules-{step:g}.db'}")
    await create_tables(db)
    store = RuleStateStore(db)
    eng = await open_engine(
        store, load_ruleset(default_ruleset_path(), reg), reg, allowed_lateness_s=LATENESS, live_slack_s=SLACK
    )
    clock = ManualClock(readings[0].received_at)
    got: list[tuple[float, Alert]] = []

    async def sink(alerts: list[Alert]) -> None:
        got.extend((clock.now(), a) for a in alerts)

    runner = RuleRunner(eng, store, clock, sink, sweep_every_s=60, checkpoint_every_s=3600)
    try:
        i = 0
        next_sweep = clock.now() + 60
        while i < len(readings):
            j = i
            while j < len(readings) and readings[j].received_at <= clock.now():
                j += 1
            if j > i:
                await runner.on_readings(readings[i:j])
                i = j
            await runner.tick()
            if clock.now() >= next_sweep:
                await runner.sweep()
                next_sweep += 60
            clock.advance(step)
        got.extend((clock.now(), a) for a in eng.advance(end))
    finally:
        await db.dispose()
    return got


def _encoded(alerts: list[Alert]) -> list[bytes]:
    return sorted(msgspec.json.encode(a) for a in alerts)


async def test_live_runs_at_two_speeds_give_the_alerts_of_the_replay(street: Registry, tmp_path: Path) -> None:
    reg, readings, end = _readings(street)
    replayed = _replay(reg, readings, end)
    assert {a.rule_id for a in replayed} >= {"door_forced", "door_held_open", "smoke_alarm", "thrown_object"}
    fine = await _live(reg, readings, end, 1.0, tmp_path)
    coarse = await _live(reg, readings, end, 30.0, tmp_path)
    assert _encoded([a for _, a in fine]) == _encoded(replayed)
    assert _encoded([a for _, a in coarse]) == _encoded(replayed)

    # on time: a timer's raise reaches the sink within the slack and one step of its device's clock passing it
    offset: dict[str, float] = {}
    for r in readings:
        offset[r.device_id] = min(offset.get(r.device_id, r.received_at - r.ts), r.received_at - r.ts)
    last = readings[-1].received_at  # after it, the street falls silent: the end of the scenario
    timed = [(at, a) for at, a in fine if a.rule_id in TIMED and a.action is AlertAction.RAISE and at <= last]
    assert {a.rule_id for _, a in timed} == TIMED
    late = [
        (a.rule_id, a.device_id, at - a.ts - offset.get(a.device_id or "", 0.0))
        for at, a in timed
        if at - a.ts - offset.get(a.device_id or "", 0.0) > SLACK + 1.0 + 1e-6
    ]
    assert late == []
