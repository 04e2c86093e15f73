"""The roster's cover for leave and shift swaps (`replaces`), who is on duty now and next, shift starts for the
handover, and roster.csv errors with file, line and column."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from devices.csvio import load_registry, save_registry
from devices.errors import RegistryError
from devices.model import DutyShift
from devices.registry import Registry
from devices.roster import on_duty_next, on_duty_now, shifts_starting
from tests.devices.factory import T0, tiny

H = timedelta(hours=1)


def with_roster(*extra: DutyShift) -> Registry:
    reg = tiny()
    return reg.with_changes(roster=[*reg.roster, *extra])


def test_cover_for_leave_takes_the_duty_while_it_lasts() -> None:
    reg = with_roster(DutyShift("p-w2", "m1", T0 + 2 * H, T0 + 6 * H, replaces="p-w1"))  # w1 on leave 2-6 h
    assert [p.id for p in reg.on_duty("m1", T0 + H)] == ["p-w1", "p-l1"]
    assert [p.id for p in reg.on_duty("m1", T0 + 2 * H)] == ["p-w2", "p-l1"]
    assert [p.id for p in reg.on_duty("m1", T0 + 6 * H)] == ["p-w1", "p-l1"]  # end is exclusive: w1 is back


def test_a_swap_is_two_rows_each_taking_the_others_shift() -> None:
    reg = tiny()
    # w1's day shift (0-12 h) and w2's night shift (12-24 h) swapped
    swapped = with_roster(
        DutyShift("p-w2", "m1", T0, T0 + 12 * H, replaces="p-w1"),
        DutyShift("p-w1", "m1", T0 + 12 * H, T0 + 24 * H, replaces="p-w2"),
    )
    assert [p.id for p in reg.on_duty("m1", T0 + 13 * H)] == ["p-w1", "p-w2"]  # tiny: both on at night
    assert [p.id for p in swapped.on_duty("m1", T0 + H)] == ["p-w2", "p-l1"]
    assert [p.id for p in swapped.on_duty("m1", T0 + 13 * H)] == ["p-w1"]


def test_now_and_next() -> None:
    reg = with_roster(DutyShift("p-w2", "m1", T0 + 2 * H, T0 + 6 * H, replaces="p-w1"))
    now = on_duty_now(reg, "m1", T0 + H)
    assert [(d.person.id, d.shift.end) for d in now] == [("p-w1", T0 + 12 * H), ("p-l1", T0 + 12 * H)]
    nxt = on_duty_next(reg, "m1", T0 + H)
    assert [(d.person.id, d.shift.start, d.shift.replaces) for d in nxt] == [("p-w2", T0 + 2 * H, "p-w1")]
    # during the cover, the next change is w1's own night shift
    assert [d.person.id for d in on_duty_next(reg, "m1", T0 + 3 * H)] == ["p-w1", "p-w2"]
    assert on_duty_next(reg, "m2", T0) == []


def test_shifts_starting_in_a_window() -> None:
    reg = with_roster(DutyShift("p-w2", "m1", T0 + 2 * H, T0 + 6 * H, replaces="p-w1"))
    assert [(s.person_id, s.start) for s in shifts_starting(reg, T0 + H, T0 + 2 * H)] == [("p-w2", T0 + 2 * H)]
    assert shifts_starting(reg, T0 + 2 * H, T0 + 3 * H) == []  # the start itself is before the window


def test_replaces_round_trips_through_csv(tmp_path: Path) -> None:
    reg = with_roster(DutyShift("p-w2", "m1", T0 + 2 * H, T0 + 6 * H, replaces="p-w1"))
    save_registry(reg, tmp_path)
    assert "replaces" in (tmp_path / "roster.csv").read_text(encoding="utf-8").splitlines()[0]
    assert load_registry(tmp_path) == reg


def test_bad_replaces_rows_are_named_with_file_line_and_column(tmp_path: Path) -> None:
    save_registry(tiny(), tmp_path)
    roster = tmp_path / "roster.csv"
    lines = roster.read_text(encoding="utf-8").splitlines()
    lines += [
        "p-w2,m1,2026-03-01T10:00:00+08:00,2026-03-01T14:00:00+08:00,p-w2",  # itself
        "p-w2,m1,2026-03-01T10:00:00+08:00,2026-03-01T14:00:00+08:00,p-nobody",
        "p-w2,m1,2026-03-03T10:00:00+08:00,2026-03-03T14:00:00+08:00,p-w1",  # w1 has no shift then
    ]
    roster.write_text("\n".join(lines) + "\n", encoding="utf-8")
    with pytest.raises(RegistryError) as info:
        load_registry(tmp_path)
    text = str(info.value)
    first = len(lines) - 2  # the 1-based line of the first added row
    assert f"roster.csv:{first}: replaces: a shift cannot take over its own person's duty" in text
    assert f"roster.csv:{first + 1}: replaces: person 'p-nobody' does not exist" in text
    assert f"roster.csv:{first + 2}: replaces: 'p-w1' has no shift in 'm1' between" in text
