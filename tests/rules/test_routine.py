"""The learned routine guarding the absence rule for real households: out all day, night shifts, days away,
answered absences, the household's own morning, a bound on how long the routine holds an absence back, and
quiet hours also when an absence is proven during them."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime

import pytest

from devices.model import CareProfile
from devices.registry import Registry
from rules.alert import Alert
from rules.config import RuleConfigError
from rules.engine import Engine
from rules.kinds.baseline import BaselineEvaluator
from tests.rules.support import T0, WATCHED, H, raises, reading, registry, ruleset

RULES = """
rules:
  - id: elderly_no_water
    kind: absence
    title: No water
    severity: major
    window: {window}
    min_use_m3: 0.01
    quiet_hours: true
    routine: {routine}
    {extra}
    scope: {{household_tags: [watched]}}
  - id: routine
    kind: baseline
    title: Routine
    severity: minor
    mode: inactivity
    percentile: 97
    buffer: 1h
    late_by: 1h
    min_inactivity: 6h
    min_use_m3: 0.001
    min_days: 7
    learn_max: 24h
    raises: false
    scope: {{household_tags: [watched]}}
"""
NONE = RULES.replace("    routine: {routine}\n", "")


class Life:
    """A watched household's hourly meter, driven one day at a time by `uses(day, hour) -> litres`."""

    def __init__(self, text: str, care: CareProfile = WATCHED) -> None:
        self.reg: Registry = registry(watched_care=care)
        self.eng = Engine(ruleset(text, self.reg), self.reg, allowed_lateness_s=0)
        self.vol = 10.0
        self.alerts: list[tuple[float, Alert]] = []

    def days(self, first: int, n: int, uses: Callable[[int, int], float]) -> None:
        for d in range(first, first + n):
            for h in range(24):
                self.hour(T0 + d * 24 * H + h * H, uses(d, h))

    def hour(self, t: float, litres: float = 0.0) -> None:
        self.vol += litres / 1000.0
        out = self.eng.process(reading(self.reg, "WM1", "telemetry", t, volume_m3=round(self.vol, 4)))
        self.alerts += [(t, a) for a in out]

    def raised(self, rule: str = "elderly_no_water", after: float = float("-inf")) -> list[Alert]:
        return [a for t, a in self.alerts if t >= after and a in raises([a], rule)]


def rules(window: str = "12h", routine: bool = True, extra: str = "") -> str:
    text = RULES if routine else NONE
    return text.format(window=window, routine="routine", extra=extra)


def worker(d: int, h: int) -> float:
    """Up at 06:00, out 07:00-19:00 (the uses show at 07:00 and 20:00: 13 h without water), in bed at 22:00."""
    return 15.0 if h in (7, 20, 21) else 0.0


def night_shift(d: int, h: int) -> float:
    """Home from work at 07:00, asleep 08:00-18:00, up 18:00-22:00, at work 22:00-07:00."""
    return 10.0 if h in (7, 18, 19, 20, 21) else 0.0


def test_a_routine_that_raises_nothing_still_guards_the_absence_rule() -> None:
    life = Life(rules())
    life.days(0, 21, worker)
    life.days(21, 2, lambda d, h: 15.0 if d == 21 and h == 7 else 0.0)  # gone after 07:00 on day 21
    assert life.raised("routine") == []
    [a] = life.raised(after=T0 + 21 * 24 * H)
    # the worker's usual 13 h without water (used after 06:00, then after 19:00) hold the 12 h back: raised
    # when the routine's limit (97th percentile, + 1 h buffer, + 1 h late) is passed, before the quiet hours
    assert a.ts == T0 + 21 * 24 * H + 6 * H + 14.5 * H
    assert "deferred_from" not in a.details


@pytest.mark.parametrize(("name", "uses", "window"), [("worker", worker, "12h"), ("night shift", night_shift, "10h")])
def test_the_households_own_routine_is_not_an_absence(
    name: str, uses: Callable[[int, int], float], window: str
) -> None:
    guarded = Life(rules(window))
    guarded.days(0, 28, uses)
    plain = Life(rules(window, routine=False))
    plain.days(0, 28, uses)
    assert len(plain.raised()) >= 20  # every day: 13 h out, or 10 h asleep in the day
    # after the first week (min_days) the routine holds them back
    assert guarded.raised(after=T0 + 8 * 24 * H) == []


def test_the_routine_holds_an_absence_back_at_most_max_window() -> None:
    gone_at = T0 + 21 * 24 * H + 7 * H  # the worker's last use, then nothing

    def life(extra: str) -> Alert:
        lv = Life(rules(extra=extra))
        lv.days(0, 21, worker)
        lv.days(21, 3, lambda d, h: 15.0 if d == 21 and h == 7 else 0.0)
        [a] = lv.raised(after=T0 + 21 * 24 * H)
        return a

    unbounded = life("")
    bounded = life("max_window: 13h")
    assert bounded.ts == gone_at - H + 13 * H  # the use shown at 07:00 was made after 06:00
    assert unbounded.ts > bounded.ts


def test_days_away_and_answered_absences_are_not_learned() -> None:
    away = Life(rules(), care=replace(WATCHED, away_until=datetime.fromtimestamp(T0 + 10 * 24 * H, UTC)))
    away.days(0, 14, worker)
    plain = Life(rules())
    plain.days(0, 14, worker)
    rows = {life: len(_routine(life).history["h1"]) for life in (away, plain)}
    assert rows[plain] == 12  # days 1-12 (day 0 began before the meter's first reading; day 13 is not over)
    assert rows[away] == 3  # days 10-12: the days before were marked away
    answered = Life(rules())
    answered.days(0, 10, worker)
    for h in range(13):
        answered.hour(T0 + 10 * 24 * H + h * H, worker(10, h))
    answered.eng.acknowledge_absence("h1", None, at=T0 + 10 * 24 * H + 13 * H)  # a visit at 13:00 on day 10
    for h in range(13, 24):
        answered.hour(T0 + 10 * 24 * H + h * H, worker(10, h))
    answered.days(11, 3, worker)
    assert len(_routine(answered).history["h1"]) == rows[plain] - 1  # day 10 is not learned


def _routine(life: Life) -> BaselineEvaluator:
    return next(ev for ev in life.eng._evaluators if isinstance(ev, BaselineEvaluator))


def late_riser(d: int, h: int) -> float:
    """Up at 08:00 (the use shows at 08:00, made after 07:00) every day, last use at 20:00."""
    return 10.0 if 8 <= h <= 20 else 0.0


@pytest.mark.parametrize(("until", "at_hour"), [("end", 6), ("morning", 7)])
def test_an_absence_due_at_night_is_judged_at_the_households_morning(until: str, at_hour: int) -> None:
    life = Life(rules(extra=f"quiet_until: {until}"))
    life.days(0, 14, late_riser)
    life.days(14, 2, lambda d, h: 10.0 if d == 14 and 8 <= h <= 11 else 0.0)  # gone after 11:00 on day 14
    [a] = life.raised(after=T0 + 14 * 24 * H)
    # 12 h after the use made after 10:00 is 22:00, inside the quiet hours (22:00-06:00): judged at their end,
    # or when this household usually starts its day (its first use after 02:00 is made after 07:00)
    assert a.ts == T0 + 15 * 24 * H + at_hour * H
    assert a.details["deferred_from"] == T0 + 14 * 24 * H + 22 * H


@pytest.mark.parametrize(("cap", "at_hour"), [("", 7), ("max_window: 18h", 6)])
def test_the_households_morning_holds_an_absence_no_longer_than_max_window(cap: str, at_hour: int) -> None:
    life = Life(rules(extra=f"quiet_until: morning\n    {cap}"))
    life.days(0, 14, late_riser)
    life.days(14, 2, lambda d, h: 10.0 if d == 14 and 8 <= h <= 13 else 0.0)  # gone after 13:00 on day 14
    [a] = life.raised(after=T0 + 14 * 24 * H)
    # due at 00:00 (12 h after the use made after 12:00), held to the end of the quiet hours (06:00, 18 h after
    # the last use); the household's morning (07:00) would be 19 h, past `max_window`: the quiet hours' end
    assert a.ts == T0 + 15 * 24 * H + at_hour * H


def test_an_absence_proven_during_the_quiet_hours_waits_for_their_end() -> None:
    life = Life(rules(routine=False))
    life.hour(T0 + 8 * H, 0.0)
    life.hour(T0 + 9 * H, 20.0)  # the last use, made after 08:00: due at 20:00
    life.hour(T0 + 23 * H)  # the meter, silent since 09:00, proves the absence at 23:00
    assert life.raised() == []
    life.hour(T0 + 30 * H)
    [a] = life.raised()
    assert a.ts == T0 + 30 * H
    assert a.details["deferred_from"] == T0 + 20 * H


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        (rules(routine=False, extra="quiet_until: morning"), "morning needs a routine"),
        (rules(routine=False, extra="max_window: 20h"), "max_window bounds a routine"),
        (rules(extra="max_window: 10h"), "max_window must not be shorter than window"),
    ],
)
def test_routine_settings_that_cannot_work_stop_loading(text: str, reason: str) -> None:
    with pytest.raises(RuleConfigError, match=reason):
        ruleset(text, registry())


@pytest.mark.parametrize("on", [True, False])
def test_water_use_ends_an_answered_away_for_the_routine_too(on: bool) -> None:
    """With `away_ends_on_use`, the routine counts the inactivity from the use that ended the away, not from
    the away's date: the resident back early who then falls is reported within a day."""
    life = Life(rules(extra=f"away_ends_on_use: {str(on).lower()}"))
    life.days(0, 14, worker)
    life.eng.acknowledge_absence("h1", T0 + 20 * 24 * H, at=T0 + 14 * 24 * H)
    life.days(14, 6, lambda d, h: 15.0 if d == 15 and h == 7 else 0.0)  # back on day 15 at 07:00, then a fall
    got = life.raised(after=T0 + 14 * 24 * H)
    if on:
        [a] = got
        assert T0 + 15 * 24 * H + 7 * H < a.ts <= T0 + 16 * 24 * H + 7 * H
    else:
        assert got == []  # away until day 20: the fall is not seen before then
