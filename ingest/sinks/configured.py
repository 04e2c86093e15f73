"""The telemetry sink a `[telemetry]` section names (the ingester and the drain process both make theirs here),
and the reader of the same store (the evidence charts of tickets)."""

from __future__ import annotations

from pathlib import Path

from core.clock import Clock
from ingest.errors import IngestConfigError
from ingest.settings import TelemetrySettings
from ingest.sinks.base import TelemetryReader, TelemetrySink
from ingest.sinks.influx_read import InfluxQLReader
from ingest.sinks.influx_v1 import InfluxV1Sink
from ingest.sinks.influx_v2 import InfluxV2Sink
from ingest.sinks.sqlite import SqliteTelemetrySink


def make_sink(t: TelemetrySettings, *, data_dir: Path, clock: Clock) -> TelemetrySink:
    """The telemetry sink a `[telemetry]` section names."""
    if t.backend == "influx_v1":
        return InfluxV1Sink(
            t.influx_url,
            t.influx_database,
            username=t.influx_username or None,
            password=t.influx_password or None,
            gzip=t.gzip,
        )
    if t.backend == "influx_v2":
        return InfluxV2Sink(t.influx_url, org=t.influx_org, bucket=t.influx_bucket, token=t.influx_token, gzip=t.gzip)
    if t.backend == "sqlite":
        return SqliteTelemetrySink(data_dir / "telemetry.db", t.retention_days * 86_400, clock=clock)
    raise IngestConfigError(f"unknown telemetry backend {t.backend!r}")


def make_reader(t: TelemetrySettings, *, data_dir: Path, clock: Clock) -> TelemetryReader:
    """A reader of the telemetry store a `[telemetry]` section names (the evidence charts of tickets): its own
    connection, apart from the ingester's sink."""
    if t.backend in ("influx_v1", "influx_v2"):
        if t.backend == "influx_v2":  # InfluxQL through the bucket's DBRP mapping, with the token
            return InfluxQLReader(t.influx_url, t.influx_bucket, token=t.influx_token)
        return InfluxQLReader(
            t.influx_url, t.influx_database, username=t.influx_username or None, password=t.influx_password or None
        )
    if t.backend == "sqlite":
        return SqliteTelemetrySink(data_dir / "telemetry.db", t.retention_days * 86_400, clock=clock)
    raise IngestConfigError(f"unknown telemetry backend {t.backend!r}")
