"""Event rules tracked per object (`per: object_id`): the shed's smoke alert stays open while any plume the
camera is tracking is still there, and clears with the last of them."""

from __future__ import annotations

from typing import Any

from devices.registry import Registry
from rules.alert import Alert
from rules.engine import Engine
from tests.rules.support import T0, H, M, clears, default_rules, engine, raises, reading, registry

RULE = "camera_smoke_fire"
SHED = """
rules:
  - id: camera_smoke_fire
    kind: event
    title: Smoke or fire seen by camera
    severity: critical
    device_class: ai_camera
    match: [{event: smoke_fire, where: {confidence: {gte: 0.8}, state: {in: [start, pulse]}}}]
    clear: [{event: smoke_fire, where: {state: stop}}]
    per: object_id
    forget_after: 1h
"""


def smoke(reg: Registry, ts: float, state: str, obj: str | None, confidence: float = 0.9) -> Any:
    fields: dict[str, Any] = {"event": "smoke_fire", "state": state, "confidence": confidence}
    if obj is not None:
        fields["object_id"] = obj
    return reading(reg, "CAM1", "event", ts, **fields)


def run(eng: Engine, reg: Registry, steps: list[tuple[float, str, str | None]]) -> list[Alert]:
    out: list[Alert] = []
    for ts, state, obj in steps:
        out += eng.process(smoke(reg, ts, state, obj))
    return [a for a in out if a.rule_id == RULE]


def test_the_first_plume_ending_does_not_clear_while_another_burns() -> None:
    reg = registry()
    eng = engine(SHED, reg)
    out = run(eng, reg, [(T0, "start", "s1"), (T0 + 20, "start", "s2"), (T0 + 5 * M, "stop", "s1")])
    assert len(raises(out)) == 1
    assert clears(out) == []
    [c] = clears(run(eng, reg, [(T0 + 15 * M, "stop", "s2")]))
    assert c.ts == T0 + 15 * M


def test_without_per_the_first_stop_clears() -> None:
    reg = registry()
    eng = engine(SHED.replace("    per: object_id\n    forget_after: 1h\n", ""), reg)
    out = run(eng, reg, [(T0, "start", "s1"), (T0 + 20, "start", "s2"), (T0 + 5 * M, "stop", "s1")])
    assert len(clears(out)) == 1


def test_a_stop_naming_no_object_ends_them_all() -> None:
    reg = registry()
    eng = engine(SHED, reg)
    out = run(eng, reg, [(T0, "start", "s1"), (T0 + 20, "start", "s2"), (T0 + 5 * M, "stop", None)])
    assert len(clears(out)) == 1


def test_a_plume_whose_stop_was_lost_is_forgotten() -> None:
    reg = registry()
    eng = engine(SHED, reg)
    run(eng, reg, [(T0, "start", "s1"), (T0 + 20, "start", "s2")])  # s1's stop never comes
    assert clears(run(eng, reg, [(T0 + 30 * M, "stop", "s2")])) == []  # s1 seen 30 min ago: still there
    run(eng, reg, [(T0 + 40 * M, "start", "s3")])
    [c] = clears(run(eng, reg, [(T0 + 2 * H, "stop", "s3")]))  # s1 not seen for 2 h > forget_after
    assert c.ts == T0 + 2 * H
    run(eng, reg, [(T0 + 3 * H, "start", "s4")])  # never stops: kept for forget_after, then pruned by a sweep
    assert eng.state().rules[RULE]["objects"] == {f"{RULE}:CAM1": {"s4": T0 + 3 * H}}
    eng.advance(T0 + 5 * H)
    assert "objects" not in eng.state().rules[RULE]


def test_objects_survive_a_restart() -> None:
    reg = registry()
    eng = engine(SHED, reg)
    run(eng, reg, [(T0, "start", "s1"), (T0 + 20, "start", "s2"), (T0 + 5 * M, "stop", "s1")])
    restored = Engine.restore(eng.snapshot(), eng.ruleset, reg, allowed_lateness_s=0)
    for e in (eng, restored):
        assert len(clears(run(e, reg, [(T0 + 15 * M, "stop", "s2")]))) == 1


def test_the_default_rule_tracks_smoke_per_object() -> None:
    reg = registry()
    eng = Engine(default_rules(reg), reg, allowed_lateness_s=0)
    out = run(eng, reg, [(T0, "start", "s1"), (T0 + 20, "start", "s2"), (T0 + 5 * M, "stop", "s1")])
    assert (len(raises(out)), len(clears(out))) == (1, 0)
