"""Prometheus counters for tickets, fed by wrapping the service's notifier (so they count only committed
changes): `TicketService(engine, registry, clock, MetricsNotifier(hub, AlertsMetrics(registry)))`."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter

from alerts.model import Ticket, TicketEvent
from alerts.service import Notifier


class AlertsMetrics:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.changes = Counter(
            "cwatch_ticket_changes_total",
            "Ticket changes by audit action (raise, repeat, ack, escalate, auto_resolve, ...).",
            ["action"],
            registry=registry,
        )
        self.opened = Counter(
            "cwatch_tickets_opened_total",
            "Tickets opened (by a raise, or an alarm confirmed after its verification wait), by rule and severity.",
            ["rule_id", "severity"],
            registry=registry,
        )
        self.escalations = Counter(
            "cwatch_ticket_escalations_total",
            "Escalation steps by reason (ack, resolve) and level reached.",
            ["reason", "level"],
            registry=registry,
        )


class MetricsNotifier:
    """A `Notifier` that counts every change, then hands it on to `inner` (the board hub)."""

    def __init__(self, inner: Notifier, metrics: AlertsMetrics) -> None:
        self.inner = inner
        self.metrics = metrics

    async def ticket_changed(self, ticket: Ticket, event: TicketEvent) -> None:
        self.metrics.changes.labels(event.action).inc()
        if event.action == "raise" or (event.action == "confirm" and event.data.get("confirmed")):
            self.metrics.opened.labels(ticket.rule_id, ticket.severity.value).inc()
        elif event.action in ("escalate", "remind"):
            self.metrics.escalations.labels(str(event.data.get("reason")), str(event.data.get("level"))).inc()
        await self.inner.ticket_changed(ticket, event)
