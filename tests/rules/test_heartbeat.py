"""Heartbeat rule: offline after k x the expected interval of silence, back online on the next message."""

from __future__ import annotations

from tests.rules.support import T0, H, M, clears, engine, raises, reading, registry

HB = """
rules:
  - id: device_offline
    kind: heartbeat
    title: Offline
    severity: minor
    k: 3
"""


def test_silent_device_goes_offline_once_and_comes_back() -> None:
    reg = registry()
    eng = engine(HB.replace("k: 3", "k: 3\n    device_class: ai_camera"), reg, allowed_lateness_s=0)
    out = eng.process(reading(reg, "CAM1", "status", T0, state="heartbeat"))
    out += eng.process(reading(reg, "CAM2", "status", T0, state="heartbeat"))
    for i in range(1, 13):  # CAM2's messages move the watermark, which fires CAM1's timer
        out += eng.process(reading(reg, "CAM2", "status", T0 + i * 5 * M, state="heartbeat"))
    out += eng.advance(T0 + H)
    [r] = raises(out)
    assert (r.device_id, r.ts, r.dedup_key) == ("CAM1", T0 + 15 * M, "device_offline:CAM1")
    assert r.details["last_seen"] == T0
    later = eng.advance(T0 + 5 * H)
    assert [a.device_id for a in later] == ["CAM2"]  # CAM2 went quiet at T0+1h; CAM1 is not raised again
    [c] = clears(eng.process(reading(reg, "CAM1", "status", T0 + 5 * H, state="heartbeat")))
    assert c.ts == T0 + 5 * H
    # and watched again
    [r2] = raises(eng.advance(T0 + 5 * H + 16 * M))
    assert (r2.device_id, r2.ts) == ("CAM1", T0 + 5 * H + 15 * M)


def test_device_never_heard_is_timed_from_the_engine_start() -> None:
    reg = registry()
    eng = engine(HB.replace("k: 3", "k: 3\n    device_class: ebike_charger"), reg, allowed_lateness_s=0)
    assert eng.advance(T0) == []
    [r] = raises(eng.advance(T0 + H))
    assert (r.device_id, r.ts) == ("EB1", T0 + 15 * M)


def test_per_class_interval_override() -> None:
    reg = registry()
    text = HB.replace("k: 3", "k: 2\n    device_class: ai_camera\n    intervals: {ai_camera: 1h}")
    eng = engine(text, reg, allowed_lateness_s=0)
    eng.process(reading(reg, "CAM1", "status", T0, state="heartbeat"))
    eng.process(reading(reg, "CAM2", "status", T0, state="heartbeat"))
    assert eng.advance(T0 + 119 * M) == []
    assert len(raises(eng.advance(T0 + 121 * M))) == 2


def test_message_after_a_long_gap_before_the_sweep_raises_and_clears() -> None:
    reg = registry()
    eng = engine(HB.replace("k: 3", "k: 3\n    device_class: ai_camera"), reg, allowed_lateness_s=24 * H)
    eng.process(reading(reg, "CAM1", "status", T0, state="heartbeat"))
    out = eng.process(reading(reg, "CAM1", "status", T0 + H, state="heartbeat"))
    [r] = raises(out)
    [c] = clears(out)
    assert (r.ts, c.ts) == (T0 + 15 * M, T0 + H)


def test_late_old_message_does_not_bring_a_device_back() -> None:
    reg = registry()
    eng = engine(HB.replace("k: 3", "k: 3\n    device_class: ai_camera"), reg, allowed_lateness_s=0)
    eng.process(reading(reg, "CAM1", "status", T0 + 10 * M, state="heartbeat"))
    eng.process(reading(reg, "CAM2", "status", T0 + 10 * M, state="heartbeat"))
    assert len(raises(eng.advance(T0 + H))) == 2
    assert clears(eng.process(reading(reg, "CAM1", "status", T0, state="heartbeat"))) == []
