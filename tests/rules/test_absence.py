"""Absence rule for lone elderly residents: 12 h without water, quiet hours, away, answers, one alert."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

from devices.model import CareProfile
from devices.registry import Registry
from rules.alert import AWAY_ENDED, Alert, AlertAction, Severity
from rules.engine import Engine
from tests.rules.support import CST, T0, WATCHED, H, clears, raises, reading, registry, ruleset

ABSENCE = """
rules:
  - id: elderly_no_water
    kind: absence
    title: No water
    severity: major
    window: 12h
    min_use_m3: 0.01
    scope: {household_tags: [watched]}
"""


class Meter:
    """An hourly meter whose register rises by what `use` says for each hour."""

    def __init__(self, eng: Engine, reg: Registry, device: str = "WM1", volume: float = 50.0) -> None:
        self.eng, self.reg, self.device, self.volume = eng, reg, device, volume

    def hour(self, t: float, used_m3: float = 0.0) -> list[Alert]:
        self.volume += used_m3
        return self.eng.process(reading(self.reg, self.device, "telemetry", t, volume_m3=round(self.volume, 4)))

    def run(self, start: float, hours: int, uses: dict[int, float] | None = None) -> list[Alert]:
        out: list[Alert] = []
        for i in range(hours):
            out += self.hour(start + i * H, (uses or {}).get(i, 0.0))
        return out


def setup(care: CareProfile = WATCHED, text: str = ABSENCE) -> tuple[Engine, Meter, Registry]:
    reg = registry(watched_care=care)
    eng = Engine(ruleset(text, reg), reg, allowed_lateness_s=0)
    return eng, Meter(eng, reg), reg


def test_twelve_hours_without_water_raise_one_alert_dated_when_due() -> None:
    _eng, meter, _ = setup()
    # 07:00-09:00 the resident uses water, then nothing (a fall at 09:00)
    out = meter.run(T0 + 6 * H, 30, uses={1: 0.02, 2: 0.03})
    [a] = raises(out)
    assert a.household_id == "h1"
    assert a.device_id is None
    assert a.microgrid_id == "mg1"
    assert a.severity is Severity.MAJOR
    assert a.dedup_key == "elderly_no_water:h1"
    # the 08:00 reading shows the last use, made in the hour before it: the absence counts from 07:00
    assert a.ts == T0 + 7 * H + 12 * H
    assert a.details["last_use"] == T0 + 7 * H


def test_quiet_hours_defer_the_alert_to_their_end() -> None:
    _eng, meter, _ = setup()
    # last use between 12:00 and 13:00 -> due at 00:00, inside quiet hours 22:00-06:00
    out = meter.run(T0 + 12 * H, 20, uses={1: 0.05})
    [a] = raises(out)
    assert a.ts == T0 + 30 * H
    assert datetime.fromtimestamp(a.ts, CST).hour == 6
    assert a.details["deferred_from"] == T0 + 24 * H


def test_water_use_clears_and_the_next_absence_raises_again() -> None:
    _eng, meter, _ = setup()
    out = meter.run(T0 + 6 * H, 24, uses={0: 0.05})
    assert len(raises(out)) == 1
    # a long absence is one alert, not one per window
    assert raises(meter.run(T0 + 30 * H, 30)) == []
    [c] = clears(meter.hour(T0 + 60 * H, 0.02))
    assert c.details["reason"] == "water used"
    [a] = raises(meter.run(T0 + 61 * H, 20))  # due 23:00, quiet hours: raised at 06:00
    assert a.ts == T0 + 78 * H


def test_a_trickle_below_the_minimum_is_not_use() -> None:
    _eng, meter, _ = setup()
    out = meter.run(T0 + 6 * H, 2, uses={0: 0.05})
    out += meter.run(T0 + 8 * H, 14, uses={i: 0.0005 for i in range(14)})  # 0.5 L an hour: a dripping tap
    assert len(raises(out)) == 1


def test_small_uses_add_up_within_the_window() -> None:
    _eng, meter, _ = setup()
    out = meter.run(T0 + 6 * H, 16, uses={0: 0.05, 6: 0.004, 8: 0.004, 10: 0.004})
    assert raises(out) == []


def test_households_not_watched_are_never_judged() -> None:
    reg = registry()
    eng = Engine(ruleset(ABSENCE, reg), reg, allowed_lateness_s=0)
    meter = Meter(eng, reg, "WM2")
    assert meter.run(T0, 48) == []


def test_no_consent_means_no_watching() -> None:
    _eng, meter, _ = setup(replace(WATCHED, consent=False))
    assert meter.run(T0, 48) == []


def test_a_silent_meter_proves_nothing() -> None:
    eng, meter, _ = setup()
    meter.run(T0 + 6 * H, 2, uses={0: 0.05})
    assert eng.advance(T0 + 40 * H) == []
    # when the meter speaks again the register shows no use: now the absence is proven, dated when it was due
    [a] = raises(meter.hour(T0 + 41 * H))
    assert a.ts == T0 + 6 * H + 12 * H


def test_away_until_suspends_and_restarts_the_clock() -> None:
    away = datetime.fromtimestamp(T0 + 30 * H, CST)
    _eng, meter, _ = setup(replace(WATCHED, away_until=away))
    out = meter.run(T0 + 6 * H, 36, uses={0: 0.05})
    assert raises(out) == []
    # back at T0+30h but no water since: due 12 h after the return
    [a] = raises(meter.run(T0 + 42 * H, 2))
    assert a.ts == T0 + 42 * H


def test_answer_away_confirmed_clears_and_waits_until_the_date() -> None:
    eng, meter, _ = setup()
    assert len(raises(meter.run(T0 + 6 * H, 20, uses={0: 0.05}))) == 1
    out = eng.acknowledge_absence("h1", T0 + 72 * H, at=T0 + 26 * H)
    [c] = out
    assert (c.action, c.details["reason"]) == (AlertAction.CLEAR, "away confirmed")
    assert raises(meter.run(T0 + 26 * H, 57)) == []
    [a] = raises(meter.run(T0 + 83 * H, 2))
    assert a.ts == T0 + 84 * H


def test_answer_visited_restarts_the_clock_at_the_visit() -> None:
    eng, meter, _ = setup()
    assert len(raises(meter.run(T0 + 6 * H, 20, uses={0: 0.05}))) == 1
    [c] = eng.acknowledge_absence("h1", None, at=T0 + 26 * H)
    assert c.details["reason"] == "visited"
    out = meter.run(T0 + 26 * H, 13)
    [a] = raises(out)
    assert a.ts == T0 + 38 * H


def test_daily_upload_with_frozen_readings_is_judged_when_it_arrives() -> None:
    care = WATCHED
    reg = registry(watched_care=care)
    # move the watched household's meter to daily uploads
    wm1 = replace(reg.devices["WM1"], expected_interval_s=86_400)
    reg = reg.with_changes(devices=[wm1])
    eng = Engine(ruleset(ABSENCE, reg), reg, allowed_lateness_s=0)
    vol = 10.0
    frozen = []
    for i in range(24):
        vol += 0.05 if i in (7, 8) else 0.0
        frozen.append({"ts": T0 + i * H, "volume_m3": round(vol, 3)})
    eng.process(reading(reg, "WM1", "telemetry", T0 - H, volume_m3=10.0))
    assert raises(eng.advance(T0 + 23 * H)) == []  # no data yet: nothing proven
    out = eng.process(reading(reg, "WM1", "telemetry", T0 + 24 * H, volume_m3=round(vol, 3), extra={"frozen": frozen}))
    [a] = raises(out)
    assert a.ts == T0 + 7 * H + 12 * H


def test_all_well_signal_once_a_morning() -> None:
    text = ABSENCE + "    all_well: {hours: '05:00-10:00'}\n"
    _eng, meter, _ = setup(text=text)
    out = meter.run(T0 + 5 * H, 6, uses={1: 0.02, 2: 0.02, 3: 0.02})
    signals = [a for a in out if a.details.get("signal") == "all_well"]
    assert [a.action for a in signals] == [AlertAction.RAISE, AlertAction.CLEAR]
    assert signals[0].severity is Severity.INFO
    assert signals[0].ts == T0 + 5 * H


ROUTINE = """
rules:
  - id: elderly_no_water
    kind: absence
    title: No water
    severity: major
    routine: usual
    scope: {household_tags: [watched]}
  - id: usual
    kind: baseline
    title: Unusual inactivity
    severity: minor
    mode: inactivity
    min_days: 5
    buffer: 1h
    scope: {household_tags: [watched]}
"""


def test_a_usual_long_night_is_not_an_absence_once_the_routine_is_learned() -> None:
    _eng, meter, _ = setup(replace(WATCHED, quiet_hours=None), text=ROUTINE)
    # a resident who uses water from 07:00 to 18:00 and sleeps long: 13 h without water every night
    out: list[Alert] = []
    for d in range(8):
        out += meter.run(T0 + d * 24 * H, 24, uses={h: 0.02 for h in range(8, 20)})
    no_water = [a for a in raises(out) if a.rule_id == "elderly_no_water"]
    # the first nights, before 5 days are learned, look like absences; afterwards they do not
    assert no_water
    assert max(a.ts for a in no_water) < T0 + 6 * 24 * H
    # an absence from the afternoon on is still one
    out = meter.run(T0 + 8 * 24 * H, 24, uses={h: 0.02 for h in range(8, 12)})
    [a] = [x for x in raises(out) if x.rule_id == "elderly_no_water"]
    assert a.ts == T0 + 8 * 24 * H + 10 * H + 12 * H  # last use shown at 11:00, dated 10:00


def test_the_street_routine_guards_a_new_household_until_it_has_its_own() -> None:
    from devices.model import Device, DeviceClass, Household

    quiet_free = replace(WATCHED, quiet_hours=None)
    reg = registry(watched_care=quiet_free).with_changes(
        households=[Household(f"hx{i}", "b2", f"x{i}", 1, quiet_free) for i in range(10)],
        devices=[Device(f"WX{i}", DeviceClass.WATER_METER, "b2", f"hx{i}", 3600) for i in range(10)],
    )
    day_uses = {h: 0.02 for h in [*range(8, 20), *range(32, 44)]}  # 07:00-19:00 two days running: 13 h nights

    def newcomer_no_water(prior: str) -> list[Alert]:
        text = ROUTINE.replace("min_days: 5", f"min_days: 5\n    prior: {prior}\n    late_by: 3h\n    buffer: 2h")
        eng = Engine(ruleset(text, reg), reg, allowed_lateness_s=0)
        for d in range(8):  # ten neighbours with eight days of the same routine
            for i in range(10):
                Meter(eng, reg, f"WX{i}").run(T0 + d * 24 * H, 24, uses=day_uses)
        out = Meter(eng, reg, "WM1").run(T0 + 8 * 24 * H, 48, uses=day_uses)
        return [a for a in raises(out) if a.rule_id == "elderly_no_water"]

    assert len(newcomer_no_water("none")) == 1  # its first long night looks like an absence
    assert newcomer_no_water("street") == []  # unless it is the street's usual night


def test_an_alert_deferred_to_the_end_of_quiet_hours_survives_a_restart_and_a_registry_change() -> None:
    """The meter stops reporting after it proved the absence: nothing but the deferred timer can raise."""
    eng, meter, reg = setup()
    # last use 12:00-13:00 -> due 00:00, inside quiet hours; the 01:00 reading proves it, then the meter is silent
    assert raises(meter.run(T0 + 12 * H, 14, uses={1: 0.05})) == []
    restored = Engine.restore(eng.snapshot(), eng.ruleset, reg, allowed_lateness_s=0)
    restored.set_registry(reg.with_changes())
    for e in (eng, restored):
        assert raises(e.advance(T0 + 29 * H)) == []
        [a] = raises(e.advance(T0 + 31 * H))
        assert a.ts == T0 + 30 * H  # 06:00, the end of quiet hours
        assert a.details["deferred_from"] == T0 + 24 * H


AWAY_ENDS = ABSENCE.replace("    window: 12h\n", "    window: 12h\n    away_ends_on_use: {on}\n")


def test_an_answered_away_holds_through_water_use_by_default() -> None:
    """Off (the default): someone watering the plants does not end "away confirmed": no clock until the date."""
    eng, meter, _ = setup(text=AWAY_ENDS.replace("{on}", "false"))
    assert len(raises(meter.run(T0 + 6 * H, 20, uses={0: 0.05}))) == 1
    eng.acknowledge_absence("h1", T0 + 96 * H, at=T0 + 26 * H)
    assert raises(meter.run(T0 + 26 * H, 82, uses={10: 0.02})) == []  # used at 36:00, silent to 108:00
    [a] = raises(meter.run(T0 + 108 * H, 1))
    assert a.ts == T0 + 108 * H  # 12 h after the away's end (96:00)


def test_water_use_ends_an_answered_away_when_the_operator_chooses() -> None:
    """On: the resident is back early; the clock restarts at the use and a fall after it is reported as usual."""
    eng, meter, _ = setup(text=AWAY_ENDS.replace("{on}", "true"))
    assert len(raises(meter.run(T0 + 6 * H, 20, uses={0: 0.05}))) == 1
    eng.acknowledge_absence("h1", T0 + 96 * H, at=T0 + 26 * H)
    [a] = raises(meter.run(T0 + 26 * H, 40, uses={4: 0.02}))  # the reading at 30:00 shows a use after 29:00
    assert a.ts == T0 + 29 * H + 12 * H


def test_water_use_ends_the_care_profiles_away_when_the_operator_chooses() -> None:
    away = datetime.fromtimestamp(T0 + 96 * H, CST)
    for on, due in (("false", T0 + 108 * H), ("true", T0 + 18 * H + 12 * H)):
        _eng, meter, _ = setup(replace(WATCHED, away_until=away), text=AWAY_ENDS.replace("{on}", on))
        [a] = raises(meter.run(T0 + 6 * H, 104, uses={13: 0.05}))  # back early: used water at 18:00-19:00
        assert a.ts == due


def test_water_used_before_an_away_was_confirmed_does_not_end_it() -> None:
    """On: "away confirmed" at 26:30; the next reading shows use since 25:00, before the answer (the resident
    packing): the away holds to its date, and no signal says it ended."""
    eng, meter, reg = setup(text=AWAY_ENDS.replace("{on}", "true"))
    assert len(raises(meter.run(T0 + 6 * H, 20, uses={0: 0.05}))) == 1
    eng.acknowledge_absence("h1", T0 + 96 * H, at=T0 + 26 * H + 1800)
    eng = Engine.restore(eng.snapshot(), eng.ruleset, reg, allowed_lateness_s=0)  # the answer's time is kept
    meter.eng = eng
    out = meter.run(T0 + 27 * H, 82, uses={0: 0.02})  # used 25:00-27:00, then silent to 108:00
    assert [a for a in out if a.details.get("signal") == AWAY_ENDED] == []
    [a] = raises(out)
    assert a.ts == T0 + 108 * H  # 12 h after the away's end (96:00)


def test_water_used_before_the_registrys_away_was_imported_does_not_end_it() -> None:
    """On: households.csv holds the household away from after the 15:00 reading; the 16:00 reading's use began
    at 15:00, before the reading that found the away: the away holds; a use after that reading ends it, also
    after a restart."""
    eng, meter, reg = setup(text=AWAY_ENDS.replace("{on}", "true"))
    assert raises(meter.run(T0 + 6 * H, 10, uses={9: 0.05})) == []  # used 14:00-15:00
    away = replace(WATCHED, away_until=datetime.fromtimestamp(T0 + 96 * H, CST))
    eng.set_registry(reg.with_changes(households=[replace(reg.households["h1"], care=away)]))
    out = meter.run(T0 + 16 * H, 1, uses={0: 0.05})  # used 15:00-16:00
    assert [a for a in out if a.details.get("signal") == AWAY_ENDED] == []
    meter.eng = Engine.restore(eng.snapshot(), eng.ruleset, eng.registry, allowed_lateness_s=0)  # and when seen
    out = meter.run(T0 + 17 * H, 1, uses={0: 0.05})  # used 16:00-17:00, after the 16:00 reading found the away
    [s] = [a for a in out if a.details.get("signal") == AWAY_ENDED]
    assert s.details["used_at"] == T0 + 16 * H


BEFORE_QUIET = ABSENCE.replace("    window: 12h\n", "    window: 12h\n    before_quiet: 10h\n")


def test_an_absence_due_in_the_quiet_hours_is_raised_before_them() -> None:
    """Last use 10:00-11:00: 12 h fall due at 22:00, when the quiet hours begin; held to 06:00 that is 20 h.
    With `before_quiet: 10h` it is raised at 21:00 (11 h by then), proven by the reading then."""
    for text, due in ((ABSENCE, T0 + 30 * H), (BEFORE_QUIET, T0 + 21 * H)):
        _eng, meter, _ = setup(text=text)
        [a] = raises(meter.run(T0 + 10 * H, 22, uses={1: 0.05}))
        assert a.ts == due
        assert a.details.get("before_quiet", False) is (text == BEFORE_QUIET)


def test_an_absence_too_short_before_the_quiet_hours_waits_for_their_end() -> None:
    """Last use 12:00-13:00: at 21:00 only 9 h have passed, less than `before_quiet`: raised at 06:00."""
    _eng, meter, _ = setup(text=BEFORE_QUIET)
    [a] = raises(meter.run(T0 + 12 * H, 20, uses={1: 0.05}))
    assert a.ts == T0 + 30 * H


def test_a_single_small_use_counts_with_min_burst_but_a_trickle_does_not() -> None:
    text = ABSENCE.replace("    min_use_m3: 0.01\n", "    min_use_m3: 0.01\n    min_burst_m3: 0.002\n")
    _eng, meter, _ = setup(text=text)
    # used after 06:00, then a hand wash of 3 L after 13:00 restarts the clock: nothing at 18:00
    out = meter.run(T0 + 6 * H, 25, uses={1: 0.02, 8: 0.003})
    [a] = raises(out)
    assert a.ts == T0 + 30 * H  # 13:00 + 12 h = 01:00, in the quiet hours: 06:00
    _eng, meter, _ = setup(text=text)
    out = meter.run(T0 + 6 * H, 14, uses={1: 0.02, **{i: 0.0005 for i in range(2, 14)}})  # 0.5 L an hour
    [a] = raises(out)
    assert a.ts == T0 + 18 * H  # 12 h after the use after 06:00: the trickle is no use


def test_water_use_that_ends_an_away_tells_the_alerts_side_once() -> None:
    """On: the use that ends "away confirmed" goes out as an `AWAY_ENDED` signal (the alerts side ends its
    record of the away); later uses say nothing more. Off: no signal."""
    for on in ("true", "false"):
        eng, meter, _ = setup(text=AWAY_ENDS.replace("{on}", on))
        meter.run(T0 + 6 * H, 20, uses={0: 0.05})
        eng.acknowledge_absence("h1", T0 + 96 * H, at=T0 + 26 * H)
        out = meter.run(T0 + 26 * H, 10, uses={4: 0.02, 6: 0.02})
        signals = [a for a in out if a.details.get("signal") == AWAY_ENDED]
        if on == "false":
            assert signals == []
            continue
        [s] = signals
        assert (s.action, s.household_id, s.dedup_key) == (AlertAction.CLEAR, "h1", f"elderly_no_water:h1:{AWAY_ENDED}")
        assert s.details["used_at"] == T0 + 29 * H
        assert s.details["was_until"] == T0 + 96 * H
        assert (s.device_id, s.details["read_at"]) == ("WM1", T0 + 30 * H)  # the reading that showed it
        assert "registry_until" not in s.details  # the registry held it not away


def test_water_use_that_ends_the_registrys_away_says_so_with_its_reading() -> None:
    """On: the use that ends the care profile's away (households.csv's `away_until`) goes out as an
    `AWAY_ENDED` signal naming the registry's away it ended, the meter and its reading's time; once."""
    away = datetime.fromtimestamp(T0 + 96 * H, CST)
    _eng, meter, _ = setup(replace(WATCHED, away_until=away), text=AWAY_ENDS.replace("{on}", "true"))
    out = meter.run(T0 + 6 * H, 20, uses={13: 0.05, 15: 0.05})  # back early: used water at 18:00-19:00
    [s] = [a for a in out if a.details.get("signal") == AWAY_ENDED]
    assert (s.action, s.household_id, s.device_id) == (AlertAction.CLEAR, "h1", "WM1")
    assert s.details == {
        "signal": AWAY_ENDED,
        "used_at": T0 + 18 * H,
        "read_at": T0 + 19 * H,
        "was_until": T0 + 96 * H,
        "registry_until": T0 + 96 * H,
    }


def test_a_backdated_household_is_judged_on_its_history_from_before_the_start() -> None:
    eng, meter, _ = setup()
    now = T0 + 48 * H
    eng.start_at(now)  # readings from before the start would not move a clock timed from it
    eng.backdate({"h1"}, T0 + 6 * H)
    # the history: the 07:00 reading shows use in the hour before it, then nothing until now
    [a] = raises(meter.run(T0 + 6 * H, 42, uses={1: 0.02}))
    assert a.household_id == "h1"
    assert a.ts == T0 + 6 * H + 12 * H


ROUTINE_BEFORE_QUIET = ROUTINE.replace(
    "    routine: usual\n", "    routine: usual\n    max_window: 18h\n    before_quiet: 10h\n"
)


def test_the_reading_that_shows_use_judges_the_absence_with_the_routine_as_it_was_before_the_use() -> None:
    """A resident who uses water 08:00-09:00 and 21:00-22:00 every day: at 21:00, 13 h since the morning is
    usual, at 21:30 it is not. The reading at 22:00 shows the evening's use and proves no use until 21:00.
    Judged with the routine that has already counted that use (inactivity "since 21:00", usual until the next
    morning), `before_quiet` raised the day's absence at 21:00, out at 22:00 inside the quiet hours and cleared
    by the same reading (a real meter did so three times in the DAIAD year, e.g. on 28/03/2016)."""
    _eng, meter, _ = setup(text=ROUTINE_BEFORE_QUIET)
    out: list[Alert] = []
    for d in range(9):
        out += meter.run(T0 + d * 24 * H, 24, uses={9: 0.02, 22: 0.02})
    no_water = [a for a in raises(out) if a.rule_id == "elderly_no_water"]
    # before 5 days are learned, 12 h since the morning are an absence (at 20:00); afterwards none
    assert no_water
    assert max(a.ts for a in no_water) < T0 + 6 * 24 * H
