"""Event match, threshold (hysteresis) and count-in-window rules, dedup keys and cooldowns."""

from __future__ import annotations

from rules.alert import Alert, AlertAction, Severity
from tests.rules.support import T0, M, clears, engine, raises, reading, registry

SMOKE = """
rules:
  - id: smoke_alarm
    kind: event
    title: Smoke alarm
    severity: critical
    device_class: smoke_detector
    cooldown: 2m
    match: [{event: alarm}]
    clear: [{event: alarm_cleared}]
"""


def test_event_rule_raises_repeats_after_cooldown_and_clears() -> None:
    reg = registry()
    eng = engine(SMOKE, reg)
    a = eng.process(reading(reg, "SD1", "event", T0, event="alarm", smoke_obscuration_pct=14.0))
    [r] = raises(a)
    assert (r.dedup_key, r.severity, r.household_id, r.details["smoke_obscuration_pct"]) == (
        "smoke_alarm:SD1",
        Severity.CRITICAL,
        "h1",
        14.0,
    )
    # a repeat inside the cooldown is held back, one after it updates the open alert
    assert eng.process(reading(reg, "SD1", "event", T0 + 30, event="alarm")) == []
    assert len(raises(eng.process(reading(reg, "SD1", "event", T0 + 3 * M, event="alarm")))) == 1
    [c] = clears(eng.process(reading(reg, "SD1", "event", T0 + 4 * M, event="alarm_cleared")))
    assert c.dedup_key == "smoke_alarm:SD1"
    # cleared: the next alarm raises at once, whatever the cooldown
    assert len(raises(eng.process(reading(reg, "SD1", "event", T0 + 5 * M, event="alarm")))) == 1


def test_clear_without_open_alert_says_nothing() -> None:
    reg = registry()
    eng = engine(SMOKE, reg)
    assert eng.process(reading(reg, "SD1", "event", T0, event="alarm_cleared")) == []


def test_pulse_rule_episodes_get_their_own_keys() -> None:
    reg = registry()
    eng = engine(
        """
rules:
  - id: thrown_object
    kind: event
    title: Thrown object
    severity: critical
    device_class: ai_camera
    cooldown: 10m
    match: [{event: thrown_object, where: {confidence: {gte: 0.8}}}]
""",
        reg,
    )

    def seen(t: float) -> list[str]:
        out = eng.process(reading(reg, "CAM1", "event", t, event="thrown_object", confidence=0.9, state="pulse"))
        return [a.dedup_key for a in raises(out)]

    assert seen(T0) == [f"thrown_object:CAM1@{int(T0)}"]
    assert seen(T0 + 5 * M) == []  # same episode
    assert seen(T0 + 14 * M) == []  # still the same: less than 10 min after the previous match
    assert seen(T0 + 40 * M) == [f"thrown_object:CAM1@{int(T0 + 40 * M)}"]


def test_scope_limits_devices() -> None:
    reg = registry()
    eng = engine(
        """
rules:
  - id: cam
    kind: event
    title: Camera
    severity: major
    device_class: ai_camera
    scope: {buildings: [b2]}
    match: [{event: intrusion}]
""",
        reg,
    )
    assert eng.process(reading(reg, "CAM1", "event", T0, event="intrusion", confidence=0.9)) == []
    assert len(raises(eng.process(reading(reg, "CAM2", "event", T0, event="intrusion", confidence=0.9)))) == 1


GAS = """
rules:
  - id: gas_leak
    kind: threshold
    title: Gas
    severity: critical
    device_class: gas_detector
    field: gas_lel_pct
    op: ">="
    value: 25
    clear_value: 10
    also: [{event: alarm}]
    clear: [{event: alarm_cleared}]
"""


def test_threshold_raises_on_crossing_and_clears_below_the_clear_level() -> None:
    reg = registry()
    eng = engine(GAS, reg)
    assert eng.process(reading(reg, "GD1", "telemetry", T0, gas_lel_pct=5.0)) == []
    [r] = raises(eng.process(reading(reg, "GD1", "telemetry", T0 + 60, gas_lel_pct=30.0)))
    assert r.details["gas_lel_pct"] == 30.0
    # between the levels: still open, nothing new
    assert eng.process(reading(reg, "GD1", "telemetry", T0 + 120, gas_lel_pct=15.0)) == []
    assert len(clears(eng.process(reading(reg, "GD1", "telemetry", T0 + 180, gas_lel_pct=9.0)))) == 1


def test_threshold_also_and_clear_events() -> None:
    reg = registry()
    eng = engine(GAS, reg)
    assert len(raises(eng.process(reading(reg, "GD1", "event", T0, event="alarm")))) == 1
    assert len(clears(eng.process(reading(reg, "GD1", "event", T0 + 60, event="alarm_cleared")))) == 1


def test_detector_alarm_waits_for_its_own_clear_not_for_a_low_reading() -> None:
    reg = registry()
    eng = engine(GAS, reg)
    assert len(raises(eng.process(reading(reg, "GD1", "event", T0, event="alarm", gas_lel_pct=29.0)))) == 1
    assert eng.process(reading(reg, "GD1", "telemetry", T0 + 60, gas_lel_pct=0.6)) == []
    assert eng.process(reading(reg, "GD1", "telemetry", T0 + 120, gas_lel_pct=54.0)) == []  # same episode
    assert len(clears(eng.process(reading(reg, "GD1", "event", T0 + 600, event="alarm_cleared")))) == 1


def test_threshold_ignores_non_numeric_and_missing_values() -> None:
    reg = registry()
    eng = engine(GAS, reg)
    assert eng.process(reading(reg, "GD1", "telemetry", T0, co_ppm=3.0)) == []
    assert eng.process(reading(reg, "GD1", "telemetry", T0, gas_lel_pct=True)) == []


BATTERY = """
rules:
  - id: low_battery
    kind: threshold
    title: Battery
    severity: warning
    field: battery_pct
    op: "<"
    value: 15
    clear_value: 25
    also:
      - {event: low_battery}
      - {channel: telemetry, where: {low_battery: true}}
"""


def test_threshold_judges_messages_without_its_field_only_when_also_can_match() -> None:
    """Most messages lack the field (a camera's heartbeat): the rule skips them unless a condition of `also` or
    `clear` can match on their channel, by event or, without an event, by any field."""
    reg = registry()
    eng = engine(BATTERY, reg)
    assert eng.process(reading(reg, "CAM1", "status", T0, state="heartbeat")) == []
    [a] = raises(eng.process(reading(reg, "WM2", "event", T0 + 60, event="low_battery")))
    assert a.device_id == "WM2"
    [b] = raises(eng.process(reading(reg, "WM1", "telemetry", T0 + 120, volume_m3=1.0, low_battery=True)))
    assert b.device_id == "WM1"
    assert eng.process(reading(reg, "WM3", "telemetry", T0 + 180, volume_m3=1.0, low_battery=False)) == []
    [c] = clears(eng.process(reading(reg, "WM1", "telemetry", T0 + 240, battery_pct=80.0)))
    assert c.device_id == "WM1"


FACE = """
rules:
  - id: face_fail_burst
    kind: count
    title: Face failures
    severity: major
    device_class: access_control
    threshold: 5
    window: 5m
    group_by: door
    match: [{event: [face_verification_failed, liveness_failed]}]
"""


def test_count_raises_at_the_fifth_failure_within_the_window() -> None:
    reg = registry()
    eng = engine(FACE, reg)
    out = []
    for i in range(4):
        out += eng.process(reading(reg, "AC1", "event", T0 + i * 25, event="face_verification_failed", door="east"))
    assert out == []
    # another door does not add up
    assert eng.process(reading(reg, "AC1", "event", T0 + 101, event="liveness_failed", door="west")) == []
    [r] = raises(eng.process(reading(reg, "AC1", "event", T0 + 100, event="liveness_failed", door="east")))
    assert r.details["count"] == 5
    assert r.dedup_key.startswith("face_fail_burst:AC1:east@")


def test_count_forgets_hits_older_than_the_window() -> None:
    reg = registry()
    eng = engine(FACE, reg)
    out = []
    for i in range(8):  # one failure every 2 minutes: never 5 within 5 minutes
        out += eng.process(reading(reg, "AC1", "event", T0 + i * 120, event="face_verification_failed", door="e"))
    assert out == []


def test_count_counts_late_hits_in_their_place() -> None:
    reg = registry()
    eng = engine(FACE, reg)
    times = [T0 + 200, T0 + 100, T0 + 0, T0 + 50, T0 + 150]
    out = []
    for t in times:
        out += eng.process(reading(reg, "AC1", "event", t, event="face_verification_failed", door="e"))
    assert len(raises(out)) == 1


def test_count_clear_after_quiet_period() -> None:
    reg = registry()
    eng = engine(FACE.replace("group_by: door", "group_by: door\n    clear_after: 10m"), reg)
    out = []
    for i in range(5):
        out += eng.process(reading(reg, "AC1", "event", T0 + i * 10, event="face_verification_failed", door="e"))
    [r] = raises(out)
    assert r.dedup_key == "face_fail_burst:AC1:e"
    assert eng.advance(T0 + 5 * 60) == []
    [c] = clears(eng.advance(T0 + 20 * 60))
    assert c.ts == T0 + 40 + 600


PENDING = SMOKE.replace("cooldown: 2m", "cooldown: 2m\n    pending: 40s\n    cancel: [{event: silenced}]")


def actions(alerts: list[Alert]) -> list[tuple[str, str, float, float | None]]:
    return [(a.action.value, a.dedup_key, a.ts, a.until) for a in alerts]


def test_pending_match_is_announced_then_withdrawn_when_cancelled_in_time() -> None:
    reg = registry()
    eng = engine(PENDING, reg, allowed_lateness_s=0)
    [p] = eng.process(reading(reg, "SD1", "event", T0, event="alarm", smoke_obscuration_pct=6.0))
    assert actions([p]) == [("pending", "smoke_alarm:SD1", T0, T0 + 40)]
    assert (p.severity, p.details["pending_s"], p.details["smoke_obscuration_pct"]) == (Severity.CRITICAL, 40, 6.0)
    [c] = eng.process(reading(reg, "SD1", "event", T0 + 20, event="silenced"))
    assert actions([c]) == [("cancel", "smoke_alarm:SD1", T0 + 20, T0 + 40)]
    assert c.details["event"] == "silenced"
    assert eng.advance(T0 + 10 * M) == []


def test_pending_match_cleared_in_its_wait_is_withdrawn() -> None:
    reg = registry()
    eng = engine(PENDING, reg, allowed_lateness_s=0)
    eng.process(reading(reg, "SD1", "event", T0, event="alarm"))
    out = eng.process(reading(reg, "SD1", "event", T0 + 10, event="alarm_cleared"))
    assert actions(out) == [("cancel", "smoke_alarm:SD1", T0 + 10, T0 + 40)]
    assert eng.advance(T0 + 10 * M) == []


def test_a_pulse_rules_wait_is_announced_under_its_episodes_key_once() -> None:
    reg = registry()
    eng = engine(PENDING.replace("    clear: [{event: alarm_cleared}]\n", ""), reg, allowed_lateness_s=0)
    out = eng.process(reading(reg, "SD1", "event", T0, event="alarm"))
    out += eng.advance(T0 + M)
    key = f"smoke_alarm:SD1@{int(T0 + 40)}"
    assert actions(out) == [("pending", key, T0, T0 + 40), ("raise", key, T0 + 40, None)]
    # a match within the cooldown of that raise would be held back: its wait is not announced, nor withdrawn
    assert eng.process(reading(reg, "SD1", "event", T0 + 70, event="alarm")) == []
    assert eng.process(reading(reg, "SD1", "event", T0 + 80, event="silenced")) == []


def test_pending_match_raises_when_nothing_cancels_it() -> None:
    reg = registry()
    eng = engine(PENDING, reg, allowed_lateness_s=0)
    [p] = eng.process(reading(reg, "SD1", "event", T0, event="alarm", smoke_obscuration_pct=15.0))
    assert p.action is AlertAction.PENDING
    [r] = eng.advance(T0 + M)
    assert r.ts == T0 + 40
    assert r.details["smoke_obscuration_pct"] == 15.0
    # a silence after the wait does not take it back; the clear does
    assert eng.process(reading(reg, "SD1", "event", T0 + 2 * M, event="silenced")) == []
    assert len(clears(eng.process(reading(reg, "SD1", "event", T0 + 3 * M, event="alarm_cleared")))) == 1


def test_pending_wait_that_ended_before_a_late_clear_still_raises() -> None:
    # the watermark lags: the clear (3 min later) arrives before the 40 s timer fired, but came after the wait
    reg = registry()
    eng = engine(PENDING, reg, allowed_lateness_s=600)
    assert actions(eng.process(reading(reg, "SD1", "event", T0, event="alarm"))) == [
        ("pending", "smoke_alarm:SD1", T0, T0 + 40)
    ]
    out = eng.process(reading(reg, "SD1", "event", T0 + 3 * M, event="alarm_cleared"))
    assert [(a.action.value, a.ts) for a in out] == [("raise", T0 + 40), ("clear", T0 + 3 * M)]


def test_an_alert_carries_the_rules_title_per_language() -> None:
    reg = registry()
    eng = engine(SMOKE.replace("title: Smoke alarm", "title: {zh-CN: 烟感报警, en: Smoke alarm}"), reg)
    [r] = raises(eng.process(reading(reg, "SD1", "event", T0, event="alarm")))
    assert r.titles == {"zh-CN": "烟感报警", "en": "Smoke alarm"}
    assert r.title == "烟感报警 Smoke alarm"  # one string for webhooks and exports
    plain = engine(SMOKE, reg)
    [p] = raises(plain.process(reading(reg, "SD1", "event", T0, event="alarm")))
    assert (p.titles, p.title) == ({}, "Smoke alarm")
