"""The settings sections the ingester reads: `[mqtt]`, `[telemetry]` and `[ingest]`. `cwatch.settings` puts them
in the one settings object with the others and reads them from the file and the environment."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from core.section import Section


class MqttSettings(Section):
    url: str = Field(default="", description="mqtt://user:pass@host:port; empty runs an embedded broker.")
    embedded_host: str = "127.0.0.1"
    embedded_port: int = Field(default=11883, ge=0, le=65535)
    client_id: str = "cwatch-ingest"
    session_expiry_s: int = Field(default=7 * 86_400, ge=0)
    keepalive_s: int = Field(default=30, ge=5)
    shared_group: str = Field(default="", description="Subscribe as $share/<group>/... when several ingesters run.")
    protocol: Literal["auto", "5", "3.1.1"] = Field(
        default="auto", description="MQTT version; auto tries 5 and falls back to 3.1.1. The embedded broker is 3.1.1."
    )


class TelemetrySettings(Section):
    backend: Literal["sqlite", "influx_v1", "influx_v2"] = "sqlite"
    retention_days: float = Field(default=30, gt=0)
    influx_url: str = "http://127.0.0.1:8086"
    influx_database: str = "cwatch"
    influx_username: str = ""
    influx_password: str = ""
    influx_org: str = ""
    influx_bucket: str = ""
    influx_token: str = ""
    batch_size: int = Field(
        default=5_000,
        ge=1,
        le=100_000,
        description="Most points per write. A write starts as soon as readings are spooled and fewer than two are"
        " in flight, so batches are small when traffic is light and fill up under load.",
    )
    gzip: bool = Field(
        default=True,
        description="Compress InfluxDB write bodies (gzip level 1); worth it across a network, not on one host.",
    )

    @model_validator(mode="after")
    def _v2_needs_credentials(self) -> TelemetrySettings:
        if self.backend == "influx_v2":
            missing = [k for k in ("influx_org", "influx_bucket", "influx_token") if not getattr(self, k)]
            if missing:
                raise ValueError(f"backend influx_v2 needs {', '.join(missing)}")
        return self


class IngestSettings(Section):
    max_future_s: float = Field(default=300, ge=0)
    max_age_s: float = Field(default=7 * 86_400, gt=0)
    max_payload_bytes: int = Field(default=65_536, ge=256, le=1_048_576)
    spool_max_bytes: int = Field(default=2 * 1024**3, ge=1024**2)
    deadletter_max_rows: int = Field(default=100_000, ge=100)
    telemetry_drain: Literal["inline", "process"] = Field(
        default="inline",
        description="'process' writes telemetry from a second process (uses a second core; see docs/ingest.md).",
    )
