"""Loading rule files: every problem stops loading with file, line and reason; the default set loads."""

from __future__ import annotations

from pathlib import Path

import pytest

from rules.config import KINDS, DurationRule, default_ruleset_path, load_ruleset
from rules.durations import format_duration, parse_duration
from rules.errors import RuleConfigError
from tests.rules.support import registry

GOOD = """\
version: 1
rules:
  - id: door_held_open
    kind: duration
    title: Door held open
    severity: minor
    device_class: access_control
    for: 5m
    start: [{event: held_open}]
    stop: [{event: door_closed}]
"""


def load(tmp_path: Path, text: str) -> None:
    p = tmp_path / "rules.yaml"
    p.write_text(text, encoding="utf-8")
    load_ruleset(p, registry())


def error(tmp_path: Path, text: str) -> RuleConfigError:
    with pytest.raises(RuleConfigError) as ei:
        load(tmp_path, text)
    return ei.value


def test_default_rule_set_loads_on_the_sample_street() -> None:
    from datetime import date

    from devices.sample import sample_street

    rs = load_ruleset(default_ruleset_path(), sample_street(1, start=date(2026, 3, 2), days=1))
    ids = {r.id for r in rs.rules}
    assert {"smoke_alarm", "thrown_object", "elderly_no_water", "device_offline", "face_fail_burst"} <= ids
    assert {r.kind for r in rs.rules} == set(KINDS)


def test_good_file_loads_with_durations_in_seconds(tmp_path: Path) -> None:
    p = tmp_path / "rules.yaml"
    p.write_text(GOOD, encoding="utf-8")
    rs = load_ruleset(p, registry())
    rule = rs.rules[0]
    assert isinstance(rule, DurationRule)
    assert rule.for_ == 300
    assert rs.source == p


def test_bad_duration_names_file_line_and_field(tmp_path: Path) -> None:
    e = error(tmp_path, GOOD.replace("for: 5m", "for: 2x"))
    assert e.file is not None
    assert e.file.name == "rules.yaml"
    assert e.line == 8
    assert str(e) == "rules.yaml:8: rules[0].for: bad duration '2x'"


def test_unknown_field_is_refused(tmp_path: Path) -> None:
    e = error(tmp_path, GOOD.replace("    severity: minor\n", "    severity: minor\n    colour: red\n"))
    assert e.line == 7
    assert "unknown field 'colour'" in e.reason


def test_unknown_kind_is_refused(tmp_path: Path) -> None:
    e = error(tmp_path, GOOD.replace("kind: duration", "kind: sometimes"))
    assert e.line is not None
    assert e.line <= 4
    assert "sometimes" in e.reason


def test_scope_naming_a_missing_node_is_refused(tmp_path: Path) -> None:
    e = error(tmp_path, GOOD + "    scope: {buildings: [b9]}\n")
    assert e.line == 11
    assert "'b9' does not exist" in e.reason


def test_scope_node_at_the_wrong_level_is_refused(tmp_path: Path) -> None:
    e = error(tmp_path, GOOD + "    scope: {communities: [b1]}\n")
    assert "'b1' is a building" in e.reason


def test_scope_that_matches_no_device_is_refused(tmp_path: Path) -> None:
    # building b2 has no access controller
    e = error(tmp_path, GOOD + "    scope: {buildings: [b2]}\n")
    assert "matches no device" in e.reason


def test_event_name_the_class_never_sends_is_refused(tmp_path: Path) -> None:
    e = error(tmp_path, GOOD.replace("{event: door_closed}", "{event: door_shut}"))
    assert e.line == 10
    assert "door_shut" in e.reason


def test_field_the_class_never_sends_is_refused(tmp_path: Path) -> None:
    e = error(tmp_path, GOOD.replace("{event: held_open}", "{where: {flow_lpm: {gt: 1}}}"))
    assert "flow_lpm" in e.reason


def test_duplicate_ids_are_refused(tmp_path: Path) -> None:
    body = GOOD.split("rules:\n")[1]
    e = error(tmp_path, GOOD + body)
    assert "duplicate rule id" in e.reason
    assert e.line == 11


def test_yaml_syntax_error_has_a_line(tmp_path: Path) -> None:
    e = error(tmp_path, GOOD + "  - id: [unclosed\n")
    assert e.line is not None
    assert e.line >= 11
    assert e.reason.startswith("YAML")


def test_every_problem_is_listed(tmp_path: Path) -> None:
    e = error(tmp_path, GOOD.replace("for: 5m", "for: 2x").replace("severity: minor", "severity: dire"))
    assert len(e.problems) == 2
    assert e.problems[0].startswith("rules.yaml:6:")


LANE = """\
version: 1
rules:
  - id: fire_lane_blocked
    kind: duration
    title: Fire lane blocked
    severity: major
    device_class: ai_camera
    for: 10m
    per: object_id
    start: [{event: fire_lane_blocked, where: {state: start}}]
    stop: [{event: fire_lane_blocked, where: {state: stop}}]
"""


def test_per_object_duration_loads(tmp_path: Path) -> None:
    p = tmp_path / "rules.yaml"
    p.write_text(LANE + "    forget_after: 2h\n", encoding="utf-8")
    rule = load_ruleset(p, registry()).rules[0]
    assert isinstance(rule, DurationRule)
    assert (rule.per, rule.forget_after, rule.forget_s()) == ("object_id", 7200, 7200)
    p.write_text(LANE, encoding="utf-8")
    rule = load_ruleset(p, registry()).rules[0]
    assert isinstance(rule, DurationRule)
    assert (rule.forget_after, rule.forget_s()) == (None, 4 * 3600)


def test_per_must_name_a_field_of_the_class(tmp_path: Path) -> None:
    e = error(tmp_path, GOOD + "    per: object_id\n")
    assert str(e) == "rules.yaml:11: rules[0].per: no access_control message has field 'object_id'"


def test_forget_after_is_checked(tmp_path: Path) -> None:
    e = error(tmp_path, GOOD + "    forget_after: 1h\n")
    assert str(e) == "rules.yaml:11: rules[0].forget_after: forget_after needs per (it is how long an object is kept)"
    e = error(tmp_path, LANE + "    forget_after: 5m\n")
    assert str(e) == (
        "rules.yaml:12: rules[0].forget_after: forget_after (5m) must be longer than for (10m): "
        "an object would be forgotten before the rule could raise"
    )
    e = error(tmp_path, LANE + "    forget_after: soon\n")
    assert str(e) == "rules.yaml:12: rules[0].forget_after: bad duration 'soon'"
    e = error(tmp_path, LANE.replace("per: object_id", "per: ''"))
    assert e.line == 9
    assert e.reason.startswith("rules[0].per:")


def test_missing_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(RuleConfigError, match="cannot read"):
        load_ruleset(tmp_path / "nope.yaml", registry())


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("90s", 90), ("5m", 300), ("2h", 7200), ("1h30m", 5400), ("1d", 86400), (42, 42), ("0.5h", 1800)],
)
def test_durations(text: str | int, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("bad", ["", "2x", "5 minutes", "-1s", "h", True, -3, None])
def test_bad_durations(bad: object) -> None:
    with pytest.raises(ValueError, match="bad duration"):
        parse_duration(bad)


def test_format_duration() -> None:
    assert format_duration(7200) == "2h"
    assert format_duration(90) == "90s"


def test_forget_after_of_an_event_rule_needs_per(tmp_path: Path) -> None:
    text = """rules:
  - id: shed
    kind: event
    title: Smoke
    severity: critical
    device_class: ai_camera
    match: [{event: smoke_fire}]
    forget_after: 1h
"""
    e = error(tmp_path, text)
    assert str(e) == "rules.yaml:8: rules[0].forget_after: forget_after needs per (it is how long an object is kept)"


DOOR_GROUP = GOOD.replace("    severity: minor\n", "    severity: minor\n    group: door\n") + (
    """  - id: door_forced
    kind: event
    title: Door forced
    severity: critical
    group: door
    device_class: access_control
    match: [{event: forced_open}]
"""
)


def test_rules_naming_one_group_load(tmp_path: Path) -> None:
    p = tmp_path / "rules.yaml"
    p.write_text(DOOR_GROUP, encoding="utf-8")
    assert [r.group for r in load_ruleset(p, registry()).rules] == ["door", "door"]


def test_a_group_of_one_rule_is_refused(tmp_path: Path) -> None:
    e = error(tmp_path, DOOR_GROUP.replace("    group: door\n    device_class", "    group: dor\n    device_class", 1))
    assert str(e) == (
        "rules.yaml:7: rules[0].group: group 'dor' has no other rule: rules naming the same group share one ticket "
        "per target"
    )


def test_a_group_named_like_a_rule_is_refused(tmp_path: Path) -> None:
    e = error(tmp_path, DOOR_GROUP.replace("group: door", "group: door_forced"))
    assert str(e) == (
        "rules.yaml:7: rules[0].group: group 'door_forced' is also a rule id: their tickets would share keys"
    )


def test_a_group_of_household_and_device_rules_is_refused(tmp_path: Path) -> None:
    text = DOOR_GROUP + (
        """  - id: no_water
    kind: absence
    title: No water
    severity: major
    group: door
"""
    )
    e = error(tmp_path, text)
    assert str(e) == (
        "rules.yaml:7: rules[0].group: group 'door' mixes household rules (no_water) and device rules "
        "(door_held_open, door_forced): a group joins the alerts about one device or one household"
    )


def test_a_bad_group_name_is_refused(tmp_path: Path) -> None:
    e = error(tmp_path, DOOR_GROUP.replace("group: door", "group: Door 1"))
    assert e.line == 7
    assert e.reason.startswith("rules[0].group: String should match pattern")


def test_the_default_groups() -> None:
    from datetime import date

    from devices.sample import sample_street

    rs = load_ruleset(default_ruleset_path(), sample_street(1, start=date(2026, 3, 2), days=1))
    groups: dict[str, set[str]] = {}
    for r in rs.rules:
        if r.group is not None:
            groups.setdefault(r.group, set()).add(r.id)
    assert groups == {
        "smoke": {"smoke_concentration", "smoke_alarm", "smoke_not_cleared"},
        "door": {"door_forced", "door_held_open"},
        "elderly_absence": {"elderly_no_water", "elderly_unusual_inactivity"},
    }


def test_a_title_per_language_or_one_for_all(tmp_path: Path) -> None:
    """`title: {zh-CN: ..., en: ...}` gives each language its own; a plain string is the title in every one."""

    p = tmp_path / "rules.yaml"
    p.write_text(GOOD.replace("title: Door held open", "title:\n      zh-CN: 门长时间未关\n      en: Door held open"))
    rule = load_ruleset(p, registry()).rules[0]
    assert rule.title.by_lang() == {"zh-CN": "门长时间未关", "en": "Door held open"}
    assert rule.title.text() == "门长时间未关 Door held open"
    p.write_text(GOOD, encoding="utf-8")
    plain = load_ruleset(p, registry()).rules[0]
    assert (plain.title.by_lang(), plain.title.text()) == ({}, "Door held open")


def test_a_bad_title_names_file_line_and_key(tmp_path: Path) -> None:
    one = "title:\n      zh-CN: 门长时间未关\n"
    e = error(tmp_path, GOOD.replace("title: Door held open\n", one))
    assert str(e) == "rules.yaml:5: rules[0].title.en: missing field"
    e = error(tmp_path, GOOD.replace("title: Door held open\n", one + "      en: Door open\n      fr: Porte\n"))
    assert str(e) == "rules.yaml:8: rules[0].title.fr: unknown field 'fr'"
    e = error(tmp_path, GOOD.replace("title: Door held open\n", one + '      en: ""\n'))
    assert e.line == 7
    assert "rules[0].title.en" in str(e)


def test_prior_late_hours_must_be_a_span_of_the_day(tmp_path: Path) -> None:
    rule = """version: 1
rules:
  - id: usual
    kind: baseline
    title: Unusual inactivity
    severity: minor
    mode: inactivity
    late_by: 3h
    prior_late_hours: HOURS
    scope: {household_tags: [watched]}
"""
    load(tmp_path, rule.replace("HOURS", '"04:00-12:00"'))
    e = error(tmp_path, rule.replace("HOURS", '"4-12"'))
    assert "bad hours '4-12'" in e.reason
