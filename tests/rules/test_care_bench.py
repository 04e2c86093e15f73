"""The care benchmark's pieces (`bench.care`), on tiny data: the figures come from `python -m bench.care`."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from bench.care import score, truth
from bench.care.data import FILE, DataMissingError, Household, find_data, load
from bench.care.naive import NaiveFixed

FIXTURES = Path(__file__).parent / "fixtures"
H = 3600.0
HEADER = "user key;datetime;meter reading;diff\n"


def test_the_repeated_autumn_hour_is_placed_after_the_previous_row(tmp_path: Path) -> None:
    rows = [
        "30/10/2016 01:56:14;100;0",
        "30/10/2016 02:56:14;101;1",  # summer time
        "30/10/2016 02:56:28;102;1",  # the same wall-clock hour again, in winter time
        "30/10/2016 02:56:28;102;0",  # an exact duplicate: dropped
        "30/10/2016 03:56:28;103;1",
    ]
    p = tmp_path / "x.csv"
    p.write_text(HEADER + "".join(f"k;{r}\n" for r in rows), encoding="utf-8")
    ds = load(p)
    h = ds.households["k"]
    assert ds.dropped == 1
    assert np.diff(h.ts).tolist() == [3600.0, 3614.0, 3600.0]
    assert h.litres.tolist() == [100.0, 101.0, 102.0, 103.0]


def test_the_data_is_looked_for_beside_the_project_or_one_of_its_parents(tmp_path: Path) -> None:
    project = tmp_path / "wt" / "care"
    project.mkdir(parents=True)
    with pytest.raises(DataMissingError, match="absent"):
        find_data(root=project)
    data = tmp_path / "shared" / "data"
    data.mkdir(parents=True)
    (data / FILE).write_bytes(b"")
    assert find_data(root=project) == data / FILE
    with pytest.raises(DataMissingError, match=r"absent: .*nowhere\.csv does not exist.*Nothing was measured"):
        find_data(tmp_path / "nowhere.csv")


def test_uses_follow_the_households_own_register_through_an_interleaved_series() -> None:
    [h] = load(FIXTURES / "daiad-9348c9bb-2017-01-17.csv").households.values()
    u = truth.uses(h)
    # only the household's own series (207,774 L and up) shows use; the 456,017 L series is ignored
    assert u.litres.tolist() == [40.0, 37.0, 35.0, 21.0, 18.0, 7.0]
    assert set(u.top.tolist()) <= set(range(207_774, 207_933))


def series(hours_with_use: list[int], n: int = 72, step: float = 10.0) -> Household:
    litres = np.cumsum([step if i in hours_with_use else 0.0 for i in range(n)]) + 1000.0
    return Household("k", np.arange(n, dtype=np.float64) * H, litres)


def test_an_alert_is_false_when_water_was_surely_used_again_within_a_day() -> None:
    u = truth.uses(series([1, 2, 20, 50]))
    # last use shown at 02:00 (used after 01:00), next one shown at 20:00: at most 19 h apart
    assert truth.is_false(u, 14 * H)
    # last use shown at 20:00 (after 19:00), next at 50:00: up to 31 h apart, not surely within a day
    assert not truth.is_false(u, 33 * H)
    assert truth.gap_after(u, 60 * H) == float("inf")


def test_an_incident_keeps_the_register_flat_and_the_meter_reporting() -> None:
    h = series([1, 2, 5, 30, 40])
    u = truth.uses(h)
    inc = truth.Incident("k", 5.5 * H, 5 * H)
    cut = truth.cut(h, u, inc)
    assert cut.ts.tolist() == h.ts.tolist()
    assert cut.litres[6:].tolist() == [h.litres[5]] * (len(h.ts) - 6)
    ten_days = series(list(range(0, 240, 5)), n=240)
    rng = np.random.default_rng(1)
    got = truth.pick_incidents({"k": ten_days}, {"k": truth.uses(ten_days)}, rng, "UTC", hours=(7, 23))
    assert 0 <= got["k"].cut - got["k"].last_use <= 3 * H
    assert 7 <= got["k"].cut % 86_400 / H < 23


def test_the_naive_rule_raises_once_per_stretch_under_ten_litres_in_twelve_hours() -> None:
    h = series([1, 2, 30, 31], n=60)
    assert NaiveFixed().alerts(h.ts, h.litres, "UTC") == [14 * H, 43 * H]


def test_incidents_are_reported_by_the_first_alert_after_them() -> None:
    inc = truth.Incident("k", 10 * H, 8 * H)
    raised = [
        score.Raised("k", "elderly_no_water", 5 * H, 5 * H),  # before the incident
        score.Raised("k", "device_offline", 12 * H, 12 * H),  # not a no-water alert
        score.Raised("k", "elderly_no_water", 20 * H, 23 * H),  # dated 20:00, went out at 23:00
    ]
    f = score.fast(raised, [inc], frozenset({"elderly_no_water"}), "UTC")
    assert (f.incidents, f.detected, f.delays, f.in_quiet) == (1, 1, [15.0], 1)


def test_grouped_rules_open_one_ticket_per_absence() -> None:
    """The fixed and the learned absence of one household share the group's ticket while either is live; once
    both cleared, the next absence opens a new ticket. An ungrouped rule has a ticket per condition."""
    g = "elderly_absence:h-k"

    def ch(rule: str, raised: bool, t: float, group: str | None = g) -> score.Change:
        return score.Change("k", rule, f"{rule}:h-k", group, raised, t, t)

    got = score.tickets(
        [
            ch("elderly_unusual_inactivity", True, 1 * H),
            ch("elderly_no_water", True, 2 * H),  # the same absence: joins
            ch("elderly_unusual_inactivity", False, 3 * H),
            ch("elderly_unusual_inactivity", True, 4 * H),  # the fixed one is still live: joins
            ch("elderly_no_water", False, 5 * H),
            ch("elderly_unusual_inactivity", False, 5 * H),
            ch("elderly_no_water", True, 30 * H),  # the next absence
            ch("device_offline", True, 31 * H, None),
            ch("device_offline", True, 32 * H, None),  # a repeat of the live condition
        ]
    )
    assert [(t.rule, t.dated) for t in got] == [
        ("elderly_unusual_inactivity", 1 * H),
        ("elderly_no_water", 30 * H),
        ("device_offline", 31 * H),
    ]


def test_offline_again_within_reopen_within_reopens_its_ticket() -> None:
    """A meter that drops off again within its rule's `reopen_within` of its ticket's resolution reopens that
    ticket (counted apart); later, or without `reopen_within`, it is a new ticket."""
    week = 7 * 24 * H

    def ch(raised: bool, t: float, reopen: float = week) -> score.Change:
        return score.Change("k", "device_offline", "device_offline:WM-k", None, raised, t, t, reopen if raised else 0)

    reopened: list[score.Raised] = []
    got = score.tickets(
        [ch(True, 0), ch(False, 30 * H), ch(True, 80 * H), ch(False, 90 * H), ch(True, 90 * H + week + H)],
        reopened,
    )
    assert [t.dated for t in got] == [0, 90 * H + week + H]
    assert [t.dated for t in reopened] == [80 * H]
    assert len(score.tickets([ch(True, 0, 0), ch(False, 30 * H), ch(True, 80 * H, 0)])) == 2


def test_the_service_files_the_tickets_the_engine_raises() -> None:
    """`--service`: a real excerpt through the service's rule runner and ticket store gives the engine's tickets."""
    from bench.care.run import service_check

    ds = load(FIXTURES / "daiad-f52f0ae6-2017-01-21.csv")  # a day without water: a no-water ticket
    out = service_check(ds, FIXTURES / "x.csv", ["shipped rules"], 1, 3.0, 300.0, min_readings=0)
    [engine, service] = [line for line in out.splitlines() if line.startswith("| shipped rules:")]
    assert engine.split("|")[2:] == service.split("|")[2:]
    assert engine.split("|")[2].strip() != "0.00"
    assert "the same tickets (household, opening rule, date): yes" in out
