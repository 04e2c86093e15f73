"""A sweep must not judge silence past readings still queued for the rule engine: after an outage or a
restart the spool holds a backlog, and sweeping by the clock would call every queued device offline."""

from __future__ import annotations

from pathlib import Path

from core.clock import ManualClock
from core.db import make_engine
from rules.alert import Alert, AlertAction
from rules.runner import RuleRunner
from rules.state import RuleStateStore, create_tables
from tests.rules.support import T0, M, engine, reading, registry

HB = """
rules:
  - id: device_offline
    kind: heartbeat
    title: Offline
    severity: minor
    k: 3
    device_class: ai_camera
"""


async def sweep_two_hours_later(tmp_path: Path, queued: int) -> list[Alert]:
    db = make_engine(f"sqlite+aiosqlite:///{tmp_path / 'rules.db'}")
    await create_tables(db)
    reg = registry()
    seen: list[Alert] = []

    async def sink(alerts: list[Alert]) -> None:
        seen.extend(alerts)

    clock = ManualClock(T0)
    eng = engine(HB, reg, allowed_lateness_s=0)
    runner = RuleRunner(eng, RuleStateStore(db), clock, sink, backlog=lambda: queued)
    await runner.on_readings([reading(reg, "CAM1", "status", T0, state="heartbeat")])
    clock.set(T0 + 120 * M)  # the camera's heartbeats of the last two hours are still in the spool
    await runner.sweep()
    await db.dispose()
    return [a for a in seen if a.action is AlertAction.RAISE]


async def test_no_offline_alert_while_readings_are_queued(tmp_path: Path) -> None:
    assert await sweep_two_hours_later(tmp_path, queued=500) == []


async def test_offline_alert_by_the_clock_once_caught_up(tmp_path: Path) -> None:
    raised = await sweep_two_hours_later(tmp_path, queued=0)
    assert "CAM1" in {a.device_id for a in raised}


async def test_devices_never_heard_are_timed_from_when_the_service_started(tmp_path: Path) -> None:
    """Not from the first sweep's watermark (clock minus the allowed lateness), which lies before the service
    could have heard anything: the whole-street replay with 4 h of lateness raised 2,665 offline alerts so."""
    db = make_engine(f"sqlite+aiosqlite:///{tmp_path / 'rules.db'}")
    await create_tables(db)
    reg = registry()
    seen: list[Alert] = []

    async def sink(alerts: list[Alert]) -> None:
        seen.extend(alerts)

    clock = ManualClock(T0)
    eng = engine(HB, reg, allowed_lateness_s=240 * M)
    runner = RuleRunner(eng, RuleStateStore(db), clock, sink, backlog=lambda: 0)
    await runner.sweep()  # the service starts; nothing heard yet
    assert seen == []
    clock.set(T0 + 240 * M + 10 * M)  # the watermark is at T0 + 10 min
    await runner.sweep()
    assert [a for a in seen if a.action is AlertAction.RAISE] == []  # nobody can be overdue 10 min after start
    clock.set(T0 + 240 * M + 300 * M)
    await runner.sweep()
    raised = [a for a in seen if a.action is AlertAction.RAISE]
    assert "CAM1" in {a.device_id for a in raised}
    assert min(a.ts for a in raised) >= T0
    await db.dispose()
