"""Live progress for watched households: an absence proven at night and deferred to the end of the quiet hours
goes out when the household's meter's time reaches that end (its clock offset and the slack added), not five
minutes later when the watermark does; replays still wait for the watermark."""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path

from core.clock import ManualClock
from core.db import make_engine
from rules.alert import AlertAction
from rules.engine import Engine
from rules.runner import RuleRunner, open_engine
from rules.state import RuleStateStore, create_tables
from tests.rules.support import T0, H, raises, reading, registry, ruleset
from tests.rules.test_live import Sink

RULES = """\
rules:
  - id: elderly_no_water
    kind: absence
    title: No water
    severity: major
    window: 12h
    min_use_m3: 0.01
    scope: {household_tags: [watched]}
"""
SLACK = 1.0
LATENESS = 300.0
OFFSET = 0.3  # the meter's readings arrive 0.3 s after their time
QUIET_END = T0 + 30 * H  # Tuesday 06:00


def night(eng: Engine) -> None:
    """Monday 12:00 to Tuesday 05:00, hourly, with water used between 12:00 and 13:00 only: 12 h without water
    are due at Tuesday 00:00, inside the quiet hours (22:00-06:00), so the alert waits for 06:00."""
    reg = eng.registry
    volume = 50.0
    for i in range(18):
        t = T0 + (12 + i) * H
        volume += 0.05 if i == 1 else 0.0
        assert raises(eng.process(reading(reg, "WM1", "telemetry", t, volume_m3=volume, received_at=t + OFFSET))) == []


def test_a_deferred_absence_fires_when_the_meters_clock_reaches_the_end_of_the_quiet_hours() -> None:
    reg = registry()
    eng = Engine(ruleset(RULES, reg), reg, allowed_lateness_s=LATENESS, live_slack_s=SLACK)
    night(eng)
    assert eng.next_live_at() == QUIET_END + OFFSET + SLACK
    assert eng.advance_live(QUIET_END + OFFSET + SLACK - 0.01) == []
    [a] = raises(eng.advance_live(QUIET_END + OFFSET + SLACK))
    assert (a.rule_id, a.ts, a.details["deferred_from"]) == ("elderly_no_water", QUIET_END, T0 + 24 * H)
    assert eng.watermark == T0 + 29 * H - LATENESS  # the watermark did not move
    assert raises(eng.advance(QUIET_END + H)) == []  # the watermark passing it later fires nothing again


def test_a_replay_waits_for_the_watermark() -> None:
    """Without live progress the deferred absence fires when the watermark reaches 06:00, dated the same."""
    reg = registry()
    eng = Engine(ruleset(RULES, reg), reg, allowed_lateness_s=LATENESS)
    night(eng)
    assert eng.advance_live(QUIET_END + H) == []
    assert raises(eng.advance(QUIET_END - 1)) == []
    [a] = raises(eng.advance(QUIET_END))
    assert a.ts == QUIET_END


async def test_the_runner_hands_on_a_deferred_absence_on_time(tmp_path: Path) -> None:
    """Under a running (injected) clock, the runner's loop wakes for the deferred absence and hands it on at
    06:00 plus the meter's offset and the slack, not a sweep and the lateness later."""
    clock = ManualClock(T0 + 12 * H)
    db = make_engine(f"sqlite+aiosqlite:///{tmp_path / 'rules.db'}")
    await create_tables(db)
    store = RuleStateStore(db)
    reg = registry()
    eng = await open_engine(store, ruleset(RULES, reg), reg, allowed_lateness_s=LATENESS, live_slack_s=SLACK)
    sink = Sink(clock)
    runner = RuleRunner(eng, store, clock, sink, sweep_every_s=60)
    try:
        volume = 50.0
        for i in range(18):
            t = T0 + (12 + i) * H
            volume += 0.05 if i == 1 else 0.0
            clock.set(t + OFFSET)
            await runner.on_readings([reading(reg, "WM1", "telemetry", t, volume_m3=volume, received_at=t + OFFSET)])
        assert sink.alerts == []
        sink.got.clear()
        clock.set(QUIET_END - 10)
        task = asyncio.create_task(runner.run())
        await asyncio.wait_for(sink.got.wait(), timeout=30)
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        [(at, a)] = sink.alerts
        assert (a.action, a.rule_id, a.ts) == (AlertAction.RAISE, "elderly_no_water", QUIET_END)
        assert at == QUIET_END + OFFSET + SLACK
    finally:
        await db.dispose()
