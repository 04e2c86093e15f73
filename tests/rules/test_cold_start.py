"""A rule engine started with no history: what a first day teaches, and the street's routine on the first
night (`prior: street` learned from the part of the night the street's meters have already reported)."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import msgspec
import numpy as np

from devices.model import Device, DeviceClass, Household
from devices.reading import Reading
from devices.registry import Registry
from rules.alert import Alert
from rules.engine import Engine
from rules.kinds.baseline import BaselineEvaluator
from rules.learned import SLOT_S, SLOTS, nan_percentile, observed, street_thresholds
from tests.rules.support import T0, WATCHED, H, raises, reading, registry, ruleset

RULES = """
rules:
  - id: elderly_no_water
    kind: absence
    title: No water
    severity: major
    window: 12h
    min_use_m3: 0.01
    routine: usual
    scope: {household_tags: [watched]}
  - id: usual
    kind: baseline
    title: Unusual inactivity
    severity: minor
    mode: inactivity
    percentile: 97
    buffer: 1h
    late_by: 3h
    min_days: 3
    min_use_m3: 0.001
    prior: PRIOR
    scope: {household_tags: [watched]}
"""

NEIGHBOURS = 40  # min_days 3: a slot of the street needs 30 known household-days
QUIET_FREE = replace(WATCHED, quiet_hours=None)


def street() -> Registry:
    return registry(watched_care=QUIET_FREE).with_changes(
        households=[Household(f"hx{i}", "b2", f"x{i}", 1, QUIET_FREE) for i in range(NEIGHBOURS)],
        devices=[Device(f"WX{i}", DeviceClass.WATER_METER, "b2", f"hx{i}", 3600) for i in range(NEIGHBOURS)],
    )


def long_nights(hour: int) -> float:
    """Everyone's day: water in every hour from 07:00 to 19:00 (the reading at the hour's end shows it, dated
    at its start), nothing from 19:00 to 07:00 — 12 h nights, which the plain 12 h rule finds too long once
    readings date the last use at the start of its hour."""
    return 0.02 if 7 <= hour % 24 < 19 else 0.0


def readings(reg: Registry, hours: int, h1_use: dict[int, float] | None = None) -> list[Reading]:
    """Hourly readings of the street from T0 on, in time order; `h1_use` overrides h1's use by hour."""
    vol = {m: 10.0 for m in ["WM1", *(f"WX{i}" for i in range(NEIGHBOURS))]}
    out: list[Reading] = []
    for k in range(hours):
        for i, m in enumerate(vol):
            use = long_nights(k - 1) if k else 0.0  # the reading at k shows the hour before it
            if m == "WM1" and h1_use is not None and k in h1_use:
                use = h1_use[k]
            vol[m] += use
            out.append(reading(reg, m, "telemetry", T0 + k * H + 7 * i, volume_m3=round(vol[m], 3)))
    return out


def run(eng: Engine, msgs: list[Reading]) -> list[Alert]:
    out: list[Alert] = []
    for r in msgs:
        out += eng.process(r)
    return out


def engine(reg: Registry, prior: str) -> Engine:
    return Engine(ruleset(RULES.replace("PRIOR", prior), reg), reg, allowed_lateness_s=0)


def no_water(alerts: list[Alert], household: str = "h1") -> list[Alert]:
    return [a for a in raises(alerts) if a.rule_id == "elderly_no_water" and a.household_id == household]


# --- numpy -------------------------------------------------------------------------------------------------


def test_observed_hides_the_slots_not_known() -> None:
    row = np.arange(SLOTS, dtype=np.float64)
    # the meter's first reading at 07:10, and it has reported up to 20:00
    got = observed(row, 0.0, 7 * H + 600, 20 * H)
    assert np.isnan(got[:14]).all()  # the slots over by 07:10
    assert (got[14:40] == row[14:40]).all()
    assert np.isnan(got[40:]).all()  # 20:00 on: not reported yet
    assert not np.isnan(observed(row, 0.0, float("-inf"), float("inf"))).any()


def test_street_thresholds_ignore_unknown_values_and_need_enough_of_them() -> None:
    rows = np.full((40, SLOTS), 3600.0)
    rows[:, :10] = np.nan  # nobody known before 05:00
    rows[:25, 30:] = np.nan  # only 15 households known after 15:00
    thr = street_thresholds(rows, 97, 600, 0, min_count=30)
    assert (thr[:10] == 0).all()  # unknown: holds nothing back
    assert (thr[10:30] == 4200).all()
    assert (thr[30:] == 0).all()  # too few
    # late_by carries what was usual into the slots after it, also into unknown ones
    thr = street_thresholds(rows, 97, 600, late_s=2 * SLOT_S, min_count=30)
    assert thr[30] == thr[31] == 4200 + 2 * SLOT_S  # what was usual at 14:00 and 14:30, an hour later
    assert thr[32] == 0


# --- a first day -------------------------------------------------------------------------------------------

OWN = """
rules:
  - id: usual
    kind: baseline
    title: Unusual inactivity
    severity: minor
    mode: inactivity
    percentile: 97
    buffer: 1h
    min_days: 5
    scope: {household_tags: [watched]}
"""


def test_a_first_day_known_only_in_part_is_not_learned_as_the_households_own() -> None:
    """Started at 14:00: nothing is known of the morning (the first reading is not a use); learning it as 14 h
    without water would hold back the alerts of the next 60 days around midday."""
    reg = registry()
    eng = Engine(ruleset(OWN, reg), reg, allowed_lateness_s=0)
    vol = 5.0
    out: list[Alert] = []
    for k in range(14, 24 * 7):  # Monday 14:00 to the end of Sunday
        day, hour = divmod(k, 24)
        if day < 6:
            vol += 0.02 if 7 <= hour <= 21 else 0.0
        else:
            vol += 0.02 if hour in (7, 8) else 0.0  # Sunday: an ordinary morning, then nothing
        out += eng.process(reading(reg, "WM1", "telemetry", T0 + k * H, volume_m3=round(vol, 3)))
    [a] = raises(out, "usual")
    assert a.ts == T0 + 6 * 24 * H + 9 * H  # as after five whole days: usual gaps are 1 h, plus the buffer
    ev = eng.state().rules["usual"]
    assert len(ev["history"]["h1"]) == 5  # Tuesday to Saturday
    assert ev["partial"]["h1"][:28] == [None] * 28  # Monday before 14:00 is unknown
    assert ev["partial"]["h1"][28:30] == [1800.0, 3600.0]  # from the first reading on (a lower bound until a use)


# --- the first night ---------------------------------------------------------------------------------------


def test_the_first_night_is_judged_against_the_streets_night_so_far() -> None:
    reg = street()
    msgs = readings(reg, 36)  # Monday 00:00 to Tuesday 12:00
    # without the street's routine every resident's first night looks like an absence
    plain = run(engine(reg, "none"), msgs)
    assert len(no_water(plain)) == 1
    assert {a.household_id for a in raises(plain) if a.rule_id == "elderly_no_water"} >= {"h1", "hx0"}
    # with it, the night is the street's ordinary night: nobody is alerted
    assert [a for a in raises(run(engine(reg, "street"), msgs)) if a.rule_id == "elderly_no_water"] == []


def test_an_absence_from_the_afternoon_of_the_first_day_is_reported_after_12_hours() -> None:
    reg = street()
    # h1 uses water on Monday morning and then no more (a fall at 10:00 on the engine's first day)
    msgs = readings(reg, 36, h1_use={k: 0.0 for k in range(11, 36)})
    [a] = no_water(run(engine(reg, "street"), msgs))
    assert a.ts == T0 + 9 * H + 12 * H  # the 10:00 reading shows the last use, dated 09:00


def test_a_night_far_longer_than_the_streets_is_reported_on_the_first_night() -> None:
    reg = street()
    # h1's last use on Monday at 18:00 (as everyone's), then nothing on Tuesday morning while the street rises
    msgs = readings(reg, 40, h1_use={k: 0.0 for k in range(20, 40)})
    [a] = no_water(run(engine(reg, "street"), msgs))
    # the street rose at 07:00 after 12 h; with the buffer and late_by, h1's night is unusual from 10:30 on
    assert T0 + 24 * H + 6 * H < a.ts <= T0 + 24 * H + 11 * H


def test_the_streets_routine_survives_a_restart_and_old_snapshots_still_load() -> None:
    reg = street()
    msgs = readings(reg, 48, h1_use={k: 0.0 for k in range(20, 48)})
    whole = run(engine(reg, "street"), msgs)
    cut = T0 + 29 * H + 30 * 60  # Tuesday 05:30, in the middle of the first night
    first = engine(reg, "street")
    part1 = run(first, [m for m in msgs if m.ts < cut])
    snapshot = first.snapshot()
    second = Engine.restore(snapshot, ruleset(RULES.replace("PRIOR", "street"), reg), reg, allowed_lateness_s=0)
    part2 = run(second, [m for m in msgs if m.ts >= cut])
    assert [(a.action, a.dedup_key, a.ts) for a in part1 + part2] == [(a.action, a.dedup_key, a.ts) for a in whole]
    assert len(no_water(whole)) == 1

    # a snapshot written (as JSON) before first uses, first days and the street's limits were kept
    raw = msgspec.msgpack.decode(snapshot)
    for key in ("known_from", "partial", "street"):
        del raw["rules"]["usual"][key]
    old = Engine.restore(
        msgspec.json.encode(raw), ruleset(RULES.replace("PRIOR", "street"), reg), reg, allowed_lateness_s=0
    )
    st = old.state().rules["usual"]
    assert set(st["known_from"]) == {"h1", *(f"hx{i}" for i in range(NEIGHBOURS))}
    assert st["street"]["limits"] is None
    later = run(old, [m for m in msgs if m.ts >= cut])
    assert len(no_water(part1 + later)) == 1


def test_the_streets_limits_depend_on_the_readings_not_on_the_sweeps() -> None:
    reg = street()
    msgs = readings(reg, 40, h1_use={k: 0.0 for k in range(20, 40)})
    plain = run(engine(reg, "street"), msgs)
    swept: list[Alert] = []
    eng = engine(reg, "street")
    for r in msgs:
        swept += eng.advance(r.ts - 1)  # a sweep before every reading
        swept += eng.process(r)
    assert [(a.action, a.dedup_key, a.ts) for a in raises(swept)] == [
        (a.action, a.dedup_key, a.ts) for a in raises(plain)
    ]
    assert len(no_water(plain)) == 1


def test_the_streets_kept_rows_give_the_limits_of_rows_built_anew() -> None:
    """The street's limits are recomputed every half hour from every household's current day; what is kept
    between refreshes (a household's row until it uses water again, its part until it is read again) must give
    the limits that building everything anew gives. Some meters skip hours, so some rows are kept."""
    reg = street()
    msgs = [
        m
        for m in readings(reg, 40, h1_use={k: 0.0 for k in range(20, 40)})
        if m.device_id == "WM1" or (int((m.ts - T0) // H) + int(m.device_id[2:])) % 3 != 1
    ]
    kept, fresh = engine(reg, "street"), engine(reg, "street")
    b = next(ev for ev in fresh._evaluators if isinstance(ev, BaselineEvaluator))

    def anew() -> np.ndarray[Any, np.dtype[np.float64]] | None:
        b._today, b._current, b._past, b._past_stack = {}, None, {}, None
        return BaselineEvaluator._street(b)

    b._street = anew  # type: ignore[method-assign]
    k = next(ev for ev in kept._evaluators if isinstance(ev, BaselineEvaluator))
    refreshed = 0
    for r in msgs:
        slot = k._street_slot
        assert kept.process(r) == fresh.process(r)
        if k._street_slot != slot:
            refreshed += 1
            assert (k._street_thr is None) == (b._street_thr is None)
            if k._street_thr is not None and b._street_thr is not None:
                assert np.array_equal(k._street_thr, b._street_thr)
    assert refreshed == 40  # with the first reading of each half hour: every hour (the meters read hourly)
    assert k._street_thr is not None


def test_the_street_percentile_is_numpys_with_unknown_values_left_out() -> None:
    rng = np.random.default_rng(7)
    for n in (1, 2, 5, 70, 700):
        rows = rng.exponential(5 * 3600.0, size=(n, SLOTS))
        rows[rng.random(rows.shape) < 0.3] = np.nan
        rows[0] = rng.exponential(5 * 3600.0, size=SLOTS)  # every slot holds at least one value
        for q in (0.0, 50.0, 97.0, 100.0):
            assert np.allclose(nan_percentile(rows, q), np.nanpercentile(rows, q, axis=0), rtol=1e-12, atol=1e-6)


def test_prior_late_hours_keep_the_streets_long_days_from_holding_a_daytime_absence() -> None:
    """Three neighbours are out from 07:00 to 21:00 on the first day. With `late_by` carried into every slot,
    the street's limits carry their long day on into the slots not reported yet, and h1's absence from 07:00
    (a fall on the engine's first morning) is held until the next night; carried only into the morning
    (`prior_late_hours`), it is reported 12 h after the last use."""
    reg = street()
    out_all_day = {f"WX{i}" for i in range(3)}  # 3 of 41: above the 97th percentile's share
    vol = {m: 10.0 for m in ["WM1", *(f"WX{i}" for i in range(NEIGHBOURS))]}
    msgs: list[Reading] = []
    for k in range(30):  # Monday 00:00 to Tuesday 06:00
        for i, m in enumerate(vol):
            hour = (k - 1) % 24
            use = long_nights(k - 1) if k else 0.0
            if m in out_all_day and 6 <= hour < 21:
                use = 0.02 if hour == 6 else 0.0  # up early, out until 21:00
            if m == "WM1" and k > 8:
                use = 0.0  # h1's last use in the hour from 07:00
            vol[m] += use
            msgs.append(reading(reg, m, "telemetry", T0 + k * H + 7 * i, volume_m3=round(vol[m], 3)))

    def raised_at(rules: str) -> list[float]:
        eng = Engine(ruleset(rules, reg), reg, allowed_lateness_s=0)
        return [(r.ts - T0) / H for r in msgs for a in no_water(eng.process(r))]

    assert raised_at(RULES.replace("PRIOR", "street")) == [25.0]  # 18 h after the last use
    assert raised_at(RULES.replace("PRIOR", 'street\n    prior_late_hours: "04:00-12:00"')) == [19.0]
