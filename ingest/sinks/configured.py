"""The telemetry sink a `[telemetry]` section names; the ingester and the drain process both make theirs here."""

from __future__ import annotations

from pathlib import Path

from core.clock import Clock
from ingest.errors import IngestConfigError
from ingest.settings import TelemetrySettings
from ingest.sinks.base import TelemetrySink
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
