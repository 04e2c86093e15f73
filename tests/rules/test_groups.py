"""Rule groups: every alert of a rule naming a `group` carries `group:target` (the device, or the household of
household rules), and keeps its own rule's dedup key, so the scorer and the clears still see each rule apart."""

from __future__ import annotations

from rules.alert import Alert, AlertAction, Severity
from rules.emit import Emitter, place_of_household
from simulator.groundtruth import Truth
from simulator.score import score
from tests.rules.support import T0, M, default_rules, engine, raises, reading, registry

SMOKE = """
rules:
  - id: smoke_concentration
    kind: threshold
    title: Smoke concentration high
    severity: major
    group: smoke
    device_class: smoke_detector
    field: smoke_obscuration_pct
    op: ">="
    value: 10
    clear_value: 5
  - id: smoke_alarm
    kind: event
    title: Smoke alarm
    severity: critical
    group: smoke
    device_class: smoke_detector
    match: [{event: alarm}]
    clear: [{event: alarm_cleared}]
  - id: gas_alarm
    kind: event
    title: Gas alarm
    severity: critical
    device_class: gas_detector
    match: [{event: alarm}]
"""


def test_alerts_of_grouped_rules_carry_the_group_of_their_device() -> None:
    reg = registry()
    eng = engine(SMOKE, reg)
    out = eng.process(reading(reg, "SD1", "telemetry", T0, smoke_obscuration_pct=12.0))
    out += eng.process(reading(reg, "SD1", "event", T0 + 30, event="alarm"))
    out += eng.process(reading(reg, "SD1", "telemetry", T0 + M, smoke_obscuration_pct=2.0))
    out += eng.process(reading(reg, "GD1", "event", T0 + 2 * M, event="alarm"))
    assert [(a.action, a.dedup_key, a.group) for a in out] == [
        (AlertAction.RAISE, "smoke_concentration:SD1", "smoke:SD1"),
        (AlertAction.RAISE, "smoke_alarm:SD1", "smoke:SD1"),
        (AlertAction.CLEAR, "smoke_concentration:SD1", "smoke:SD1"),
        (AlertAction.RAISE, f"gas_alarm:GD1@{int(T0 + 2 * M)}", None),
    ]


def test_household_rules_group_by_household() -> None:
    reg = registry()
    by_id = {r.id: r for r in default_rules(reg).rules}
    assert by_id["elderly_no_water"].group == by_id["elderly_unusual_inactivity"].group == "elderly_absence"
    em = Emitter("elderly_no_water", "No water", Severity.MAJOR, 600, True)
    em.group = "elderly_absence"
    place = place_of_household(reg, "h1")
    assert place is not None
    out: list[Alert] = []
    em.raise_(out, em.key("h1"), T0, place, {})
    assert (out[0].dedup_key, out[0].group) == ("elderly_no_water:h1", "elderly_absence:h1")


def test_grouped_rules_are_scored_each_for_itself() -> None:
    # one ticket for both, but each rule's episode still detects (or misses) its own ground truth
    reg = registry()
    eng = engine(SMOKE, reg)
    out = eng.process(reading(reg, "SD1", "telemetry", T0, smoke_obscuration_pct=12.0))
    out += eng.process(reading(reg, "SD1", "event", T0 + 30, event="alarm"))
    truth = [
        Truth("fire", "smoke_concentration", "SD1", "device", T0 - 5, T0 + M),
        Truth("fire", "smoke_alarm", "SD1", "device", T0, T0 + 2 * M),
    ]
    report = score(truth, out)
    assert (report.detected, report.false_alerts, report.episodes) == (2, 0, 2)
    assert len(raises(out)) == 2
