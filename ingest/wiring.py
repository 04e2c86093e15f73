"""Build an `Ingester` from `cwatch.settings.Settings`: the one place that knows which sink, spool file and
transport options a configuration means. Imported lazily by `ingest.service.build_ingester`."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from prometheus_client import CollectorRegistry

from core.clock import Clock
from ingest.drain import TELEMETRY
from ingest.drainproc import DrainConfig
from ingest.errors import IngestConfigError
from ingest.metrics import DrainMetricFiles, IngestMetrics
from ingest.service import Consumer, Ingester, IngestTuning
from ingest.spool import Spool
from ingest.transport import GmqttTransport, MqttOptions, options_from_url

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncEngine

    from cwatch.settings import Settings, TelemetrySettings
    from devices.registry import Registry
    from ingest.sinks.base import TelemetrySink


def make_sink(t: TelemetrySettings, *, data_dir: Path, clock: Clock) -> TelemetrySink:
    """The telemetry sink a `[telemetry]` section names."""
    if t.backend == "influx_v1":
        from ingest.sinks.influx_v1 import InfluxV1Sink

        return InfluxV1Sink(
            t.influx_url,
            t.influx_database,
            username=t.influx_username or None,
            password=t.influx_password or None,
            gzip=t.gzip,
        )
    if t.backend == "influx_v2":
        from ingest.sinks.influx_v2 import InfluxV2Sink

        return InfluxV2Sink(t.influx_url, org=t.influx_org, bucket=t.influx_bucket, token=t.influx_token, gzip=t.gzip)
    if t.backend == "sqlite":
        from ingest.sinks.sqlite import SqliteTelemetrySink

        return SqliteTelemetrySink(data_dir / "telemetry.db", t.retention_days * 86_400, clock=clock)
    raise IngestConfigError(f"unknown telemetry backend {t.backend!r}")


def build_ingester(
    settings: Settings,
    *,
    engine: AsyncEngine,
    registry: Callable[[], Registry] | Registry,
    clock: Clock,
    metrics: CollectorRegistry | IngestMetrics,
    broker_host: str,
    broker_port: int,
    consumers: Mapping[str, Consumer] | None = None,
    sink: TelemetrySink | None = None,
) -> Ingester:
    from ingest.deadletter import DeadLetters
    from ingest.decode import Decoder

    s = settings
    reg = registry() if callable(registry) else registry
    data_dir = Path(s.data_dir)
    process = s.ingest.telemetry_drain == "process"
    if isinstance(metrics, IngestMetrics):
        ingest_metrics = metrics
    else:  # the drain process keeps its metrics in files of its own (`ingest.metrics`)
        files = DrainMetricFiles(data_dir / "drain-metrics") if process else None
        ingest_metrics = IngestMetrics(metrics, drain_files=files)
    consumers = dict(consumers or {})
    spool = Spool(
        data_dir / "spool.db",
        s.ingest.spool_max_bytes,
        consumers=(TELEMETRY, *consumers),
        refused_payload_max=s.ingest.max_payload_bytes,
    )
    mq = s.mqtt
    common: dict[str, Any] = {
        "client_id": mq.client_id,
        "session_expiry_s": mq.session_expiry_s,
        "keepalive_s": mq.keepalive_s,
        "shared_group": mq.shared_group,
    }
    if mq.url:
        options = options_from_url(mq.url, host=broker_host, port=broker_port, protocol=mq.protocol, **common)
    else:  # the embedded amqtt broker speaks MQTT 3.1.1 only
        options = MqttOptions(host=broker_host, port=broker_port, protocol="3.1.1", **common)

    def connected(_session_present: bool) -> None:
        ingest_metrics.connected.set(1)
        if transport.connections > 1:
            ingest_metrics.reconnects.inc()

    transport = GmqttTransport(
        options, now=clock.now, on_connect=connected, on_disconnect=lambda: ingest_metrics.connected.set(0)
    )
    decoder = Decoder(
        reg,
        clock,
        max_future_s=s.ingest.max_future_s,
        max_age_s=s.ingest.max_age_s,
        max_bytes=s.ingest.max_payload_bytes,
    )
    drain = None
    if process:
        drain = DrainConfig(
            spool=str(spool.path),
            data_dir=str(data_dir),
            telemetry=s.telemetry.model_dump(mode="json"),
            limit=s.telemetry.batch_size,
            refused_payload_max=s.ingest.max_payload_bytes,
        )
    return Ingester(
        transport=transport,
        decoder=decoder,
        spool=spool,
        sink=sink or make_sink(s.telemetry, data_dir=data_dir, clock=clock),
        deadletters=DeadLetters(
            engine, max_rows=s.ingest.deadletter_max_rows, max_payload_bytes=s.ingest.max_payload_bytes
        ),
        metrics=ingest_metrics,
        clock=clock,
        consumers=consumers,
        telemetry_drain=drain,
        tuning=IngestTuning(sink_batch=s.telemetry.batch_size),
    )
