"""Prometheus metrics of the ingester, registered on a registry the caller passes in (never the global one),
so tests and several ingesters in one process do not collide and `/metrics` shows exactly what was wired."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

_LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
_LAG_BUCKETS = (0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0, 3600.0)


class IngestMetrics:
    """Every ingest metric, named `cwatch_ingest_*`."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry if registry is not None else CollectorRegistry()
        r = self.registry
        self.received = Counter("cwatch_ingest_received", "MQTT messages received from the broker.", registry=r)
        self.stored = Counter(
            "cwatch_ingest_stored", "Readings written to the telemetry sink (after the spool).", registry=r
        )
        self.spooled = Counter("cwatch_ingest_spooled", "Readings appended to the durable spool.", registry=r)
        self.refused = Counter(
            "cwatch_ingest_refused", "Messages or readings refused, by reason.", ["reason"], registry=r
        )
        self.duplicates = Counter(
            "cwatch_ingest_duplicates", "Readings dropped because their (device, seq) was already spooled.", registry=r
        )
        self.spool_depth = Gauge(
            "cwatch_ingest_spool_depth", "Readings a spool consumer has still to process.", ["consumer"], registry=r
        )
        self.spool_age = Gauge(
            "cwatch_ingest_spool_age_seconds",
            "Age of the oldest reading a spool consumer has not processed.",
            ["consumer"],
            registry=r,
        )
        self.spool_bytes = Gauge("cwatch_ingest_spool_bytes", "Live bytes in the spool file.", registry=r)
        self.batch_write_seconds = Histogram(
            "cwatch_ingest_batch_write_seconds",
            "Latency of one batch write, by stage (spool append, sink write).",
            ["stage"],
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.ingest_lag = Histogram(
            "cwatch_ingest_lag_seconds",
            "Time from receiving a message to its reading being stored in the telemetry sink.",
            buckets=_LAG_BUCKETS,
            registry=r,
        )
        self.reconnects = Counter("cwatch_ingest_reconnects", "Connections to the broker after the first.", registry=r)
        self.connected = Gauge("cwatch_ingest_broker_connected", "1 while connected to the broker.", registry=r)
        self.sink_errors = Counter(
            "cwatch_ingest_sink_unavailable", "Sink writes that failed because the database was down.", registry=r
        )
        self.consumer_errors = Counter(
            "cwatch_ingest_consumer_errors", "Failures of a spool consumer, retried.", ["consumer"], registry=r
        )
        self.deadletter_errors = Counter(
            "cwatch_ingest_deadletter_errors", "Refused messages that could not be written to dead letters.", registry=r
        )
        self.drain_restarts = Counter(
            "cwatch_ingest_drain_restarts",
            "Times the telemetry drain process ended unexpectedly and was started again.",
            registry=r,
        )
