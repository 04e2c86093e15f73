"""The thin end-to-end slice: a thrown object seen by a camera becomes an alert for its micro-grid."""

from __future__ import annotations

from rules.alert import AlertAction, Severity
from rules.engine import Engine
from tests.rules.support import T0, default_rules, raises, reading, registry


def test_thrown_object_with_confidence_raises_for_the_microgrid() -> None:
    reg = registry()
    eng = Engine(default_rules(reg), reg)
    out = eng.process(reading(reg, "CAM1", "event", T0 + 100, event="thrown_object", confidence=0.91, state="pulse"))
    [a] = raises(out, "thrown_object")
    assert a.action is AlertAction.RAISE
    assert a.severity in (Severity.CRITICAL, Severity.MAJOR)
    assert a.microgrid_id == "mg1"
    assert a.device_id == "CAM1"
    assert a.building_id == "b1"
    assert a.ts == T0 + 100
    assert a.dedup_key.startswith("thrown_object:CAM1")


def test_low_confidence_thrown_object_is_ignored() -> None:
    reg = registry()
    eng = Engine(default_rules(reg), reg)
    out = eng.process(reading(reg, "CAM1", "event", T0 + 100, event="thrown_object", confidence=0.79, state="pulse"))
    assert raises(out) == []
