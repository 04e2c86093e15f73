"""The runner: batches to the sink then saved, sweeps on the clock, hot reload without losing state."""

from __future__ import annotations

import asyncio
import contextlib
import time
from pathlib import Path
from typing import Any

import pytest

from core.clock import ManualClock
from core.db import make_engine
from rules.alert import Alert
from rules.config import load_ruleset
from rules.engine import Engine, EngineState
from rules.runner import RuleRunner, open_engine
from rules.state import RuleStateStore, create_tables
from tests.rules.support import T0, M, reading, registry

RULES = """\
rules:
  - id: door_held_open
    kind: duration
    title: Door held open
    severity: minor
    device_class: access_control
    for: 5m
    start: [{event: held_open}]
    stop: [{event: door_closed}]
  - id: thrown_object
    kind: event
    title: Thrown object
    severity: critical
    device_class: ai_camera
    match: [{event: thrown_object, where: {confidence: {gte: 0.8}}}]
"""


class Sink:
    def __init__(self) -> None:
        self.alerts: list[Alert] = []
        self.got = asyncio.Event()

    async def __call__(self, alerts: list[Alert]) -> None:
        self.alerts.extend(alerts)
        self.got.set()


async def make(tmp_path: Path) -> tuple[RuleRunner, Sink, RuleStateStore, ManualClock, Path]:
    reg = registry()
    path = tmp_path / "rules.yaml"
    path.write_text(RULES, encoding="utf-8")
    db = make_engine(f"sqlite+aiosqlite:///{tmp_path}/state.db")
    await create_tables(db)
    store = RuleStateStore(db)
    eng = await open_engine(store, load_ruleset(path, reg), reg, allowed_lateness_s=60)
    clock = ManualClock(T0)
    sink = Sink()
    return RuleRunner(eng, store, clock, sink, sweep_every_s=60, rules_path=path), sink, store, clock, path


async def test_batch_alerts_reach_the_sink_and_the_state_is_saved(tmp_path: Path) -> None:
    runner, sink, store, _, _ = await make(tmp_path)
    reg = runner.engine.registry
    try:
        await runner.on_readings([reading(reg, "CAM1", "event", T0, event="thrown_object", confidence=0.95)])
        assert [a.rule_id for a in sink.alerts] == ["thrown_object"]
        saved = await store.load()
        assert saved is not None
        assert EngineState.from_bytes(saved[0]).rules["thrown_object"]["emitter"]["last_raise"]
    finally:
        await store.engine.dispose()


async def test_sweep_fires_timers_on_clock_time_minus_lateness(tmp_path: Path) -> None:
    runner, sink, store, clock, _ = await make(tmp_path)
    reg = runner.engine.registry
    try:
        await runner.on_readings([reading(reg, "AC1", "event", T0, event="held_open")])
        clock.set(T0 + 5 * M + 30)
        assert await runner.sweep() == []  # 5 min 30 s minus 60 s of lateness: not yet
        clock.set(T0 + 6 * M + 1)
        [a] = await runner.sweep()
        assert a.ts == T0 + 5 * M
        assert sink.alerts == [a]
    finally:
        await store.engine.dispose()


async def test_each_sweep_that_succeeds_reports_its_time_and_alerts(tmp_path: Path) -> None:
    runner, _sink, store, clock, _ = await make(tmp_path)
    reg = runner.engine.registry
    told: list[tuple[float, int]] = []
    runner.on_sweep = lambda took, raised: told.append((took, raised))
    try:
        await runner.on_readings([reading(reg, "AC1", "event", T0, event="held_open")])
        await runner.sweep()
        clock.set(T0 + 6 * M + 1)
        await runner.sweep()
        assert [raised for _, raised in told] == [0, 1]
        assert all(took >= 0 for took, _ in told)
    finally:
        await store.engine.dispose()


async def test_hot_reload_keeps_running_state_and_refuses_a_bad_file(tmp_path: Path) -> None:
    runner, _sink, store, clock, path = await make(tmp_path)
    reg = runner.engine.registry
    told: list[tuple[Path, str, int]] = []
    runner.on_reload = lambda *change: told.append(change)
    try:
        await runner.on_readings([reading(reg, "AC1", "event", T0, event="held_open")])
        path.write_text(RULES.replace("for: 5m", "for: 2x"), encoding="utf-8")
        await runner.sweep()
        assert runner.last_reload_error is not None
        assert "rules.yaml:7" in str(runner.last_reload_error)
        assert runner.reloads == 0
        path.write_text(RULES.replace("for: 5m", "for: 3m"), encoding="utf-8")
        clock.set(T0 + 4 * M + 1)
        [a] = await runner.sweep()
        assert runner.reloads == 1
        assert runner.last_reload_error is None
        assert [(p, n) for p, _, n in told] == [(path, len(runner.engine.ruleset.rules))]  # the bad file: not told
        assert a.ts == T0 + 3 * M  # the door that opened before the reload is judged by the new limit
    finally:
        await store.engine.dispose()


async def test_run_loop_sweeps_until_cancelled(tmp_path: Path) -> None:
    runner, sink, store, _, _ = await make(tmp_path)
    reg = runner.engine.registry
    try:
        await runner.on_readings([reading(reg, "AC1", "event", T0, event="held_open")])
        task = asyncio.create_task(runner.run())
        await asyncio.wait_for(sink.got.wait(), timeout=10)
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        assert [a.rule_id for a in sink.alerts] == ["door_held_open"]
    finally:
        await store.engine.dispose()


async def test_restart_through_open_engine(tmp_path: Path) -> None:
    runner, _sink, store, _clock, path = await make(tmp_path)
    reg = runner.engine.registry
    try:
        await runner.on_readings([reading(reg, "AC1", "event", T0, event="held_open")])
        again = await open_engine(store, load_ruleset(path, reg), reg, allowed_lateness_s=60)
        assert isinstance(again, Engine)
        out = again.advance(T0 + 6 * M)
        assert [a.rule_id for a in out] == ["door_held_open"]
    finally:
        await store.engine.dispose()


class FailingSink(Sink):
    """The alerts service with its database down for the next `n` hand-offs."""

    def __init__(self, n: int) -> None:
        super().__init__()
        self.down = n

    async def __call__(self, alerts: list[Alert]) -> None:
        if self.down > 0:
            self.down -= 1
            raise ConnectionError("ticket store unreachable")
        await super().__call__(alerts)


async def test_a_batch_whose_alerts_could_not_be_handed_on_raises_them_when_retried(tmp_path: Path) -> None:
    """The spool hands the same batch again after a failure; the engine must judge it as if for the first time
    (not as messages it has already seen), or the thrown object and the count behind it are lost."""
    runner, _sink, store, clock, _path = await make(tmp_path)
    sink = FailingSink(1)
    runner.sink = sink
    reg = runner.engine.registry
    batch = [
        reading(reg, "AC1", "event", T0, event="held_open"),
        reading(reg, "CAM1", "event", T0 + 1, event="thrown_object", confidence=0.95),
    ]
    try:
        with contextlib.suppress(ConnectionError):
            await runner.on_readings(batch)
        assert sink.alerts == []
        await runner.on_readings(batch)  # the spool's retry
        assert [a.rule_id for a in sink.alerts] == ["thrown_object"]
        # and the door opened in that batch is still timed: it is held open at T0 + 5 min
        sink.down = 1
        clock.set(T0 + 6 * M + 1)
        with contextlib.suppress(ConnectionError):
            await runner.sweep()
        [held] = await runner.sweep()  # the next sweep raises what the failed one could not hand on
        assert (held.rule_id, held.ts) == ("door_held_open", T0 + 5 * M)
        assert [a.rule_id for a in sink.alerts] == ["thrown_object", "door_held_open"]
    finally:
        await store.engine.dispose()


async def test_the_sweep_loop_outlives_failed_sweeps(tmp_path: Path) -> None:
    """Two sweeps fail (the ticket database is down): the loop goes on, the third sweep hands the door on, and
    the watchdog says unhealthy only while no sweep succeeds."""
    runner, _sink, store, _clock, _path = await make(tmp_path)
    sink = FailingSink(2)
    runner.sink = sink
    reg = runner.engine.registry
    try:
        await runner.on_readings([reading(reg, "AC1", "event", T0, event="held_open")])
        sink.down = 3  # the batch had no alert to hand on: the next three hand-offs (sweeps) fail
        task = asyncio.create_task(runner.run())

        deadline = time.monotonic() + 10
        # a sweep that succeeded after the three failed ones (the door is due at T0 + 6 min)
        while runner.last_sweep_at is None or runner.last_sweep_at < T0 + 9 * M:
            assert time.monotonic() < deadline, "no sweep succeeded after the failed ones"
            await asyncio.sleep(0.01)
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        assert [a.rule_id for a in sink.alerts] == ["door_held_open"]
        assert runner.failed_sweeps == 3
        assert runner.healthy()
        runner.last_sweep_at = None
        assert not runner.healthy()  # three failures and no success
    finally:
        await store.engine.dispose()


async def test_a_rule_that_fails_on_a_reading_is_passed_over(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """An evaluator bug on one message must not stop the rules: the rest of its batch is judged, and the batch
    is not handed again forever."""
    from rules.kinds.match import EventEvaluator

    runner, sink, store, _clock, _path = await make(tmp_path)
    reg = runner.engine.registry
    original = EventEvaluator.on_reading

    def broken_on_cam2(self: EventEvaluator, r: Any, prev: Any, ctx: Any) -> None:
        if r.device_id == "CAM2":
            raise KeyError("a bug")
        original(self, r, prev, ctx)

    monkeypatch.setattr(EventEvaluator, "on_reading", broken_on_cam2)
    runner.engine.reload(runner.engine.ruleset)  # rebuild the routes with the patched method
    try:
        await runner.on_readings(
            [
                reading(reg, "CAM2", "event", T0, event="thrown_object", confidence=0.95),
                reading(reg, "CAM1", "event", T0 + 1, event="thrown_object", confidence=0.95),
            ]
        )
        assert [a.device_id for a in sink.alerts] == ["CAM1"]
        assert runner.engine.failures == 1  # the engine passed over the broken rule on that message
    finally:
        await store.engine.dispose()
