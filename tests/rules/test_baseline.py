"""Learned baseline per household: numpy slot maths, and the two rules learning from a resident's days."""

from __future__ import annotations

from dataclasses import replace
from datetime import time
from typing import Any

import numpy as np

from devices.model import QuietHours
from rules.alert import Alert
from rules.engine import Engine
from rules.kinds.base import Context
from rules.kinds.baseline import BaselineEvaluator
from rules.learned import SLOT_S, day_inactivity, first_exceedance, high_use_limit, late_slots, slot_thresholds
from tests.rules.support import T0, WATCHED, H, clears, raises, reading, registry, ruleset

BASE = """
rules:
  - id: elderly_unusual_inactivity
    kind: baseline
    title: Unusual inactivity
    severity: minor
    mode: inactivity
    percentile: 97
    buffer: 1h
    min_days: 5
    scope: {household_tags: [watched]}
  - id: elderly_high_use
    kind: baseline
    title: High use
    severity: warning
    mode: high_use
    percentile: 95
    factor: 1.5
    min_high_m3: 0.1
    min_days: 5
    scope: {household_tags: [watched]}
"""


def test_day_inactivity_counts_from_the_last_use() -> None:
    day = 0.0
    uses = np.array([8 * 3600.0, 12 * 3600.0])
    row = day_inactivity(uses, day, -3600.0)
    assert row.shape == (48,)
    assert row[0] == SLOT_S + 3600  # at 00:30, one hour and a half since the last use at 23:00
    assert row[15] == 8 * 3600 + 3600  # 07:30-08:00: the longest wait was at its end
    assert row[16] == 8 * 3600 + 3600  # 08:00-08:30: used at 08:00, after 9 h without
    assert row[17] == 3600  # 08:30-09:00
    assert row[47] == 24 * 3600 - 12 * 3600


def test_thresholds_and_first_exceedance() -> None:
    history = np.tile(np.full(48, 3600.0), (10, 1))
    history[:, 10] = 7200.0
    thr = slot_thresholds(history, 97, 600)
    assert thr[0] == 4200
    assert thr[10] == 7800
    # last use at 00:00 UTC+0: exceeds the 4200 s threshold at 01:10 (slot 2 has threshold 4200)
    assert first_exceedance(0.0, thr, 0.0) == 4200.0
    assert high_use_limit(np.array([0.1] * 10), 95, 1.5, 0.05) == 0.1 * 1.5


def test_inactivity_alert_after_learning_and_clear_on_use() -> None:
    reg = registry()
    eng = Engine(ruleset(BASE, reg), reg, allowed_lateness_s=0)
    vol = 5.0
    out: list[Alert] = []
    # six ordinary days: water every hour from 07:00 to 21:00
    for d in range(6):
        for h in range(24):
            vol += 0.02 if 7 <= h <= 21 else 0.0
            out += eng.process(reading(reg, "WM1", "telemetry", T0 + d * 24 * H + h * H, volume_m3=round(vol, 3)))
    assert raises(out, "elderly_unusual_inactivity") == []
    # day 7: an ordinary morning, then nothing after 08:00 -> inactive far longer than ever at midday
    out = []
    for h in range(24):
        vol += 0.02 if h in (7, 8) else 0.0
        out += eng.process(reading(reg, "WM1", "telemetry", T0 + 6 * 24 * H + h * H, volume_m3=round(vol, 3)))
    [a] = raises(out, "elderly_unusual_inactivity")
    assert a.ts == T0 + 6 * 24 * H + 9 * H  # usual gaps are 1 h; with the 1 h buffer, 2 h is unusual
    vol += 0.05
    [c] = clears(eng.process(reading(reg, "WM1", "telemetry", T0 + 7 * 24 * H, volume_m3=round(vol, 3))))
    assert c.rule_id == "elderly_unusual_inactivity"


def test_high_use_alert_after_learning() -> None:
    reg = registry()
    eng = Engine(ruleset(BASE, reg), reg, allowed_lateness_s=0)
    vol = 5.0
    out: list[Alert] = []
    for d in range(7):
        for h in range(24):
            use = 0.01 if 7 <= h <= 20 else 0.0
            if d == 6 and h in (10, 11, 12):
                use = 0.2  # a tap left running in the flat
            vol += use
            out += eng.process(reading(reg, "WM1", "telemetry", T0 + d * 24 * H + h * H, volume_m3=round(vol, 3)))
    [a] = raises(out, "elderly_high_use")
    assert a.household_id == "h1"
    assert a.details["today_m3"] > a.details["limit_m3"]


def test_nothing_is_said_before_enough_days_are_learned() -> None:
    reg = registry()
    eng = Engine(ruleset(BASE, reg), reg, allowed_lateness_s=0)
    out: list[Alert] = []
    for h in range(72):
        out += eng.process(reading(reg, "WM1", "telemetry", T0 + h * H, volume_m3=5.0))
    assert out == []


def test_late_by_lets_the_limit_follow_the_usual_pattern_later_into_the_day() -> None:
    history = np.tile(np.full(48, 3600.0), (10, 1))
    history[:, 10:12] = 10 * 3600.0  # usually 10 h without water at 05:00-06:00, then up
    strict = slot_thresholds(history, 97, 0)
    lenient = slot_thresholds(history, 97, 0, late_s=2 * 3600)
    assert strict[13] == 3600
    assert lenient[13] == 10 * 3600 + 3 * SLOT_S  # 06:30-07:00 allows what 05:00-05:30 allowed, plus the time since
    assert lenient[20] == 3600 + 4 * SLOT_S  # elsewhere: the usual limit two hours later


def test_late_hours_carry_late_by_only_into_the_morning() -> None:
    history = np.tile(np.full(48, 3600.0), (10, 1))
    history[:, 10:12] = 10 * 3600.0  # usually 10 h without water at 05:00-06:00, then up
    history[:, 28:30] = 6 * 3600.0  # and out 08:00-14:00 most days
    morning = late_slots(4 * 3600, 12 * 3600)
    assert morning.sum() == 16
    assert morning[8]
    assert not morning[24]
    thr = slot_thresholds(history, 97, 0, late_s=2 * 3600, late_into=morning)
    assert thr[13] == 10 * 3600 + 3 * SLOT_S  # a late morning is still allowed
    assert thr[31] == 3600  # 15:30: only its own learned hour, not the afternoon's 6 h carried on
    assert slot_thresholds(history, 97, 0, late_s=2 * 3600)[31] == 6 * 3600 + 3 * SLOT_S
    assert late_slots(22 * 3600, 2 * 3600)[[0, 3, 4, 44, 47]].tolist() == [True, True, False, True, True]


def test_a_replaced_meter_restarts_the_clocks_instead_of_proving_an_absence() -> None:
    reg = registry()
    eng = Engine(ruleset(BASE, reg), reg, allowed_lateness_s=0)
    out: list[Alert] = []
    vol = 5.0
    for d in range(6):
        for h in range(24):
            vol += 0.02 if 7 <= h <= 21 else 0.0
            out += eng.process(reading(reg, "WM1", "telemetry", T0 + d * 24 * H + h * H, volume_m3=round(vol, 3)))
    # a new meter starting at 0, after a day without data: nothing is known about that day
    for h in range(3):
        out += eng.process(reading(reg, "WM1", "telemetry", T0 + 7 * 24 * H + h * H, volume_m3=0.0))
    assert raises(out, "elderly_unusual_inactivity") == []


def test_an_inactivity_alert_deferred_to_the_end_of_quiet_hours_survives_a_restart() -> None:
    reg = registry(watched_care=replace(WATCHED, quiet_hours=QuietHours(time(20), time(6))))
    eng = Engine(ruleset(BASE, reg), reg, allowed_lateness_s=0)
    vol = 5.0
    out: list[Alert] = []
    for d in range(7):
        for h in range(24):
            vol += 0.02 if 7 <= h <= (21 if d < 6 else 19) else 0.0
            out += eng.process(reading(reg, "WM1", "telemetry", T0 + d * 24 * H + h * H, volume_m3=round(vol, 3)))
    # day 7: last use before 20:00, unusual from 21:00 (inside quiet hours), proven at 23:00; then the meter is silent
    assert raises(out, "elderly_unusual_inactivity") == []
    restored = Engine.restore(eng.snapshot(), eng.ruleset, reg, allowed_lateness_s=0)
    for e in (eng, restored):
        [a] = raises(e.advance(T0 + 7 * 24 * H + 7 * H), "elderly_unusual_inactivity")
        assert a.ts == T0 + 7 * 24 * H + 6 * H  # deferred to 06:00, the end of quiet hours


LATE = """
rules:
  - id: elderly_unusual_inactivity
    kind: baseline
    title: Unusual inactivity
    severity: minor
    mode: inactivity
    percentile: 97
    buffer: 1h
    late_by: 3h
    min_days: 5
    scope: {household_tags: [watched]}
"""


def _late_riser_alerts(fresh: bool) -> list[Alert]:
    """Six days up at 06:00 (the first is not learned: the meter's first reading began it), one at 09:00,
    then a morning without water. Each midnight adds a day to the
    limits while the night's last use stays the same; with `fresh`, every judgement computes its first
    exceedance anew instead of taking the kept one."""
    reg = registry(watched_care=replace(WATCHED, quiet_hours=None))
    eng = Engine(ruleset(LATE, reg), reg, allowed_lateness_s=0)
    if fresh:
        b = next(ev for ev in eng._evaluators if isinstance(ev, BaselineEvaluator))

        def anew(h: str, last: float, thr: np.ndarray[Any, np.dtype[np.float64]], ctx: Context) -> float:
            return first_exceedance(last, thr, b._offset(last, ctx))

        b._first_exceedance = anew  # type: ignore[method-assign]
    vol = 5.0
    out: list[Alert] = []
    for d in range(8):
        first = 6 if d < 6 else 9 if d == 6 else 13
        for h in range(24):
            vol += 0.02 if first <= h <= 21 else 0.0
            out += eng.process(reading(reg, "WM1", "telemetry", T0 + d * 24 * H + h * H, volume_m3=round(vol, 3)))
    return out


def test_the_kept_first_exceedance_is_the_one_computed_anew_when_the_limits_change() -> None:
    kept, fresh = _late_riser_alerts(fresh=False), _late_riser_alerts(fresh=True)
    assert kept == fresh
    # the late rising of day 5 became part of the limits at midnight, during the night the alert is judged in
    [a] = raises(kept, "elderly_unusual_inactivity")
    assert T0 + 7 * 24 * H + 6 * H < a.ts < T0 + 7 * 24 * H + 13 * H


def test_the_kept_day_span_gives_the_local_midnight_also_across_clock_changes() -> None:
    """`_day_start` keeps the last local day; in zones that change their clocks (Santiago at midnight, Sao
    Paulo until 2019 back from 00:00 to 23:00 of the day before) it must still give what `datetime` gives."""
    from datetime import datetime as dt
    from datetime import time as dtime
    from zoneinfo import ZoneInfo

    from rules.kinds.base import Context

    reg = registry()
    zones = [("Asia/Shanghai", 2026), ("Europe/Berlin", 2026), ("America/Santiago", 2026), ("America/Sao_Paulo", 2018)]
    for tz, year in zones:
        eng = Engine(ruleset(BASE, reg), reg, tz=tz)
        b = next(ev for ev in eng._evaluators if isinstance(ev, BaselineEvaluator))
        ctx = Context(reg, tz)
        zone = ZoneInfo(tz)
        ts = dt(year, 1, 1, tzinfo=zone).timestamp()
        while ts < dt(year + 1, 1, 1, tzinfo=zone).timestamp():
            want = dt.combine(dt.fromtimestamp(ts, zone).date(), dtime(0), zone).timestamp()
            assert b._day_start(ts, ctx) == want, (tz, ts)
            ts += 1190.0  # not a divisor of an hour: every minute of the day comes round
