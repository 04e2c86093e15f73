"""Build an `Ingester` from its settings sections (`ingest.settings`): the one place that knows which spool file,
drain and transport options a configuration means. Two steps where a consumer of the spool needs its parts first:
`ingest_parts`, then `ingester_on`."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from prometheus_client import CollectorRegistry
from sqlalchemy.ext.asyncio import AsyncEngine

from core.clock import Clock
from core.urls import AllowEntry
from devices.registry import Registry
from ingest.deadletter import DeadLetters
from ingest.decode import Decoder
from ingest.drain import TELEMETRY
from ingest.drainproc import DrainConfig
from ingest.metrics import DrainMetricFiles, IngestMetrics
from ingest.service import Consumer, Ingester, IngestTuning
from ingest.settings import IngestSettings, MqttSettings, TelemetrySettings
from ingest.sinks.base import TelemetrySink
from ingest.sinks.configured import make_sink
from ingest.spool import Spool
from ingest.transport import GmqttTransport, MqttOptions, options_from_url


@dataclass(frozen=True, slots=True)
class IngestParts:
    """What an ingester reads and writes through, made before it: the spool with a cursor per consumer, the
    broker connection and the metrics. A consumer of the spool (the rule runner) is given the spool's depth and
    the connection's state when it is made, before the ingester that feeds it."""

    spool: Spool
    transport: GmqttTransport
    metrics: IngestMetrics


def ingest_parts(
    *,
    mqtt: MqttSettings,
    ingest: IngestSettings,
    data_dir: Path,
    clock: Clock,
    metrics: CollectorRegistry | IngestMetrics,
    broker_host: str,
    broker_port: int,
    consumers: Sequence[str] = (),
) -> IngestParts:
    """The spool file (with cursors for the telemetry drain and `consumers`) and the transport these sections
    describe."""
    process = ingest.telemetry_drain == "process"
    if isinstance(metrics, IngestMetrics):
        ingest_metrics = metrics
    else:  # the drain process keeps its metrics in files of its own (`ingest.metrics`)
        files = DrainMetricFiles(data_dir / "drain-metrics") if process else None
        ingest_metrics = IngestMetrics(metrics, drain_files=files)
    spool = Spool(
        data_dir / "spool.db",
        ingest.spool_max_bytes,
        consumers=(TELEMETRY, *consumers),
        refused_payload_max=ingest.max_payload_bytes,
    )
    common: dict[str, Any] = {
        "client_id": mqtt.client_id,
        "session_expiry_s": mqtt.session_expiry_s,
        "keepalive_s": mqtt.keepalive_s,
        "shared_group": mqtt.shared_group,
    }
    if mqtt.url:
        options = options_from_url(mqtt.url, host=broker_host, port=broker_port, protocol=mqtt.protocol, **common)
    else:  # the embedded amqtt broker speaks MQTT 3.1.1 only
        options = MqttOptions(host=broker_host, port=broker_port, protocol="3.1.1", **common)

    def connected(_session_present: bool) -> None:
        ingest_metrics.connected.set(1)
        if transport.connections > 1:
            ingest_metrics.reconnects.inc()

    transport = GmqttTransport(
        options, now=clock.now, on_connect=connected, on_disconnect=lambda: ingest_metrics.connected.set(0)
    )
    return IngestParts(spool, transport, ingest_metrics)


def build_ingester(
    *,
    mqtt: MqttSettings,
    ingest: IngestSettings,
    telemetry: TelemetrySettings,
    data_dir: Path,
    engine: AsyncEngine,
    registry: Callable[[], Registry] | Registry,
    clock: Clock,
    metrics: CollectorRegistry | IngestMetrics,
    broker_host: str,
    broker_port: int,
    consumers: Mapping[str, Consumer] | None = None,
    sink: TelemetrySink | None = None,
) -> Ingester:
    """The ingester these sections describe; `registry` is the registry, or what returns the current one."""
    consumers = dict(consumers or {})
    parts = ingest_parts(
        mqtt=mqtt,
        ingest=ingest,
        data_dir=data_dir,
        clock=clock,
        metrics=metrics,
        broker_host=broker_host,
        broker_port=broker_port,
        consumers=tuple(consumers),
    )
    return ingester_on(
        parts,
        ingest=ingest,
        telemetry=telemetry,
        data_dir=data_dir,
        engine=engine,
        registry=registry,
        clock=clock,
        consumers=consumers,
        sink=sink,
    )


def ingester_on(
    parts: IngestParts,
    *,
    ingest: IngestSettings,
    telemetry: TelemetrySettings,
    data_dir: Path,
    engine: AsyncEngine,
    registry: Callable[[], Registry] | Registry,
    clock: Clock,
    consumers: Mapping[str, Consumer] | None = None,
    sink: TelemetrySink | None = None,
    loopback_media: Sequence[AllowEntry] = (),
) -> Ingester:
    """The ingester on the spool and transport `ingest_parts` made from the same sections; `consumers` are those
    the spool was given cursors for; `loopback_media` as the `Decoder`'s (the demo's own snapshots)."""
    reg = registry() if callable(registry) else registry
    process = ingest.telemetry_drain == "process"
    spool, transport, ingest_metrics = parts.spool, parts.transport, parts.metrics
    decoder = Decoder(
        reg,
        clock,
        max_future_s=ingest.max_future_s,
        max_age_s=ingest.max_age_s,
        max_bytes=ingest.max_payload_bytes,
        loopback_media=loopback_media,
    )
    drain = None
    if process:
        drain = DrainConfig(
            spool=str(spool.path),
            data_dir=str(data_dir),
            telemetry=telemetry.model_dump(mode="json"),
            limit=telemetry.batch_size,
            refused_payload_max=ingest.max_payload_bytes,
        )
    return Ingester(
        transport=transport,
        decoder=decoder,
        spool=spool,
        sink=sink or make_sink(telemetry, data_dir=data_dir, clock=clock),
        deadletters=DeadLetters(
            engine, max_rows=ingest.deadletter_max_rows, max_payload_bytes=ingest.max_payload_bytes
        ),
        metrics=ingest_metrics,
        clock=clock,
        consumers=consumers,
        telemetry_drain=drain,
        tuning=IngestTuning(sink_batch=telemetry.batch_size),
    )
