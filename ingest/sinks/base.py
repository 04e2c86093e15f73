"""What every telemetry sink promises the drainer, what a reader of the store promises the API (the evidence
charts of tickets), and the one error that means "try again later"."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable

from devices.reading import Reading
from ingest.errors import IngestError


class SinkUnavailable(IngestError):  # noqa: N818 - the name is the shared contract
    """The database cannot take writes right now (down, overloaded, 5xx, 429). Nothing of the batch is known to
    be lost: the caller keeps it and retries, after `retry_after` seconds when the database said so."""

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


@runtime_checkable
class TelemetrySink(Protocol):
    """Stores readings. Batching is the caller's job: a sink writes what it is given."""

    async def write(self, readings: Sequence[Reading]) -> list[tuple[Reading, str]]:
        """Store `readings`. Returns the readings the database refused as malformed, each with its reason (the
        rest are stored). Raises `SinkUnavailable` when nothing can be stored now."""
        ...

    async def ping(self) -> bool:
        """True when the database answers (for /readyz)."""
        ...

    async def close(self) -> None: ...


Point = tuple[float, dict[str, float]]
"""A reading's device time and its numeric fields (booleans as 0.0 / 1.0)."""


@runtime_checkable
class TelemetryReader(Protocol):
    """Reads back what a sink stored (`SqliteTelemetrySink.values`, `ingest.sinks.influx_read.InfluxQLReader`)."""

    async def values(
        self,
        measurement: str,
        device_id: str,
        fields: Sequence[str],
        start: float,
        end: float,
        *,
        limit: int = 20_000,
    ) -> list[Point]:
        """The device's `fields` in readings with `start <= ts < end` (any channel), oldest first, at most `limit`;
        a reading with none of them is left out. `measurement` is the device's class. Raises `SinkUnavailable`."""
        ...

    async def close(self) -> None: ...
