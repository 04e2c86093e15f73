"""Duration rules tracked per object (`per: object_id`): a fire lane stays blocked while any vehicle that
stopped in it is still there, whatever the others do; objects whose stop was lost are forgotten."""

from __future__ import annotations

from typing import Any

import msgspec

from devices.registry import Registry
from rules.alert import Alert
from rules.engine import Engine
from tests.rules.support import T0, H, M, clears, default_rules, engine, raises, reading, registry

RULE = "fire_lane_blocked"
KEY = f"{RULE}:CAM1"
LANE = """
rules:
  - id: fire_lane_blocked
    kind: duration
    title: Fire lane blocked for 10 min
    severity: major
    device_class: ai_camera
    for: 10m
    per: object_id
    start: [{event: fire_lane_blocked, where: {state: {in: [start, pulse]}, confidence: {gte: 0.8}}}]
    stop: [{event: fire_lane_blocked, where: {state: stop}}]
"""
WITHOUT_PER = LANE.replace("    per: object_id\n", "")
CAR, VAN = "v57885", "v815e9"
T = T0 + 3 * 24 * H + 9 * H + 20 * M  # Thursday 09:20


def lane(reg: Registry, ts: float, state: str, obj: str | None, confidence: float = 0.9) -> Any:
    fields: dict[str, Any] = {"event": "fire_lane_blocked", "state": state, "confidence": confidence}
    if obj is not None:
        fields["object_id"] = obj
    return reading(reg, "CAM1", "event", ts, **fields)


def fire_lane(alerts: list[Alert]) -> list[Alert]:
    return [a for a in alerts if a.rule_id == RULE]


def rule_state(eng: Engine) -> dict[str, Any]:
    return eng.state().rules[RULE]


def test_a_van_leaving_does_not_end_the_blockage_of_a_car_still_there() -> None:
    """The simulated week's incident: a car blocks the lane for 40 min; 8 s later a delivery van stops too and
    leaves after 5 min. One alert at 10 min of the car, not ended by the van, cleared when the car leaves."""
    reg = registry()
    eng = Engine(default_rules(reg), reg, allowed_lateness_s=0)
    out: list[Alert] = []
    out += eng.process(lane(reg, T, "start", CAR, 0.93))
    out += eng.process(lane(reg, T + 8, "start", VAN, 0.88))
    out += eng.process(lane(reg, T + 8 + 5 * M, "stop", VAN, 0.88))
    assert fire_lane(out) == []
    assert fire_lane(eng.advance(T + 10 * M - 1)) == []
    [r] = raises(eng.advance(T + 10 * M), RULE)
    assert r.dedup_key == KEY
    assert r.ts == T + 10 * M  # 10 min of the first vehicle
    assert r.details["since"] == T
    assert r.details["objects"] == [CAR]
    assert fire_lane(eng.advance(T + 39 * M)) == []
    [c] = clears(eng.process(lane(reg, T + 40 * M, "stop", CAR, 0.93)), RULE)
    assert (c.dedup_key, c.ts, c.details["lasted_s"]) == (KEY, T + 40 * M, 40 * M)
    assert rule_state(eng)["objects"] == {}
    assert fire_lane(eng.advance(T + 2 * H)) == []


def test_without_per_the_first_stop_ends_the_state() -> None:
    # the behaviour that missed the incident, kept for rules that do not name a per-object field
    reg = registry()
    eng = engine(WITHOUT_PER, reg, allowed_lateness_s=0)
    eng.process(lane(reg, T, "start", CAR))
    eng.process(lane(reg, T + 8, "start", VAN))
    eng.process(lane(reg, T + 8 + 5 * M, "stop", VAN))
    assert eng.advance(T + H) == []


def test_a_single_object_behaves_as_before() -> None:
    reg = registry()
    eng = engine(LANE, reg, allowed_lateness_s=0)
    # a delivery: 4 minutes, nothing
    eng.process(lane(reg, T, "start", VAN))
    assert eng.process(lane(reg, T + 4 * M, "stop", VAN)) == []
    assert eng.advance(T + H) == []
    # a car for 25 minutes: raised at 10, cleared when it leaves
    t = T + 2 * H
    eng.process(lane(reg, t, "start", CAR))
    [r] = raises(eng.advance(t + 11 * M))
    assert (r.dedup_key, r.ts, r.details["objects"]) == (KEY, t + 10 * M, [CAR])
    # repeated reports of the same car change nothing
    assert eng.process(lane(reg, t + 12 * M, "pulse", CAR)) == []
    [c] = clears(eng.process(lane(reg, t + 25 * M, "stop", CAR)))
    assert (c.ts, c.details["lasted_s"]) == (t + 25 * M, 25 * M)
    # a low-confidence sighting starts nothing
    eng.process(lane(reg, t + H, "start", "v00001", 0.5))
    assert eng.advance(t + 3 * H) == []


def test_one_vehicle_after_another_is_one_blockage() -> None:
    # each stays 6 minutes, but the lane is never free: blocked for 11 minutes
    reg = registry()
    eng = engine(LANE, reg, allowed_lateness_s=0)
    eng.process(lane(reg, T, "start", "a"))
    eng.process(lane(reg, T + 5 * M, "start", "b"))
    eng.process(lane(reg, T + 6 * M, "stop", "a"))
    [r] = raises(eng.advance(T + 10 * M))
    assert (r.ts, r.details["since"], r.details["objects"]) == (T + 10 * M, T, ["b"])
    [c] = clears(eng.process(lane(reg, T + 11 * M, "stop", "b")))
    assert c.ts == T + 11 * M
    # a free lane in between starts over
    eng.process(lane(reg, T + H, "start", "c"))
    eng.process(lane(reg, T + H + 6 * M, "stop", "c"))
    eng.process(lane(reg, T + H + 7 * M, "start", "d"))
    eng.process(lane(reg, T + H + 13 * M, "stop", "d"))
    assert eng.advance(T + 2 * H) == []


def test_stops_seen_before_the_timer_fired_still_raise_and_clear() -> None:
    # the watermark lags by 15 min: the car's stop proves the lane was blocked 40 minutes
    reg = registry()
    eng = engine(LANE, reg, allowed_lateness_s=15 * M)
    eng.process(lane(reg, T, "start", CAR))
    eng.process(lane(reg, T + 8, "start", VAN))
    eng.process(lane(reg, T + 8 + 5 * M, "stop", VAN))
    out = eng.process(lane(reg, T + 40 * M, "stop", CAR))
    [r], [c] = raises(out), clears(out)
    assert (r.ts, c.ts) == (T + 10 * M, T + 40 * M)
    assert eng.advance(T + H) == []


def test_a_stop_without_object_id_ends_every_object() -> None:
    reg = registry()
    eng = engine(LANE, reg, allowed_lateness_s=0)
    eng.process(lane(reg, T, "start", CAR))
    eng.process(lane(reg, T + M, "start", VAN))
    eng.advance(T + 10 * M)
    [c] = clears(eng.process(lane(reg, T + 12 * M, "stop", None)))
    assert c.ts == T + 12 * M
    assert rule_state(eng)["objects"] == {}


def test_an_object_that_never_stops_is_forgotten_after_forget_after() -> None:
    reg = registry()
    eng = engine(LANE + "    forget_after: 2h\n", reg, allowed_lateness_s=0)
    eng.process(lane(reg, T, "start", CAR))
    [r] = raises(eng.advance(T + 10 * M))
    assert r.ts == T + 10 * M
    # reported again after an hour: still there, the clock restarts from then
    assert eng.process(lane(reg, T + H, "pulse", CAR)) == []
    assert eng.advance(T + 3 * H - 1) == []
    [c] = clears(eng.advance(T + 3 * H + M))
    assert c.ts == T + 3 * H  # dated when it was given up, 2 h after it was last seen
    assert c.details["forgotten"] == [CAR]
    assert rule_state(eng)["objects"] == {}
    # its stop, when it comes after all, changes nothing
    assert eng.process(lane(reg, T + 4 * H, "stop", CAR)) == []
    assert eng.advance(T + 6 * H) == []


def test_objects_kept_per_device_are_bounded() -> None:
    # a camera that starts objects and never stops them: at most 64 are tracked, and all are forgotten
    reg = registry()
    eng = engine(LANE, reg, allowed_lateness_s=0)
    for i in range(500):
        eng.process(lane(reg, T + i, "start", f"o{i}"))
    objects = rule_state(eng)["objects"][KEY]
    assert len(objects) == 64
    assert "o499" in objects
    assert "o0" not in objects  # the one seen longest ago goes first
    out = eng.advance(T + 5 * H)  # default forget_after: 4 h
    assert len(raises(out)) == 1
    [c] = clears(out)
    assert c.ts == T + 499 + 4 * H
    assert rule_state(eng)["objects"] == {}
    for i in range(500):
        eng.process(lane(reg, T + 6 * H + i, "stop", f"p{i}"))
    assert len(rule_state(eng)["object_stops"][KEY]) == 64
    eng.advance(T + 3 * 24 * H)
    assert rule_state(eng)["object_stops"] == {}  # stops older than a day are pruned


def test_restart_mid_episode_gives_the_same_alerts() -> None:
    reg = registry()
    msgs = [
        lane(reg, T, "start", CAR),
        lane(reg, T + 8, "start", VAN),
        lane(reg, T + 8 + 5 * M, "stop", VAN),
        lane(reg, T + 40 * M, "stop", CAR),
        lane(reg, T + H, "start", "v3"),  # never stops
    ]

    def run(eng: Engine, readings: list[Any], until: float) -> list[Alert]:
        out: list[Alert] = []
        for m in readings:
            out += eng.advance(m.ts - 300)
            out += eng.process(m)
        return out + eng.advance(until)

    end = T + 8 * H
    whole = fire_lane(run(Engine(default_rules(reg), reg), msgs, end))
    assert [(a.action.value, a.ts) for a in whole] == [
        ("raise", T + 10 * M),
        ("clear", T + 40 * M),
        ("raise", T + H + 10 * M),
        ("clear", T + H + 4 * H),
    ]
    for cut, upto in ((T + 6 * M, T + 5 * M), (T + 20 * M, T + 15 * M), (T + 2 * H, T + H + 30 * M)):
        # cut after the van left (before the alert), after the alert, and while an object is not yet forgotten
        first = Engine(default_rules(reg), reg)
        part1 = fire_lane(run(first, [m for m in msgs if m.ts < cut], upto))
        second = Engine.restore(first.snapshot(), default_rules(reg), reg)
        part2 = fire_lane(run(second, [m for m in msgs if m.ts >= cut], end))
        assert [(a.action.value, a.ts) for a in part1 + part2] == [(a.action.value, a.ts) for a in whole], cut


def test_a_snapshot_from_before_per_still_loads() -> None:
    """A snapshot taken by a rule without `per` (no objects in it) restored under the rule with it: the running
    state goes on as the unnamed object and ends with the next stop."""
    reg = registry()
    old = engine(WITHOUT_PER, reg, allowed_lateness_s=0)
    old.process(lane(reg, T, "start", CAR))
    snapshot = old.snapshot()
    assert "objects" not in msgspec.msgpack.decode(snapshot)["rules"][RULE]
    new = Engine.restore(snapshot, default_rules(reg), reg, allowed_lateness_s=0)
    [r] = raises(new.advance(T + 11 * M), RULE)
    assert r.ts == T + 10 * M
    [c] = clears(new.process(lane(reg, T + 20 * M, "stop", CAR)), RULE)
    assert c.ts == T + 20 * M
    # and a rule that drops `per` on reload keeps the running state of the device
    eng = engine(LANE, reg, allowed_lateness_s=0)
    eng.process(lane(reg, T, "start", CAR))
    eng.process(lane(reg, T + M, "start", VAN))
    eng.reload(engine(WITHOUT_PER, reg).ruleset)
    [r] = raises(eng.advance(T + 10 * M))
    assert r.ts == T + 10 * M


def test_a_late_start_after_its_own_stop_counts_where_it_was() -> None:
    # the car's start arrives after its stop (the camera's uplink buffered it): it was there 30 minutes
    reg = registry()
    eng = engine(LANE, reg, allowed_lateness_s=H)
    eng.process(lane(reg, T + 30 * M, "stop", CAR))
    out = eng.process(lane(reg, T, "start", CAR))
    [r], [c] = raises(out), clears(out)
    assert (r.ts, c.ts, r.details["late"]) == (T + 10 * M, T + 30 * M, True)
    # a van's start that comes after its stop does not touch another vehicle's state
    eng.process(lane(reg, T + H, "start", "v9"))
    eng.process(lane(reg, T + H + 3 * M, "stop", VAN))
    eng.process(lane(reg, T + H - M, "start", VAN))
    [r] = raises(eng.advance(T + H + 11 * M))
    assert r.ts == T + H + 9 * M  # the lane was blocked from the van's arrival on
