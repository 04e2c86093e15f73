"""Schedules (days and hours in a time zone) and quiet-hours arithmetic."""

from __future__ import annotations

import random
from datetime import datetime, time

import pytest

from devices.model import QuietHours
from rules.schedule import QuietEnds, Schedule, ScheduleConfig, quiet_end, zone
from tests.rules.support import CST, T0, H, M, clears, engine, raises, reading, registry

# T0 is Monday 2026-03-02 00:00 in China


def test_active_by_day_and_hour() -> None:
    s = Schedule(ScheduleConfig(days=["mon", "tue"], hours=["08:00-20:00"]), "Asia/Shanghai")
    assert not s.active(T0 + 7 * H)
    assert s.active(T0 + 8 * H)
    assert not s.active(T0 + 20 * H)
    assert not s.active(T0 + 2 * 24 * H + 9 * H)  # Wednesday
    assert s.next_active(T0 + 21 * H) == T0 + 24 * H + 8 * H
    assert s.next_active(T0 + 2 * 24 * H) == T0 + 7 * 24 * H + 8 * H  # next Monday


def test_span_over_midnight_belongs_to_its_first_day() -> None:
    s = Schedule(ScheduleConfig(days=["fri"], hours=["22:00-06:00"]), "Asia/Shanghai")
    fri = T0 + 4 * 24 * H
    assert s.active(fri + 23 * H)
    assert s.active(fri + 24 * H + 5 * H)  # Saturday 05:00, still Friday night
    assert not s.active(fri + 5 * H)  # Friday 05:00 belongs to Thursday night
    assert s.next_active(fri) == fri + 22 * H


def test_schedule_time_zone_is_respected() -> None:
    s = Schedule(ScheduleConfig(hours=["08:00-09:00"], tz="UTC"), "Asia/Shanghai")
    assert s.active(T0 + 16 * H)  # 08:00 UTC is 16:00 in China
    assert not s.active(T0 + 8 * H)


def test_quiet_end() -> None:
    tz = zone("Asia/Shanghai")
    q = QuietHours(time(22), time(6))
    assert quiet_end(T0 + 12 * H, q, tz) == T0 + 12 * H
    assert quiet_end(T0 + 23 * H, q, tz) == T0 + 30 * H
    assert quiet_end(T0 + 2 * H, q, tz) == T0 + 6 * H
    assert quiet_end(T0 + 2 * H, None, tz) == T0 + 2 * H
    assert datetime.fromtimestamp(quiet_end(T0 + 23 * H, q, tz), CST).hour == 6


@pytest.mark.parametrize("tz_name", ["Asia/Shanghai", "Europe/Berlin", "America/St_Johns", "Asia/Kathmandu"])
def test_remembered_quiet_ends_equal_computed_ones(tz_name: str) -> None:
    """`QuietEnds` answers per minute: it must agree with `quiet_end` at every instant, across DST changes,
    half-hour and 45-minute offsets, windows with seconds, and instants before zones had whole-minute offsets."""
    tz = zone(tz_name)
    windows = [QuietHours(time(22), time(6)), QuietHours(time(1, 30), time(5)), QuietHours(time(21, 59, 30), time(6))]
    memo = QuietEnds(tz)
    rng = random.Random(tz_name)
    # Berlin changes clocks on 2026-03-29 and 2026-10-25; Shanghai had local mean time (+08:05:43) before 1901
    starts = [datetime(2026, 3, 28, tzinfo=CST).timestamp(), datetime(2026, 10, 24, tzinfo=CST).timestamp()]
    stamps = [s + rng.uniform(0, 3 * 86_400) for s in starts for _ in range(3000)]
    lmt = datetime(1900, 1, 1, tzinfo=CST).timestamp()
    stamps += [lmt + k * 60 + d for k in range(1440) for d in (0.0, 20.0, 59.0)]
    stamps += [s + k * 60 + d for s in starts for k in range(0, 3 * 1440, 7) for d in (0.0, 29.5, 59.999)]
    for _ in range(2):  # the second pass answers from the memo
        for ts in stamps:
            for q in windows:
                assert memo(ts, q) == quiet_end(ts, q, tz), (ts, q)
    assert memo(stamps[0], None) == stamps[0]


def test_event_rule_outside_its_schedule_does_not_raise_but_still_clears() -> None:
    reg = registry()
    eng = engine(
        """
rules:
  - id: trash_full
    kind: threshold
    title: Full
    severity: warning
    device_class: trash_bin
    field: fill_pct
    op: ">="
    value: 90
    clear_value: 50
    schedule: {days: [mon, tue, wed, thu, fri], hours: ["07:00-19:00"]}
""",
        reg,
    )
    assert eng.process(reading(reg, "TB1", "telemetry", T0 + 3 * H, fill_pct=95.0)) == []
    [r] = raises(eng.process(reading(reg, "TB1", "telemetry", T0 + 8 * H, fill_pct=96.0)))
    assert r.ts == T0 + 8 * H
    assert len(clears(eng.process(reading(reg, "TB1", "telemetry", T0 + 22 * H, fill_pct=10.0)))) == 1


def test_duration_rule_due_outside_its_schedule_raises_when_it_opens() -> None:
    reg = registry()
    eng = engine(
        """
rules:
  - id: door_held_open
    kind: duration
    title: Door
    severity: minor
    device_class: access_control
    for: 5m
    start: [{event: held_open}]
    stop: [{event: door_closed}]
    schedule: {hours: ["08:00-20:00"]}
""",
        reg,
        allowed_lateness_s=0,
    )
    eng.process(reading(reg, "AC1", "event", T0 + 7 * H + 50 * M, event="held_open"))
    assert eng.advance(T0 + 7 * H + 59 * M) == []
    [r] = raises(eng.advance(T0 + 8 * H + 1))
    assert r.ts == T0 + 8 * H


def test_remembered_quiet_ends_tell_apart_an_end_in_the_repeated_hour() -> None:
    """`time(1, 30)` and `time(1, 30, fold=1)` are equal and hash alike, but on the night clocks go back they
    end the quiet hours an hour apart."""
    tz = zone("America/New_York")
    first, second = QuietHours(time(22), time(1, 30)), QuietHours(time(22), time(1, 30, fold=1))
    ts = datetime(2024, 11, 3, 0, 10, tzinfo=tz).timestamp()
    memo = QuietEnds(tz)
    assert quiet_end(ts, first, tz) != quiet_end(ts, second, tz)
    assert [memo(ts, first), memo(ts, second)] == [quiet_end(ts, first, tz), quiet_end(ts, second, tz)]
