"""Conditions on one reading: which channel, which event, and tests on its fields or on how a field changed
since the device's previous reading. Config models first, then the compiled form the engine runs per message."""

from __future__ import annotations

import operator
from collections.abc import Callable, Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from devices.payloads import Channel
from devices.reading import Reading, Scalar


class StrictModel(BaseModel):
    """Every config model forbids unknown keys, so a typo stops loading instead of being silently ignored."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class Predicate(StrictModel):
    """A test on one scalar; all given bounds must hold. `{gte: 0.8}`, `{lt: 15}`, `{in: [a, b]}`."""

    gt: float | None = None
    gte: float | None = None
    lt: float | None = None
    lte: float | None = None
    eq: Scalar | None = None
    ne: Scalar | None = None
    in_: list[Scalar] | None = Field(default=None, alias="in")

    @model_validator(mode="after")
    def _not_empty(self) -> Predicate:
        if all(v is None for v in (self.gt, self.gte, self.lt, self.lte, self.eq, self.ne, self.in_)):
            raise ValueError("a test needs at least one of gt, gte, lt, lte, eq, ne, in")
        return self


class Condition(StrictModel):
    """Holds for a reading when every given part holds. `event` matches `Reading.event` (the `event` field, or
    `state` of status messages); `where` tests fields; `delta` tests the change of a numeric field since the
    device's previous telemetry message, `rate` that change per minute (a water register's average flow)."""

    channel: Channel | None = None
    event: list[str] | None = None
    where: dict[str, Predicate | Scalar] = Field(default_factory=dict)
    delta: dict[str, Predicate] = Field(default_factory=dict)
    rate: dict[str, Predicate] = Field(default_factory=dict)

    @model_validator(mode="before")
    @classmethod
    def _event_as_list(cls, data: Any) -> Any:
        if isinstance(data, dict) and isinstance(data.get("event"), str):
            return {**data, "event": [data["event"]]}
        return data

    @model_validator(mode="after")
    def _not_empty(self) -> Condition:
        if self.channel is None and self.event is None and not self.where and not self.delta and not self.rate:
            raise ValueError("a condition needs at least one of channel, event, where, delta, rate")
        return self


Test = Callable[[Any], bool]
NUMBER = (int, float)
"""For `isinstance(v, NUMBER)` on hot paths: a tuple made once (`int | float` builds a union at every call, ~3x
slower). Callers exclude `bool` themselves."""
PREV_TS = "_ts"
"""Key of the previous telemetry message's time in the `prev` mapping the engine passes (no payload field starts
with an underscore)."""
_NUM_OPS: tuple[tuple[str, Callable[[Any, Any], bool]], ...] = (
    ("gt", operator.gt),
    ("gte", operator.ge),
    ("lt", operator.lt),
    ("lte", operator.le),
)


def compile_predicate(p: Predicate | Scalar) -> Test:
    """A function of one value; a missing value (None) or a value of the wrong type never matches."""
    if not isinstance(p, Predicate):
        return _eq_test(p)
    checks: list[Test] = []
    for name, op in _NUM_OPS:
        bound = getattr(p, name)
        if bound is not None:
            checks.append(_num_test(op, bound))
    if p.eq is not None:
        eq = p.eq
        checks.append(lambda v: v == eq)
    if p.ne is not None:
        ne = p.ne
        checks.append(lambda v: v != ne)
    if p.in_ is not None:
        allowed = frozenset(p.in_)
        checks.append(lambda v: v in allowed)
    if len(checks) == 1 and p.ne is None:
        return checks[0]  # a bound, `eq` or `in` never holds for None: no wrapper call on the hot path
    return lambda v: v is not None and all(c(v) for c in checks)


def _eq_test(want: Scalar) -> Test:
    """Equality that keeps `true` apart from 1: YAML `leak: true` must not match a numeric field equal to 1."""
    if isinstance(want, bool):
        return lambda v: v is want
    if isinstance(want, str):
        return lambda v: v == want
    return lambda v: isinstance(v, NUMBER) and not isinstance(v, bool) and v == want


def _num_test(op: Callable[[Any, Any], bool], bound: float) -> Test:
    def test(v: Any) -> bool:
        return isinstance(v, NUMBER) and not isinstance(v, bool) and op(v, bound)

    return test


class CompiledCondition:
    """The per-message form of a `Condition`: a frozenset look-up for the event, then field tests. `any_match`
    runs the common shapes inline: an event alone (`only_event`), or one `where` test (`single`)."""

    __slots__ = ("channel", "deltas", "events", "only_event", "rates", "single", "tests")

    def __init__(self, c: Condition) -> None:
        self.channel = c.channel
        self.events = frozenset(c.event) if c.event is not None else None
        self.tests = tuple((k, compile_predicate(p)) for k, p in c.where.items())
        self.deltas = tuple((k, compile_predicate(p)) for k, p in c.delta.items())
        self.rates = tuple((k, compile_predicate(p)) for k, p in c.rate.items())
        self.only_event = not self.tests and not self.deltas and not self.rates
        self.single = self.tests[0] if len(self.tests) == 1 and not self.deltas and not self.rates else None

    def matches(self, r: Reading, prev: Mapping[str, Scalar] | None) -> bool:
        if self.channel is not None and r.channel is not self.channel:
            return False
        f = r.fields
        # `Reading.event` without the property call: a value that is not a string is in no set of event names
        if self.events is not None and f.get("event", f.get("state")) not in self.events:
            return False
        return self.fields_match(r, prev)

    def fields_match(self, r: Reading, prev: Mapping[str, Scalar] | None) -> bool:
        """The `where`, `delta` and `rate` parts (channel and event already hold)."""
        f = r.fields
        for k, t in self.tests:
            if not t(f.get(k)):
                return False
        for k, t in self.deltas:
            now = f.get(k)
            before = prev.get(k) if prev is not None else None
            if not isinstance(now, NUMBER) or not isinstance(before, NUMBER):
                return False
            if not t(now - before):
                return False
        for k, t in self.rates:
            now = f.get(k)
            before = prev.get(k) if prev is not None else None
            then = prev.get(PREV_TS) if prev is not None else None
            if not isinstance(now, NUMBER) or not isinstance(before, NUMBER):
                return False
            if not isinstance(then, NUMBER) or r.ts <= then:
                return False
            if not t((now - before) * 60.0 / (r.ts - then)):
                return False
        return True


def compile_any(conds: list[Condition]) -> tuple[CompiledCondition, ...]:
    return tuple(CompiledCondition(c) for c in conds)


_UNREAD = object()


def any_match(conds: tuple[CompiledCondition, ...], r: Reading, prev: Mapping[str, Scalar] | None) -> bool:
    """Whether one of `conds` holds: `CompiledCondition.matches` unrolled, since every message of a class meets
    several rules' conditions (the channel first, the event read once, a lone event or test without a call)."""
    ch = r.channel
    f = r.fields
    event: object = _UNREAD
    for c in conds:
        if c.channel is not None and c.channel is not ch:
            continue
        if c.events is not None:
            if event is _UNREAD:
                event = f.get("event", f.get("state"))
            if event not in c.events:
                continue
        if c.only_event:
            return True
        single = c.single
        if single is not None:
            if single[1](f.get(single[0])):
                return True
        elif c.fields_match(r, prev):
            return True
    return False


def events_of_conditions(conds: list[Condition], channel: Channel | None = None) -> frozenset[str] | None:
    """The event names these conditions can match (on `channel`, when given), or None when one of them matches
    whatever the event."""
    out: set[str] = set()
    for c in conds:
        if channel is not None and c.channel is not None and c.channel is not channel:
            continue
        if c.event is None:
            return None
        out.update(c.event)
    return frozenset(out)


EVENT_CHANNELS = frozenset({Channel.EVENT, Channel.STATUS})  # where `Reading.event` can be set


def channels_of(conds: list[Condition]) -> frozenset[Channel] | None:
    """The channels on which these conditions can match, or None when one of them matches on any channel."""
    out: set[Channel] = set()
    for c in conds:
        if c.channel is not None:
            out.add(c.channel)
        elif c.event is not None:
            out |= EVENT_CHANNELS
        else:
            return None
    return frozenset(out)
