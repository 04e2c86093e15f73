"""Late and out-of-order messages, the watermark, and clock skew (the policy in docs/rules.md)."""

from __future__ import annotations

from rules.engine import Engine
from tests.rules.support import T0, H, M, clears, default_rules, engine, raises, reading, registry

SMOKE = """
rules:
  - id: smoke_alarm
    kind: event
    title: Smoke alarm
    severity: critical
    device_class: smoke_detector
    match: [{event: alarm}]
    clear: [{event: alarm_cleared}]
"""


def test_watermark_trails_the_newest_event_time_by_the_lateness() -> None:
    reg = registry()
    eng = engine(SMOKE, reg, allowed_lateness_s=300)
    assert eng.watermark is None
    eng.process(reading(reg, "CAM1", "status", T0 + 1000, state="heartbeat"))
    assert eng.watermark == T0 + 700
    eng.process(reading(reg, "CAM1", "status", T0 + 10, state="heartbeat"))  # older: never moves it back
    assert eng.watermark == T0 + 700
    eng.advance(T0 + 5000)
    assert eng.watermark == T0 + 5000
    eng.advance(T0 + 100)
    assert eng.watermark == T0 + 5000


def test_a_late_alarm_still_raises_marked_late() -> None:
    reg = registry()
    eng = engine(SMOKE, reg, allowed_lateness_s=60)
    eng.advance(T0 + H)
    [r] = raises(eng.process(reading(reg, "SD1", "event", T0, event="alarm")))
    assert r.ts == T0
    assert r.details["late"] is True


def test_a_device_clock_far_ahead_does_not_move_the_watermark() -> None:
    reg = registry()
    eng = engine(SMOKE, reg, allowed_lateness_s=0)
    eng.process(reading(reg, "CAM1", "status", T0, state="heartbeat", received_at=T0))
    eng.process(reading(reg, "CAM2", "status", T0 + 365 * 24 * H, state="heartbeat", received_at=T0 + 1))
    assert eng.watermark == T0


def test_out_of_order_stop_and_start_within_the_lateness_give_the_in_order_answer() -> None:
    reg = registry()
    in_order = Engine(default_rules(reg), reg, allowed_lateness_s=600)
    shuffled = Engine(default_rules(reg), reg, allowed_lateness_s=600)
    msgs = [
        reading(reg, "AC1", "event", T0, event="held_open"),
        reading(reg, "AC1", "event", T0 + 3 * M, event="door_closed"),
        reading(reg, "AC1", "event", T0 + 10 * M, event="held_open"),
        reading(reg, "AC1", "event", T0 + 17 * M, event="door_closed"),
    ]
    a = in_order.process_many(msgs) + in_order.advance(T0 + H)
    b = shuffled.process_many([msgs[1], msgs[0], msgs[3], msgs[2]]) + shuffled.advance(T0 + H)

    def held(alerts: list) -> list[tuple[str, float]]:
        return [(x.action.value, x.ts) for x in alerts if x.rule_id == "door_held_open"]

    assert held(a) == [("raise", T0 + 15 * M), ("clear", T0 + 17 * M)]
    assert held(b) == held(a)


def test_replay_gives_the_same_alerts_whatever_the_sweep_interval() -> None:
    reg = registry()
    msgs = [reading(reg, "CAM1", "status", T0 + i * 5 * M, state="heartbeat") for i in range(6)]
    msgs += [reading(reg, "AC1", "event", T0 + 40 * M, event="held_open")]
    msgs += [reading(reg, "CAM2", "status", T0 + i * 5 * M, state="heartbeat") for i in range(30)]
    msgs.sort(key=lambda r: r.ts)

    def run(sweep_every: float) -> list[tuple[str, str, float]]:
        eng = Engine(default_rules(reg), reg, allowed_lateness_s=120)
        out = []
        next_sweep = T0
        for m in msgs:
            while m.ts >= next_sweep:
                out += eng.advance(next_sweep - 120)
                next_sweep += sweep_every
            out += eng.process(m)
        out += eng.advance(T0 + 3 * H)
        return sorted((a.action.value, a.dedup_key, a.ts) for a in out)

    assert run(60) == run(1800)
    assert ("raise", "door_held_open:AC1", T0 + 45 * M) in run(60)


def test_clear_of_a_late_reading_is_dated_by_the_reading() -> None:
    reg = registry()
    eng = engine(SMOKE, reg, allowed_lateness_s=0)
    eng.process(reading(reg, "SD1", "event", T0, event="alarm"))
    eng.advance(T0 + H)
    [c] = clears(eng.process(reading(reg, "SD1", "event", T0 + 30 * M, event="alarm_cleared")))
    assert c.ts == T0 + 30 * M
    assert c.details["late"] is True
