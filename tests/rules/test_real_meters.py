"""Absence rules on excerpts of real household meters (tests/rules/fixtures: rows of the DAIAD trial, source
and licence in each file's header): meters that go silent and report the catch-up, registers that step back,
a second meter series interleaved with the household's own."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from bench.care.data import load
from devices.registry import Registry
from rules.alert import Alert
from rules.engine import Engine
from rules.kinds.water import RESTART, UseTracker
from tests.rules.support import WATCHED, raises, reading, registry, ruleset

FIXTURES = Path(__file__).parent / "fixtures"
TZ = "Europe/Madrid"
ABSENCE = """
rules:
  - id: elderly_no_water
    kind: absence
    title: No water
    severity: major
    window: 12h
    min_use_m3: 0.01
    quiet_hours: true
    scope: {household_tags: [watched]}
"""


def at(text: str) -> float:
    """Epoch seconds of a local time of the trial site, e.g. "21/04/2016 06:00"."""
    return datetime.strptime(text, "%d/%m/%Y %H:%M").replace(tzinfo=ZoneInfo(TZ)).timestamp()


def replay(name: str, text: str = ABSENCE) -> list[tuple[float, list[Alert]]]:
    """Every reading of the fixture as the hourly meter WM1 of the watched household h1 (quiet hours
    22:00-06:00), in the trial site's zone; per reading, its time and the alerts it caused."""
    [h] = load(FIXTURES / name).households.values()
    reg: Registry = registry(watched_care=WATCHED)
    eng = Engine(ruleset(text, reg), reg, tz=TZ, allowed_lateness_s=0)
    out = []
    for ts, litres in zip(h.ts.tolist(), h.litres.tolist(), strict=True):
        out.append((ts, eng.process(reading(reg, "WM1", "telemetry", ts, volume_m3=litres / 1000.0))))
    return out


def test_water_used_while_the_meter_was_silent_longer_than_the_window_counts_as_use() -> None:
    # 20/04/2016: the last reading showing use is 00:37 (12 L); the meter is silent 10:37-23:37 and then shows
    # 22 L used meanwhile. The absence from 00:37 is not proven (the 22 L may have been used at 11:00), and
    # the 22 L are use: they must not be dropped from the running total for being dated 13 h back.
    # (Held to the end of the quiet hours, that alert would come out at 06:00: every reading is looked at.)
    steps = replay("daiad-e0bd8234-2016-04-20.csv")
    silent_from = at("20/04/2016 10:37")
    assert [a for _, alerts in steps for a in raises(alerts) if a.details["last_use"] < silent_from] == []


def test_uses_within_one_window_of_a_catch_up_use_add_up_by_their_dates() -> None:
    # 25/08/2016: 31 L up to 23:20, then 6 L by 00:20 (dated 23:20); the meter is silent 07:20-12:20 and then
    # shows 7 L, dated 11:20 (the hour before the reading). 6 + 7 L within 12 h of their dates reach 10 L: water
    # was used, and the absence from 22:20 is not proven. Pruned by the reading's time (00:20), the 6 L were
    # dropped, the 7 L alone fell short, and the reading raised twelve hours without water from 22:20.
    steps = replay("daiad-9b721922-2016-08-26.csv")
    assert [a for _, alerts in steps for a in raises(alerts)] == []


def test_a_use_after_a_long_silence_is_dated_near_the_reading_that_shows_it() -> None:
    # 21/04/2016: the meter is silent 06:37-11:37 and then shows 62 L; no use until 22:37, and 13 L in small
    # amounts by 01:37. Dated at 06:37, the 62 L would let the 18:37 reading "prove" 12 h without water, though
    # they may have been used at 11:30: the use is dated in the hour before the reading (10:37), as an hourly
    # reading's would be, and the night's small uses end the absence before the quiet hours do.
    steps = replay("daiad-e0bd8234-2016-04-20.csv")
    assert [a for _, alerts in steps for a in raises(alerts)] == []


def test_a_register_that_steps_back_does_not_restart_the_absence_clock() -> None:
    # 21/01/2017: the last use shows at 16:55 (18 L, used after 15:55); at 18:56 the register steps back 6 L;
    # no use until 09:56. The absence counts from 15:55: due at 03:55, inside the quiet hours, so raised at
    # 06:00. Taken for a replaced meter, the step back would restart the clock and delay the alert to 06:56.
    steps = replay("daiad-f52f0ae6-2017-01-21.csv")
    [a] = [a for _, alerts in steps for a in raises(alerts)]
    assert a.details["last_use"] == at("21/01/2017 15:55") + 59
    assert a.ts == at("22/01/2017 06:00")
    assert a.details["deferred_from"] == at("22/01/2017 03:55") + 59


def test_a_second_meter_series_interleaved_with_the_households_own_is_neither_use_nor_a_restart() -> None:
    # 17/01/2017 12:34-15:37: readings of a series at 456,017 L and up alternate with the household's own at
    # 207,774 L and up. A jump from one to the other is neither use (248 m3 in an hour is more than a household
    # meter can count) nor a replaced meter: the second series says nothing while the household's own goes on.
    [h] = load(FIXTURES / "daiad-9348c9bb-2017-01-17.csv").households.values()
    reg = registry()
    tracker = UseTracker()
    got = []
    for ts, litres in zip(h.ts.tolist(), h.litres.tolist(), strict=True):
        u = tracker.use(reading(reg, "WM1", "telemetry", ts, volume_m3=litres / 1000.0))
        got.append(None if u is None else round(u.m3 * 1000.0, 3))
    # the first reading starts the meter; the readings of the other series say nothing
    assert got == [RESTART * 1000.0, 0.0, None, 40.0, None, 37.0, None, 35.0, None, 21.0, 18.0, 7.0]
