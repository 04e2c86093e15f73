"""Ticket metrics count committed changes and still feed the board hub."""

from __future__ import annotations

from prometheus_client import CollectorRegistry
from sqlalchemy.ext.asyncio import AsyncEngine

from alerts.metrics import AlertsMetrics, MetricsNotifier
from alerts.service import TicketService
from alerts.stream import ChangeHub
from core.clock import ManualClock
from rules.alert import AlertAction, Severity

from .fakes import WORKER_M1, FakeHierarchy, alert


async def test_counters(sqlite_engine: AsyncEngine) -> None:
    reg = CollectorRegistry()
    hub = ChangeHub()
    sub = hub.subscribe()
    clock = ManualClock(0.0)
    h = FakeHierarchy()
    service = TicketService(sqlite_engine, lambda: h, clock, MetricsNotifier(hub, AlertsMetrics(reg)))
    [t] = await service.apply([alert(severity=Severity.CRITICAL)])
    await service.apply([alert(severity=Severity.CRITICAL)])
    clock.advance(300)
    await service.escalate_due()
    await service.acknowledge(t.id, WORKER_M1)

    def value(name: str, **labels: str) -> float:
        v = reg.get_sample_value(name, labels)
        return 0.0 if v is None else v

    assert value("cwatch_tickets_opened_total", rule_id="smoke_alarm", severity="critical") == 1
    assert value("cwatch_ticket_changes_total", action="repeat") == 1
    assert value("cwatch_ticket_changes_total", action="ack") == 1
    assert value("cwatch_ticket_escalations_total", reason="ack", level="1") == 1
    assert sub.queue.qsize() == 4


async def test_an_alarm_counts_as_opened_when_confirmed_not_while_verified(sqlite_engine: AsyncEngine) -> None:
    reg = CollectorRegistry()
    h = FakeHierarchy()
    service = TicketService(
        sqlite_engine, lambda: h, ManualClock(0.0), MetricsNotifier(ChangeHub(), AlertsMetrics(reg))
    )
    pending = alert(key="smoke_alarm:d1", action=AlertAction.PENDING, severity=Severity.CRITICAL, until=1_040)
    await service.apply([pending])
    assert (
        reg.get_sample_value("cwatch_tickets_opened_total", {"rule_id": "smoke_alarm", "severity": "critical"}) is None
    )
    await service.apply([alert(key="smoke_alarm:d1", severity=Severity.CRITICAL, ts=1_040)])
    assert reg.get_sample_value("cwatch_tickets_opened_total", {"rule_id": "smoke_alarm", "severity": "critical"}) == 1
    # withdrawn in its wait: never opened
    await service.apply([alert(key="smoke_alarm:d2", action=AlertAction.PENDING, severity=Severity.CRITICAL)])
    await service.apply([alert(key="smoke_alarm:d2", action=AlertAction.CANCEL, severity=Severity.CRITICAL)])
    assert reg.get_sample_value("cwatch_tickets_opened_total", {"rule_id": "smoke_alarm", "severity": "critical"}) == 1
