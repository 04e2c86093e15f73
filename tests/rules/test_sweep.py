"""A sweep in which thousands of timers fall due at once: the engine takes them out in one pass
(`Engine._fire_bulk`) instead of one heap pop each, and must fire them in exactly the same order."""

from __future__ import annotations

import contextlib
from typing import Any

import pytest

import rules.engine as engine_module
from devices.model import Device, DeviceClass
from rules.alert import Alert
from rules.engine import Engine
from rules.kinds.heartbeat import HeartbeatEvaluator
from tests.rules.support import T0, M, engine, raises, reading, registry

HB = """
rules:
  - id: bins_offline
    kind: heartbeat
    title: Offline
    severity: minor
    device_class: trash_bin
    k: 2
"""
N = 3000


def _street() -> Any:
    # intervals from 5 to 64 minutes: timers due at many different times
    bins = tuple(Device(f"X{i}", DeviceClass.TRASH_BIN, "b2", None, 300 + 60 * (i % 60)) for i in range(N))
    return registry(extra_devices=bins)


class BulkPasses:
    """Sets `_BULK` and counts the engine's bulk passes."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, bulk: int) -> None:
        self.count = 0
        monkeypatch.setattr(engine_module, "_BULK", bulk)
        original = Engine._fire_bulk

        def counted(engine: Engine) -> None:
            self.count += 1
            original(engine)

        monkeypatch.setattr(Engine, "_fire_bulk", counted)


def _heard_once() -> tuple[Any, Engine, list[Alert]]:
    """The street's bins, each heard once at T0: (registry, engine, alerts so far)."""
    reg = _street()
    eng = engine(HB, reg, allowed_lateness_s=0)
    out: list[Alert] = []
    for i in range(N):
        out += eng.process(reading(reg, f"X{i}", "telemetry", T0, fill_pct=10))
    return reg, eng, out


def _run(monkeypatch: pytest.MonkeyPatch, bulk: int) -> tuple[list[Alert], int]:
    passes = BulkPasses(monkeypatch, bulk)
    reg, eng, out = _heard_once()
    # a third of the bins report again a little later: when their first timer fires they are re-armed, due
    # before the watermark and between the timers already taken out
    for i in range(0, N, 3):
        out += eng.process(reading(reg, f"X{i}", "telemetry", T0 + (i % 7) * M, fill_pct=10))
    out += eng.advance(T0 + 24 * 3600)
    return out, passes.count


def test_bulk_firing_fires_in_the_order_of_one_pop_each(monkeypatch: pytest.MonkeyPatch) -> None:
    one_by_one, no_bulk = _run(monkeypatch, 10**9)
    bulk, used = _run(monkeypatch, 16)
    assert no_bulk == 0
    assert used >= 1
    assert len(raises(bulk)) == N + 1  # and the tiny street's own bin
    assert bulk == one_by_one
    # and the order is the order of time: every raise is dated when the bin's silence passed its limit
    stamps = [a.ts for a in raises(bulk)]
    assert stamps == sorted(stamps)


FAIL_AT = 1000  # past 1/64 of the heap: one-by-one popping has handed over to the bulk pass


class Interrupted(BaseException):
    """Not a rule's failure (those are passed over): something that ends the sweep, as a cancellation does."""


def _run_failing_once(
    monkeypatch: pytest.MonkeyPatch, bulk: int, error: type[BaseException]
) -> tuple[list[Alert], bool, Engine]:
    """As `_run`, but the heartbeat's 1,000th timer raises `error`. Returns the alerts of that sweep and of the
    next one, whether the failure happened inside a bulk pass, and the engine."""
    passes = BulkPasses(monkeypatch, bulk)
    original = HeartbeatEvaluator.on_timer
    calls = 0
    failed_in_bulk = False

    def failing(self: HeartbeatEvaluator, key: str, due: float, ctx: Any) -> None:
        nonlocal calls, failed_in_bulk
        calls += 1
        if calls == FAIL_AT:
            failed_in_bulk = passes.count > 0
            raise error("evaluator bug")
        original(self, key, due, ctx)

    monkeypatch.setattr(HeartbeatEvaluator, "on_timer", failing)
    _reg, eng, out = _heard_once()
    with contextlib.suppress(Interrupted):
        out += eng.advance(T0 + 24 * 3600)
    out += eng.advance(T0 + 24 * 3600 + 60)
    return out, failed_in_bulk, eng


def test_a_rule_failing_on_a_timer_costs_only_that_timer(monkeypatch: pytest.MonkeyPatch) -> None:
    one_by_one, _, _ = _run_failing_once(monkeypatch, 10**9, RuntimeError)
    bulk, failed_in_bulk, eng = _run_failing_once(monkeypatch, 16, RuntimeError)
    assert failed_in_bulk
    assert eng.failures == 1
    assert len(raises(one_by_one)) == N + 1 - 1  # every bin but the one whose timer failed, in the same sweep
    assert bulk == one_by_one


def test_an_interrupted_bulk_sweep_loses_no_timer(monkeypatch: pytest.MonkeyPatch) -> None:
    one_by_one, _, _ = _run_failing_once(monkeypatch, 10**9, Interrupted)
    bulk, failed_in_bulk, _ = _run_failing_once(monkeypatch, 16, Interrupted)
    assert failed_in_bulk
    # the interrupted sweep returns nothing (its 999 alerts go with the exception) and the timer it was firing
    # is gone; every other bin's timer fires in the next sweep, in bulk as one by one
    assert len(raises(one_by_one)) == N + 1 - FAIL_AT
    assert bulk == one_by_one
