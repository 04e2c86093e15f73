"""Telemetry sinks: where accepted readings are stored for dashboards and history.

`InfluxV1Sink` (InfluxDB 1.x `/write` + InfluxQL, which every InfluxDB generation serves), `InfluxV2Sink`
(`/api/v2/write`, tested at the wire level only) and `SqliteTelemetrySink` (embedded default, no server)."""

from ingest.sinks.base import SinkUnavailable, TelemetrySink
from ingest.sinks.influx_v1 import InfluxQueryError, InfluxV1Sink
from ingest.sinks.influx_v2 import InfluxV2Sink
from ingest.sinks.sqlite import SqliteTelemetrySink

__all__ = [
    "InfluxQueryError",
    "InfluxV1Sink",
    "InfluxV2Sink",
    "SinkUnavailable",
    "SqliteTelemetrySink",
    "TelemetrySink",
]
