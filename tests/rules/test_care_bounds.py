"""The policy bounds of the care benchmark (`bench.care.bounds`), on made-up households."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import numpy as np
import pytest

from bench.care.bounds import Bounds, Clock, Outcome, frontier, main
from bench.care.data import Household

TZ = "Europe/Madrid"
ZONE = ZoneInfo(TZ)
H = 3600.0
START = datetime(2016, 11, 7, tzinfo=ZONE).timestamp()  # a Monday, winter time


def household(key: str, use_hours: tuple[int, ...], days: int = 40) -> Household:
    """Hourly readings; 10 L shown by the reading at each of `use_hours` o'clock, every day."""
    ts = START + np.arange(days * 24, dtype=np.float64) * H
    hours = ((ts - START) // H % 24).astype(int)
    litres = 1000.0 + np.cumsum(np.isin(hours, use_hours) * 10.0)
    return Household(key, ts, litres)


def local(ts: float) -> str:
    return datetime.fromtimestamp(ts, ZONE).strftime("%a %H:%M")


def test_a_raise_inside_the_quiet_hours_waits_for_their_end() -> None:
    clock = Clock(TZ, START, START + 3 * 86_400.0)
    times = np.array([START + 12 * H, START + 23 * H, START + 26 * H, START + 30 * H])
    assert [local(t) for t in clock.unquiet(times)] == ["Mon 12:00", "Tue 06:00", "Tue 06:00", "Tue 06:00"]
    assert clock.hour(times).tolist() == [12, 23, 2, 6]
    assert clock.weekday(times).tolist() == [0, 0, 1, 1]


def test_a_household_using_water_twice_a_day_is_false_after_ten_hours_and_quiet_after_fourteen() -> None:
    # uses shown at 08:00 and 20:00: every gap is 12 h, so a 10 h delay raises on each, all false (the next
    # use comes within 24 h), and 14 h (08:00 + 14 h is held to 06:00, after the 20:00 use) raises on none
    b = Bounds({"a": household("a", (8, 20))}, TZ, rounds=3)
    ten, fourteen = b.fixed(10.0), b.fixed(14.0)
    assert ten.false > 50
    assert ten.false == ten.all
    assert fourteen.false == fourteen.all == 0.0
    # every injected incident is reported, later with the longer delay
    assert ten.detected == ten.incidents == 3
    assert fourteen.median > ten.median


def test_a_policy_fitted_to_its_own_year_is_at_least_as_quiet_as_one_fixed_delay() -> None:
    b = Bounds({"a": household("a", (8, 20)), "b": household("b", (7, 13, 19))}, TZ, rounds=2)
    hindsight = b.hindsight((0.0, 0.0, 0.0), "household")
    assert hindsight.false == 0.0
    learned = b.learned((0.0, 1.0, 0.0), "street")
    assert learned.incidents == 4
    assert learned.detected == 4


def test_the_frontier_keeps_only_rows_no_other_row_beats() -> None:
    b = Bounds({"a": household("a", (8, 20))}, TZ, rounds=1)
    rows = [(f"{h}", b.fixed(h)) for h in (10.0, 12.0, 14.0, 16.0)]
    kept = frontier(rows + rows)
    assert len(kept) == len({(o.false, o.all, o.median, o.p95) for _, o in kept})
    for _, o in kept:
        better = [p for _, p in rows if p != o and p.false <= o.false and p.all <= o.all]
        assert not [p for p in better if p.median <= o.median and p.p95 <= o.p95]


def test_the_frontier_is_exactly_the_rows_nothing_beats_sorted_by_p95() -> None:
    """On rows made up to have a known answer: the checks above also pass for a frontier that keeps nothing or
    too little."""
    fast = Outcome(false=2.0, all=9.0, median=4.0, p95=10.0, detected=5, incidents=5)
    quiet = Outcome(false=0.5, all=3.0, median=8.0, p95=20.0, detected=5, incidents=5)
    beaten = Outcome(false=2.0, all=9.0, median=5.0, p95=12.0, detected=5, incidents=5)  # `fast` is better on all
    missed = Outcome(false=0.0, all=0.0, median=1.0, p95=1.0, detected=4, incidents=5)  # an incident unreported
    rows = [("quiet", quiet), ("beaten", beaten), ("fast", fast), ("fast again", fast), ("missed", missed)]
    assert frontier(rows) == [("fast", fast), ("quiet", quiet)]


def test_rounds_below_one_are_refused_before_the_data_is_read(capsys: pytest.CaptureFixture[str]) -> None:
    """No round scores no incident: `np.vstack` of nothing, a traceback after the data's minute of loading."""
    for bad in ("0", "-1"):
        with pytest.raises(SystemExit) as info:
            main(["--rounds", bad, "--data", "/nonexistent"])
        assert info.value.code == 2
        assert f"at least 1, not {bad}" in capsys.readouterr().err
