"""Live progress: on a live stream a device's timers fire once that device's time has passed them (its own
later message, or the service clock corrected by its clock offset, plus the slack), not when the watermark
(the street's newest time minus the allowed lateness) does; alerts stay dated in event time."""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path

import pytest

from core.clock import ManualClock
from core.db import make_engine
from devices.registry import Registry
from rules.alert import Alert, AlertAction
from rules.engine import Engine
from rules.runner import RuleRunner, open_engine
from rules.state import RuleStateStore, create_tables
from tests.rules.support import T0, H, M, clears, raises, reading, registry, ruleset

RULES = """\
rules:
  - id: smoke_alarm
    kind: event
    title: Smoke alarm
    severity: critical
    device_class: smoke_detector
    cooldown: 2m
    pending: 40s
    cancel: [{channel: event, event: silenced}]
    match: [{channel: event, event: alarm}]
  - id: door_held_open
    kind: duration
    title: Door held open
    severity: minor
    device_class: access_control
    for: 5m
    start: [{event: held_open}]
    stop: [{event: door_closed}]
  - id: device_offline
    kind: heartbeat
    title: Offline
    severity: minor
    device_class: ai_camera
    k: 3
"""
SLACK = 1.0
LATENESS = 300.0


def live_engine(reg: Registry, **kw: float) -> Engine:
    return Engine(ruleset(RULES, reg), reg, allowed_lateness_s=LATENESS, live_slack_s=SLACK, **kw)


class Sink:
    """Keeps the alerts and the clock time each was handed on at."""

    def __init__(self, clock: ManualClock) -> None:
        self.clock = clock
        self.alerts: list[tuple[float, Alert]] = []
        self.got = asyncio.Event()

    async def __call__(self, alerts: list[Alert]) -> None:
        self.alerts += [(self.clock.now(), a) for a in alerts]
        self.got.set()


async def make_runner(
    tmp_path: Path, clock: ManualClock, queued: list[int] | None = None
) -> tuple[RuleRunner, Sink, RuleStateStore]:
    db = make_engine(f"sqlite+aiosqlite:///{tmp_path / 'rules.db'}")
    await create_tables(db)
    store = RuleStateStore(db)
    reg = registry()
    eng = await open_engine(store, ruleset(RULES, reg), reg, allowed_lateness_s=LATENESS, live_slack_s=SLACK)
    sink = Sink(clock)
    backlog = (lambda: queued[0]) if queued is not None else None
    return RuleRunner(eng, store, clock, sink, sweep_every_s=60, backlog=backlog), sink, store


# --- the engine -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("offset", [0.3, 120.0, -60.0], ids=["in-time", "clock-behind", "clock-ahead"])
def test_a_timer_fires_when_the_devices_clock_passes_it(offset: float) -> None:
    """The device's clock is the service clock minus its observed offset (`received_at - ts`): a smoke alarm
    whose detector runs two minutes behind (or a minute ahead) still waits 40 s, then fires within the slack."""
    reg = registry()
    eng = live_engine(reg)
    [p] = eng.process(reading(reg, "SD1", "event", T0, event="alarm", received_at=T0 + offset))
    assert (p.action, p.ts, p.until) == (AlertAction.PENDING, T0, T0 + 40)  # announced at once: verifying
    due_by_clock = T0 + offset + 40 + SLACK
    assert eng.advance_live(due_by_clock - 0.01) == []
    [a] = eng.advance_live(due_by_clock)
    assert (a.rule_id, a.ts, a.action) == ("smoke_alarm", T0 + 40, AlertAction.RAISE)
    assert eng.watermark == T0 - LATENESS  # the watermark did not move: late messages are still judged as such


def test_a_transport_delay_does_not_make_a_device_look_behind() -> None:
    """The offset is the smallest one seen: a message that took 20 s to arrive does not hold the device's
    timers back by 20 s."""
    reg = registry()
    eng = live_engine(reg)
    eng.process(reading(reg, "SD1", "status", T0 - 60, state="heartbeat", received_at=T0 - 59.8))
    eng.process(reading(reg, "SD1", "event", T0, event="alarm", received_at=T0 + 20))
    [a] = eng.advance_live(T0 + 40 + 0.2 + SLACK)
    assert a.ts == T0 + 40


def test_a_devices_own_later_message_fires_its_timer() -> None:
    """No clock tick at all: the door's own status message, dated after the limit, proves its time passed (its
    earlier messages have arrived), so the door held open fires before that message is judged."""
    reg = registry()
    eng = live_engine(reg)
    eng.process(reading(reg, "AC1", "event", T0, event="held_open"))
    out = eng.process(reading(reg, "AC1", "status", T0 + 5 * M + 1, state="heartbeat"))
    [a] = raises(out, "door_held_open")
    assert a.ts == T0 + 5 * M


def test_another_devices_message_does_not_fire_a_timer() -> None:
    reg = registry()
    eng = live_engine(reg)
    eng.process(reading(reg, "AC1", "event", T0, event="held_open"))
    assert eng.process(reading(reg, "CAM1", "status", T0 + 5 * M + 1, state="heartbeat")) == []


def test_a_timer_fires_once() -> None:
    """Fired live, a timer is passed over when the watermark reaches it: the offline alerts (CAM1 heard at T0,
    CAM2 never, timed from then) are not raised twice."""
    reg = registry()
    eng = live_engine(reg)
    eng.process(reading(reg, "CAM1", "status", T0, state="heartbeat", received_at=T0))
    fired = raises(eng.advance_live(T0 + 15 * M + SLACK), "device_offline")
    assert sorted(a.device_id or "" for a in fired) == ["CAM1", "CAM2"]
    assert raises(eng.advance(T0 + 15 * M + 1), "device_offline") == []
    assert raises(eng.advance(T0 + 60 * M), "device_offline") == []


def test_a_silence_that_arrives_after_the_wait_ended_takes_the_alarm_back() -> None:
    """The resident silenced the detector 30 s into the wait, but the message arrived after the wait had ended
    by the detector's clock: the critical alarm is cleared at once, flagged late, and the next alarm is a new
    episode (a new ticket), as if the first had never been raised."""
    reg = registry()
    eng = live_engine(reg)
    eng.process(reading(reg, "SD1", "event", T0, event="alarm", received_at=T0 + 0.2))
    [a] = eng.advance_live(T0 + 41.2)
    [c] = eng.process(reading(reg, "SD1", "event", T0 + 30, event="silenced", received_at=T0 + 42))
    assert (c.action, c.dedup_key, c.ts) == (AlertAction.CLEAR, a.dedup_key, T0 + 30)
    assert c.details["late"] is True
    assert c.details["wait_ended_at"] == T0 + 40
    eng.process(reading(reg, "SD1", "event", T0 + 90, event="alarm", received_at=T0 + 90.2))
    [again] = eng.advance_live(T0 + 131.2)
    assert again.action is AlertAction.RAISE
    assert again.dedup_key != a.dedup_key


def test_a_silence_after_the_wait_changes_nothing() -> None:
    reg = registry()
    eng = live_engine(reg)
    eng.process(reading(reg, "SD1", "event", T0, event="alarm", received_at=T0 + 0.2))
    eng.advance_live(T0 + 41.2)
    assert eng.process(reading(reg, "SD1", "event", T0 + 50, event="silenced", received_at=T0 + 50.2)) == []


def test_a_stop_that_arrives_after_the_limit_fired_live_clears_flagged_late() -> None:
    reg = registry()
    eng = live_engine(reg)
    eng.process(reading(reg, "AC1", "event", T0, event="held_open", received_at=T0))
    [a] = eng.advance_live(T0 + 5 * M + SLACK)
    [c] = clears(eng.process(reading(reg, "AC1", "event", T0 + 5 * M - 2, event="door_closed", received_at=T0 + 302)))
    assert (c.dedup_key, c.details["late"]) == (a.dedup_key, True)


def test_without_live_progress_timers_wait_for_the_watermark() -> None:
    """Replays (`live_slack_s` unset) are untouched: neither the clock nor the device's own message fires."""
    reg = registry()
    eng = Engine(ruleset(RULES, reg), reg, allowed_lateness_s=LATENESS)
    eng.process(reading(reg, "AC1", "event", T0, event="held_open", received_at=T0))
    assert eng.process(reading(reg, "AC1", "status", T0 + 5 * M + 1, state="heartbeat", received_at=T0 + 301)) == []
    assert eng.advance_live(T0 + H) == []
    assert eng.next_live_at() is None


# --- the runner -----------------------------------------------------------------------------------------------


async def test_the_runner_fires_a_live_timer_when_it_falls_due(tmp_path: Path) -> None:
    """The loop sleeps until the next live timer may fire, not until the next sweep: under a running clock the
    smoke alarm reaches the sink 40 s + offset + slack after the alarm (not a sweep and the lateness later)."""
    clock = ManualClock(T0)
    runner, sink, store = await make_runner(tmp_path, clock)
    reg = runner.engine.registry
    try:
        clock.set(T0 + 0.5)
        await runner.on_readings([reading(reg, "SD1", "event", T0, event="alarm", received_at=T0 + 0.5)])
        [(at, p)] = sink.alerts  # the wait is announced with its batch: the board shows it as verifying
        assert (at, p.action, p.until) == (T0 + 0.5, AlertAction.PENDING, T0 + 40)
        sink.alerts.clear()
        sink.got.clear()
        task = asyncio.create_task(runner.run())
        await asyncio.wait_for(sink.got.wait(), timeout=30)
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        [(at, a)] = sink.alerts
        assert (a.rule_id, a.ts) == ("smoke_alarm", T0 + 40)
        assert at == T0 + 40 + 0.5 + SLACK
    finally:
        await store.engine.dispose()


async def test_a_batch_wakes_the_sleeping_loop_for_an_earlier_timer(tmp_path: Path) -> None:
    """The loop sleeps towards the next sweep; an alarm judged meanwhile arms a timer due sooner, and the loop
    wakes for it."""
    clock = ManualClock(T0)
    runner, _sink, store = await make_runner(tmp_path, clock)
    reg = runner.engine.registry
    slept: list[float] = []
    ready = asyncio.Event()
    gate = asyncio.Event()

    async def sleep(seconds: float) -> None:  # a clock that lets the test act while the loop sleeps
        slept.append(seconds)
        ready.set()
        await gate.wait()

    clock.sleep = sleep  # type: ignore[method-assign]
    try:
        task = asyncio.create_task(runner.run())
        await asyncio.wait_for(ready.wait(), timeout=10)
        assert slept == [60]  # nothing armed: towards the sweep
        ready.clear()
        clock.set(T0 + 1)
        await runner.on_readings([reading(reg, "SD1", "event", T0 + 1, event="alarm", received_at=T0 + 1)])
        await asyncio.wait_for(ready.wait(), timeout=10)
        assert slept[-1] == 40 + SLACK  # woken, and asleep again towards the alarm
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
    finally:
        await store.engine.dispose()


async def test_queued_readings_hold_the_clock_back(tmp_path: Path) -> None:
    """While readings wait in the spool, live progress goes only as far as the newest receipt judged: the
    cameras whose heartbeats are still queued do not look silent, and one silent for real still goes offline
    once the receipts judged pass its limit."""
    clock = ManualClock(T0)
    queued = [0]
    runner, sink, store = await make_runner(tmp_path, clock, queued)
    reg = runner.engine.registry
    try:
        await runner.on_readings(
            [
                reading(reg, "CAM1", "status", T0, state="heartbeat", received_at=T0),
                reading(reg, "CAM2", "status", T0, state="heartbeat", received_at=T0),
            ]
        )
        queued[0] = 500  # an outage: two hours of heartbeats wait in the spool
        clock.set(T0 + 120 * M)
        assert await runner.tick() == []
        # the backlog is judged batch by batch; CAM2 kept sending, CAM1 went silent after T0
        for i in range(1, 5):
            t = T0 + i * 5 * M
            before = len(sink.alerts)
            await runner.on_readings([reading(reg, "CAM2", "status", t, state="heartbeat", received_at=t)])
            got = [a for _, a in sink.alerts[before:]]
            if t < T0 + 15 * M + SLACK:
                assert got == []
            else:  # the receipts judged passed CAM1's limit (15 min) and the slack
                assert [(a.device_id, a.ts) for a in raises(got)] == [("CAM1", T0 + 15 * M)]
        assert "CAM2" not in {a.device_id for _, a in sink.alerts}
    finally:
        await store.engine.dispose()


async def test_a_restart_keeps_pending_timers_and_clock_offsets(tmp_path: Path) -> None:
    """The alarm of a detector running 100 s behind is pending when the service stops; after the restart its
    wait still ends by the detector's own clock (the offset is in the saved state), not 100 s early."""
    clock = ManualClock(T0 + 100)
    runner, _sink, store = await make_runner(tmp_path, clock)
    reg = runner.engine.registry
    try:
        await runner.on_readings([reading(reg, "SD1", "event", T0, event="alarm", received_at=T0 + 100)])
        again, _, _ = await make_runner(tmp_path, clock)
        clock.set(T0 + 100 + 40 + SLACK - 0.01)
        assert await again.tick() == []
        clock.set(T0 + 100 + 40 + SLACK)
        [a] = await again.tick()
        assert (a.rule_id, a.ts) == ("smoke_alarm", T0 + 40)
        await again.store.engine.dispose()
    finally:
        await store.engine.dispose()


async def test_the_clock_is_held_while_the_broker_connection_is_down_and_just_made(tmp_path: Path) -> None:
    """While the connection is down the broker keeps CAM2's heartbeats; for `resume_s` after it is up again
    it delivers them first. Until then CAM2 must not look silent; CAM1, silent for real, goes offline after."""
    clock = ManualClock(T0)
    runner, _sink, store = await make_runner(tmp_path, clock)
    up = [True]
    runner.connected = lambda: up[0]
    reg = runner.engine.registry
    try:
        heard = [reading(reg, d, "status", T0, state="heartbeat", received_at=T0) for d in ("CAM1", "CAM2")]
        await runner.on_readings(heard)  # the connection is first seen up: settled from T0 + 30 s
        clock.set(T0 + 14 * M)
        assert await runner.tick() == []
        up[0] = False
        clock.set(T0 + 30 * M)
        assert await runner.tick() == []  # both due at T0 + 15 min by the clock, but the broker holds messages
        up[0] = True
        clock.set(T0 + 30 * M + 5)
        assert await runner.tick() == []  # just made: what the broker kept comes first
        queued = [T0 + 10 * M, T0 + 17 * M]  # (the watermark, 5 min behind them, does not pass CAM1's limit)
        await runner.on_readings(
            [reading(reg, "CAM2", "status", t, state="heartbeat", received_at=T0 + 30 * M + 6) for t in queued]
        )
        clock.set(T0 + 30 * M + 5 + runner.resume_s)
        [a] = raises(await runner.tick())
        assert (a.device_id, a.ts) == ("CAM1", T0 + 15 * M)
    finally:
        await store.engine.dispose()


async def test_what_a_tick_fired_fires_again_after_a_restart_before_a_save(tmp_path: Path) -> None:
    """A tick saves nothing: a crash after its hand-off restarts from the state in which the wait is still
    pending, so the alarm comes again with the same dedup key (folded into its ticket), never lost."""
    clock = ManualClock(T0)
    runner, _sink, store = await make_runner(tmp_path, clock)
    reg = runner.engine.registry
    try:
        await runner.on_readings([reading(reg, "SD1", "event", T0, event="alarm", received_at=T0)])
        clock.set(T0 + 40 + SLACK)
        [first] = await runner.tick()
        again, _, _ = await make_runner(tmp_path, clock)  # the crash: a new runner on the saved state
        [second] = await again.tick()
        assert (second.dedup_key, second.ts) == (first.dedup_key, first.ts)
        await again.store.engine.dispose()
    finally:
        await store.engine.dispose()
