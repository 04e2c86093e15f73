"""Scenario files: validation with file and line, time expressions, the shipped scenarios."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from simulator.errors import ScenarioError
from simulator.scenario import SCENARIO_DIR, load_scenario, parse_scenario
from simulator.timeparse import parse_duration, parse_instant
from tests.simulator.conftest import scenario

GOOD = """\
name: x
start: 2026-03-02T00:00:00+08:00
hours: 6
incidents:
  - kind: door_forced
    at: day 1 02:00
"""


def test_an_unknown_field_is_refused_with_file_and_line(tmp_path: Path) -> None:
    bad = GOOD + "    colour: red\n"
    path = tmp_path / "bad.yaml"
    path.write_text(bad, encoding="utf-8")
    with pytest.raises(ScenarioError) as e:
        load_scenario(path)
    assert f"{path}:7:" in str(e.value)
    assert "colour" in str(e.value)


def test_bad_kind_and_bad_times_are_refused_with_their_lines() -> None:
    with pytest.raises(ScenarioError, match=r"<s>:5: incidents\.0\.kind"):
        parse_scenario(GOOD.replace("door_forced", "alien_landing"), "<s>")
    with pytest.raises(ScenarioError, match="outside the period"):
        parse_scenario(GOOD.replace("day 1 02:00", "day 2 02:00"), "<s>")
    with pytest.raises(ScenarioError, match="not RFC 3339"):
        parse_scenario(GOOD.replace("day 1 02:00", "tomorrow"), "<s>")
    with pytest.raises(ScenarioError, match="not valid YAML"):
        parse_scenario("name: [", "<s>")


def test_time_expressions() -> None:
    start = scenario(hours=1).start
    assert parse_duration("1h30m") == 5400
    assert parse_duration(90) == 90
    assert parse_instant("+2h", start) == start.timestamp() + 7200
    assert parse_instant("day 2 07:10", start) == start.timestamp() + 86_400 + 7 * 3600 + 600
    assert parse_instant("2026-03-02T08:00:00", start) == start.timestamp() + 8 * 3600  # naive = China time
    with pytest.raises(ValueError, match="duration"):
        parse_duration("3 fortnights")


def test_shipped_scenarios_load_and_the_week_has_enough_incidents() -> None:
    names = sorted(p.stem for p in SCENARIO_DIR.glob("*.yaml"))
    assert {"week", "smoke-test", "demo"} <= set(names)
    week = load_scenario("week")
    kinds = Counter(i.kind for i in week.incidents)
    assert len(week.incidents) >= 20
    assert len(kinds) >= 8
    assert week.days == 7
    demo = load_scenario("demo")
    specs = demo.incident_specs()
    assert demo.speed == 1
    assert len(specs) >= 100
    assert load_scenario("smoke-test").hours <= 12
