"""The telemetry drain: the spool's "telemetry" consumer, which writes readings to the telemetry database.

One code path, run in the ingester's process (`[ingest] telemetry_drain = "inline"`) or in a drain process of
its own (`"process"`, `ingest.drainer`); the spool file is all the two processes share. Each batch is written to
the sink, then its cursor move and the points the database refused (as dead-letter rows) are committed to the
spool in one transaction, so a crash at any point either keeps both or repeats the batch (points are
idempotent). The ingester moves the refused rows into the dead letters (`ingest.mover`).
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Awaitable, Callable, Sequence

import msgspec

from core.clock import Clock
from devices.reading import Reading
from devices.topics import topic_for
from ingest.backoff import backoff_delay
from ingest.consumerloop import SpoolAccess, Wakeup, consume_forever
from ingest.metrics import DrainMetrics
from ingest.refusals import RefusalReason, RefusedMessage
from ingest.sinks.base import SinkUnavailable, TelemetrySink

log = logging.getLogger(__name__)

TELEMETRY = "telemetry"
"""The spool cursor of the telemetry drain."""


def reading_json(reading: Reading) -> bytes:
    """The stored form of a reading the database refused, for its dead letter."""
    return msgspec.json.encode({"ts": reading.ts, "seq": reading.seq, **reading.fields})


class TelemetryDrain:
    """Feeds the telemetry sink from `spool` until cancelled, with up to `depth` writes in flight; failed batches
    are retried with capped backoff (or after the database's `Retry-After`)."""

    def __init__(
        self,
        spool: SpoolAccess,
        sink: TelemetrySink,
        metrics: DrainMetrics,
        *,
        clock: Clock,
        limit: int = 5_000,
        depth: int = 2,
        retry_initial_s: float = 0.5,
        retry_max_s: float = 30.0,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.spool = spool
        self.sink = sink
        self.metrics = metrics
        self.clock = clock
        self.limit = limit
        self.depth = depth
        self.retry_initial_s = retry_initial_s
        self.retry_max_s = retry_max_s
        self._sleep = sleep  # retries wait wall-clock time: a database comes back in real seconds
        self._rng = random.Random()

    async def run(self, appended: Wakeup) -> None:
        """`appended` tells of new readings in the spool (the drain waits on it once caught up)."""
        await consume_forever(
            self.spool,
            TELEMETRY,
            self._write,
            appended=appended,
            limit=self.limit,
            depth=self.depth,
            on_failure=self._failed,
            on_committed=self._kept,
        )

    async def _write(self, readings: Sequence[Reading]) -> list[RefusedMessage]:
        t0 = time.perf_counter()
        refused = await self.sink.write(readings)
        m = self.metrics
        m.batch_write_seconds.labels("sink").observe(time.perf_counter() - t0)
        m.stored.inc(len(readings) - len(refused))
        m.ingest_lag.observe(max(0.0, self.clock.now() - readings[0].received_at))
        return [
            RefusedMessage(
                topic_for(r.community_id, r.device_id, r.channel),
                reading_json(r),
                RefusalReason.SINK_REJECTED,
                why,
                r.received_at,
            )
            for r, why in refused
        ]

    def _kept(self, refused: Sequence[RefusedMessage]) -> None:
        # counted once, when kept with the cursor move: a batch written again would count again
        self.metrics.refused.labels(RefusalReason.SINK_REJECTED.value).inc(len(refused))

    async def _failed(self, name: str, exc: Exception, size: int, failures: int) -> None:
        delay = backoff_delay(failures, initial=self.retry_initial_s, cap=self.retry_max_s, rng=self._rng)
        if isinstance(exc, SinkUnavailable):
            self.metrics.sink_errors.inc()
            if exc.retry_after is not None:
                delay = exc.retry_after
            log.warning("%s: sink unavailable (%s); retrying in %.1fs", name, exc, delay)
        else:
            self.metrics.consumer_errors.labels(name).inc()
            log.error("%s failed on %d readings; retrying in %.1fs", name, size, delay, exc_info=exc)
        await self._sleep(min(delay, self.retry_max_s))
