"""Duration rules: door held open, water running for hours, smoke alarm not cleared."""

from __future__ import annotations

from rules.alert import Alert
from rules.engine import Engine
from tests.rules.support import T0, H, M, clears, default_rules, engine, raises, reading, registry

DOOR = """
rules:
  - id: door_held_open
    kind: duration
    title: Door held open
    severity: minor
    device_class: access_control
    for: 5m
    start: [{event: held_open}, {channel: telemetry, where: {door_open: true}}]
    stop: [{event: door_closed}, {channel: telemetry, where: {door_open: false}}]
"""


def test_door_held_open_raises_when_the_time_is_up_and_clears_on_close() -> None:
    reg = registry()
    eng = engine(DOOR, reg, allowed_lateness_s=0)
    assert eng.process(reading(reg, "AC1", "event", T0, event="held_open", door="e", held_open_s=60.0)) == []
    assert eng.advance(T0 + 4 * M) == []
    [r] = raises(eng.advance(T0 + 6 * M))
    assert r.ts == T0 + 5 * M  # dated when the limit passed, not when the sweep ran
    assert r.details["since"] == T0
    # further held_open reports while open change nothing
    assert eng.process(reading(reg, "AC1", "event", T0 + 7 * M, event="held_open", held_open_s=480.0)) == []
    [c] = clears(eng.process(reading(reg, "AC1", "event", T0 + 9 * M, event="door_closed")))
    assert c.details["lasted_s"] == 9 * M


def test_door_closed_in_time_raises_nothing() -> None:
    reg = registry()
    eng = engine(DOOR, reg, allowed_lateness_s=0)
    eng.process(reading(reg, "AC1", "telemetry", T0, door_open=True))
    assert eng.process(reading(reg, "AC1", "telemetry", T0 + 4 * M, door_open=False)) == []
    assert eng.advance(T0 + H) == []


def test_stop_that_arrives_before_the_timer_fired_still_raises_and_clears() -> None:
    # the watermark lags by the allowed lateness; the close message proves the door stayed open 6 minutes
    reg = registry()
    eng = engine(DOOR, reg, allowed_lateness_s=600)
    eng.process(reading(reg, "AC1", "event", T0, event="held_open"))
    out = eng.process(reading(reg, "AC1", "event", T0 + 6 * M, event="door_closed"))
    [r] = raises(out)
    [c] = clears(out)
    assert (r.ts, c.ts) == (T0 + 5 * M, T0 + 6 * M)
    assert eng.advance(T0 + H) == []


def test_start_offset_field_backdates_the_start() -> None:
    reg = registry()
    eng = engine(DOOR + "    start_offset_field: held_open_s\n", reg, allowed_lateness_s=0)
    eng.process(reading(reg, "AC1", "event", T0, event="held_open", held_open_s=120.0))
    [r] = raises(eng.advance(T0 + 4 * M))
    assert r.ts == T0 + 3 * M


def test_old_start_arriving_after_its_stop_is_ignored() -> None:
    reg = registry()
    eng = engine(DOOR, reg, allowed_lateness_s=3600)
    eng.process(reading(reg, "AC1", "event", T0 + 60, event="door_closed"))
    eng.process(reading(reg, "AC1", "event", T0, event="held_open"))
    assert eng.advance(T0 + H) == []


def test_water_running_two_hours_is_confirmed_by_readings() -> None:
    reg = registry()
    eng = Engine(default_rules(reg), reg, allowed_lateness_s=0)
    vol = 100.0

    def meter(t: float, flow: float, used_l: float) -> list[Alert]:
        nonlocal vol
        vol += used_l / 1000
        out = eng.process(reading(reg, "WM2", "telemetry", t, volume_m3=round(vol, 3), flow_lpm=flow))
        return [a for a in out if a.rule_id == "water_continuous_flow"]

    assert meter(T0, 0.0, 0) == []
    assert meter(T0 + H, 6.0, 60) == []  # tap opened ten minutes before this reading
    assert meter(T0 + 2 * H, 6.0, 360) == []
    assert raises(eng.advance(T0 + 3 * H - 1), "water_continuous_flow") == []  # time alone never raises
    [r] = raises(meter(T0 + 3 * H, 6.0, 360), "water_continuous_flow")
    assert r.ts == T0 + 3 * H
    assert r.details["since"] == T0 + H
    [c] = clears(meter(T0 + 4 * H, 0.0, 100), "water_continuous_flow")
    assert c.ts == T0 + 4 * H


def test_a_shower_during_two_readings_is_not_continuous_flow() -> None:
    reg = registry()
    eng = Engine(default_rules(reg), reg, allowed_lateness_s=0)
    vol = 100.0
    out = []
    for i, (flow, used) in enumerate([(0, 0), (8.0, 50), (7.0, 30), (0.0, 10), (0, 5)]):
        vol += used / 1000
        out += eng.process(reading(reg, "WM2", "telemetry", T0 + i * H, volume_m3=round(vol, 3), flow_lpm=flow))
    assert raises(out, "water_continuous_flow") == []


def test_smoke_alarm_not_cleared_for_ten_minutes() -> None:
    reg = registry()
    eng = Engine(default_rules(reg), reg, allowed_lateness_s=0)
    first = eng.process(reading(reg, "SD1", "event", T0, event="alarm", smoke_obscuration_pct=16.0))
    assert [a.rule_id for a in raises(first)] == ["smoke_concentration"]
    later = eng.advance(T0 + 11 * M)
    [a] = raises(later, "smoke_alarm")  # after its 40 s wait for a silence
    assert a.ts == T0 + 40
    [r] = raises(later, "smoke_not_cleared")
    assert r.ts == T0 + 10 * M
    out = eng.process(reading(reg, "SD1", "event", T0 + 12 * M, event="alarm_cleared", smoke_obscuration_pct=1.0))
    assert sorted(a.rule_id for a in clears(out)) == ["smoke_alarm", "smoke_concentration", "smoke_not_cleared"]
