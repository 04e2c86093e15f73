"""Compiled conditions: `any_match` runs the common shapes inline; it must agree with the plain reading of a
condition (channel, `Reading.event`, then every where, delta and rate test) on every kind of message."""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from typing import Any

from devices.model import DeviceClass
from devices.payloads import Channel
from devices.reading import Reading, Scalar
from rules.conditions import PREV_TS, Condition, any_match, compile_any, compile_predicate

CONDITIONS: list[dict[str, Any]] = [
    {"event": "tamper"},
    {"event": ["leak", "burst"]},
    {"channel": "event", "event": "alarm"},
    {"channel": "telemetry"},
    {"channel": "telemetry", "where": {"leak": True}},
    {"where": {"flow_lpm": {"gte": 2.0}}},
    {"where": {"flow_lpm": {"lt": 2.0}, "leak": False}},
    {"where": {"state": {"in": ["start", "pulse"]}, "confidence": {"gte": 0.8}}, "event": "smoke_fire"},
    {"where": {"door": {"ne": "east"}}},
    {"event": "alarm", "where": {"door": "west"}},
    {"channel": "telemetry", "delta": {"volume_m3": {"gt": 0.05}}},
    {"channel": "telemetry", "rate": {"volume_m3": {"lt": 0.002}}},
]

FIELDS: list[dict[str, Scalar]] = [
    {},
    {"event": "tamper"},
    {"event": "leak", "leak": True},
    {"state": "heartbeat"},
    {"event": 5},
    {"event": "smoke_fire", "state": "start", "confidence": 0.9},
    {"event": "smoke_fire", "state": "stop", "confidence": 0.9},
    {"flow_lpm": 3.0, "leak": False, "volume_m3": 10.2},
    {"flow_lpm": 1.0, "leak": False, "volume_m3": 10.0},
    {"flow_lpm": True, "leak": 1, "volume_m3": "x"},
    {"door": "east"},
    {"door": "west"},
    {"door": "west", "event": "alarm"},
]

PREVS: list[Mapping[str, Scalar] | None] = [None, {"volume_m3": 10.0, PREV_TS: 0.0}, {"volume_m3": 10.0}]


def plain(c: Condition, r: Reading, prev: Mapping[str, Scalar] | None) -> bool:
    """A condition read as docs/rules.md states it, with no shortcut."""
    if c.channel is not None and r.channel is not c.channel:
        return False
    if c.event is not None and r.event not in c.event:
        return False
    f = r.fields
    if not all(compile_predicate(p)(f.get(k)) for k, p in c.where.items()):
        return False
    for k, p in c.delta.items():
        now, before = f.get(k), (prev or {}).get(k)
        num = (int, float)
        if not isinstance(now, num) or not isinstance(before, num) or not compile_predicate(p)(now - before):
            return False
    for k, p in c.rate.items():
        now, before, then = f.get(k), (prev or {}).get(k), (prev or {}).get(PREV_TS)
        num = (int, float)
        if not isinstance(now, num) or not isinstance(before, num) or not isinstance(then, num) or r.ts <= then:
            return False
        if not compile_predicate(p)((now - before) * 60.0 / (r.ts - then)):
            return False
    return True


def test_any_match_agrees_with_the_plain_reading_of_every_condition() -> None:
    conds = [Condition.model_validate(c) for c in CONDITIONS]
    compiled = compile_any(conds)
    checked = 0
    for channel, fields, prev in itertools.product(Channel, FIELDS, PREVS):
        r = Reading("WM1", DeviceClass.WATER_METER, channel, 600.0, None, fields, "c1", "mg1", "b1")
        for n in range(1, len(conds) + 1):
            for group in itertools.combinations(range(len(conds)), n) if n <= 2 else [tuple(range(n))]:
                want = any(plain(conds[i], r, prev) for i in group)
                assert any_match(tuple(compiled[i] for i in group), r, prev) is want, (channel, fields, group)
                checked += 1
        for c, cc in zip(conds, compiled, strict=True):
            assert cc.matches(r, prev) is plain(c, r, prev)
    assert checked > 1000
