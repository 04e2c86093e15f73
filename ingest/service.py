"""The ingester: MQTT in, durable spool in the middle, telemetry sink and other consumers out.

    broker --transport--> OrderedCommitter --decode--> Spool.append --PUBACK
                                                  \\--refused--> DeadLetters
    Spool --"telemetry"--> sink.write (retry while SinkUnavailable)
    Spool --"rules" etc.--> consumer callables

Every background loop lives in one TaskGroup owned by `run()`; `stop()` ends them. Acknowledgement depends only
on the spool (a local SQLite file), never on InfluxDB, so a database outage fills the spool instead of stalling
the broker; when the spool reaches its size limit, acknowledgements stop and the broker holds the rest.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from cwatch.clock import Clock, SystemClock
from devices.reading import Reading
from devices.topics import topic_for
from ingest.backoff import backoff_delay
from ingest.committer import OrderedCommitter
from ingest.consumerloop import consume_forever
from ingest.drainer import DrainConfig, reading_json
from ingest.drainproc import DrainProcess
from ingest.errors import IngestError, SpoolError
from ingest.metrics import IngestMetrics
from ingest.refusals import RefusalReason, Refused
from ingest.sinks.base import SinkUnavailable, TelemetrySink
from ingest.spool import Spool
from ingest.transport import InboundMessage, Transport

if TYPE_CHECKING:
    from prometheus_client import CollectorRegistry
    from sqlalchemy.ext.asyncio import AsyncEngine

    from cwatch.settings import Settings
    from devices.registry import Registry

log = logging.getLogger(__name__)

TELEMETRY = "telemetry"
SINK_REJECTED = "sink_rejected"  # dead-letter reason: decoded fine, but the database refused the point
DECODER_ERROR = "decoder_error"  # dead-letter reason: the decoder raised something other than Refused (a bug)
Consumer = Callable[[Sequence[Reading]], Awaitable[None]]


class MessageDecoder(Protocol):
    """`ingest.decode.Decoder` as the service sees it."""

    def decode(self, topic: str, payload: bytes, *, retain: bool, received_at: float) -> list[Reading]: ...

    def set_registry(self, registry: Any) -> None: ...


DeadLetterRow = tuple[str, bytes, RefusalReason | str, str, float]  # topic, payload, reason, detail, received_at
Intake = list[Reading] | DeadLetterRow  # a decoded message: its readings, or why it was refused


class DeadLetterStore(Protocol):
    """`ingest.deadletter.DeadLetters` as the service sees it."""

    async def add_many(self, items: Iterable[DeadLetterRow]) -> None: ...


@dataclass(frozen=True, slots=True)
class IngestTuning:
    """Batch sizes and retry bounds; the defaults suit 2 cores and tens of thousands of messages/s."""

    commit_batch: int = 5_000
    sink_batch: int = 5_000
    consumer_batch: int = 2_000
    sink_concurrency: int = 2
    retry_initial_s: float = 0.5
    retry_max_s: float = 30.0
    commit_retry_max_s: float = 5.0  # a full spool is retried at least this often
    housekeeping_s: float = 1.0


class _StoppedError(Exception):
    """Raised inside `run()`'s TaskGroup to cancel its loops on `stop()`."""


class Ingester:
    """Owns the ingest loops. Use `await run()` (until `stop()`), or `async with Ingester(...)`."""

    def __init__(
        self,
        *,
        transport: Transport,
        decoder: MessageDecoder,
        spool: Spool,
        sink: TelemetrySink,
        deadletters: DeadLetterStore,
        metrics: IngestMetrics | None = None,
        clock: Clock | None = None,
        consumers: Mapping[str, Consumer] | None = None,
        tuning: IngestTuning | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        telemetry_drain: DrainConfig | None = None,
    ) -> None:
        self.transport = transport
        self.decoder = decoder
        self.spool = spool
        self.sink = sink
        self.deadletters = deadletters
        self.metrics = metrics or IngestMetrics()
        self.clock: Clock = clock or SystemClock()
        self.tuning = tuning or IngestTuning()
        self._sleep = sleep  # retries wait wall-clock time: a database comes back in real seconds
        self._rng = random.Random()
        # the telemetry consumer runs here, or in a drain process of its own (`ingest.drainproc`)
        self.drain_process: DrainProcess | None = None
        self._drain_hint = asyncio.Event()
        # decoder-failure dead letters already stored for a batch the committer is retrying (spool full)
        self._kept_stored: dict[int, DeadLetterRow] = {}
        if telemetry_drain is None:
            self.consumers: dict[str, Consumer] = {TELEMETRY: self._write_telemetry, **(consumers or {})}
        else:
            self.consumers = dict(consumers or {})
            self.drain_process = DrainProcess(
                telemetry_drain,
                on_report=self._drain_report,
                on_refused=self._drain_refused,
                on_restart=lambda _rc: self.metrics.drain_restarts.inc(),
            )
        if TELEMETRY not in spool.consumers:
            raise IngestError("the spool needs a 'telemetry' cursor")
        missing = set(self.consumers) - set(spool.consumers)
        if missing:
            raise IngestError(f"spool has no cursor for consumer(s) {sorted(missing)}; pass them to Spool(...)")
        self._appended = {name: asyncio.Event() for name in self.consumers}
        self._committer: OrderedCommitter[Intake] = OrderedCommitter(
            self._commit,
            max_batch=self.tuning.commit_batch,
            retry_initial_s=self.tuning.retry_initial_s,
            retry_max_s=self.tuning.commit_retry_max_s,
            sleep=sleep,
        )
        self._sink_ok = True
        self._spool_ok = True
        self._stopping = asyncio.Event()
        self._done = asyncio.Event()
        self._running = False

    # --- lifecycle ----------------------------------------------------------------------------------------

    async def run(self) -> None:
        """Run every loop until `stop()` is called or one of them fails."""
        if self._running:
            raise IngestError("Ingester.run() is already running")
        self._running = True
        self._done.clear()
        try:
            async with asyncio.TaskGroup() as tg:
                tg.create_task(self._committer.run(), name="ingest-commit")
                for name in self.consumers:
                    tg.create_task(self._drain(name), name=f"ingest-drain-{name}")
                if self.drain_process is not None:
                    tg.create_task(self.drain_process.run(self._drain_hint), name="ingest-drain-process")
                tg.create_task(self._housekeeping(), name="ingest-housekeeping")
                tg.create_task(self.transport.run(self._intake), name="ingest-transport")
                await self._stopping.wait()
                raise _StoppedError
        except* _StoppedError:
            pass
        finally:
            self._running = False
            self._done.set()

    async def stop(self) -> None:
        """End `run()` and wait until its loops are gone. Unacknowledged messages stay with the broker."""
        self._stopping.set()
        if self._running:
            await self._done.wait()

    async def __aenter__(self) -> Ingester:
        self._task = asyncio.create_task(self.run(), name="ingester")
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()
        await self._task

    def set_registry(self, registry: Registry) -> None:
        """Decode with a new registry from now on (a CSV import replaced it)."""
        self.decoder.set_registry(registry)

    async def ready(self) -> dict[str, bool]:
        """Readiness parts for /readyz: broker connected, spool writable, sink reachable."""
        spool_ok = self._spool_ok and await asyncio.to_thread(self.spool.writable)
        sink_ok = self._sink_ok
        ping = getattr(self.sink, "ping", None)
        if ping is not None:
            try:
                sink_ok = bool(await asyncio.wait_for(ping(), timeout=2.0))
            except Exception:
                sink_ok = False
        return {"broker": self.transport.connected, "spool": spool_ok, "sink": sink_ok}

    # --- intake: decode, spool, dead letters ----------------------------------------------------------------

    def _intake(self, msg: InboundMessage) -> asyncio.Future[None]:
        """The transport's handler: decode now (while the previous batch's fsync is under way), queue for the
        next commit, and return the future whose completion acknowledges the message."""
        try:
            item: Intake = self.decoder.decode(msg.topic, msg.payload, retain=msg.retain, received_at=msg.received_at)
        except Refused as exc:
            item = (msg.topic, msg.payload, exc.reason, exc.detail, msg.received_at)
        except Exception as exc:  # a decoder bug: keep the message (visible, replayable), never lose or loop on it
            log.exception("decoder failed on a message from %s", msg.topic)
            item = (msg.topic, msg.payload, DECODER_ERROR, f"{type(exc).__name__}: {exc}"[:200], msg.received_at)
        return self._committer.enqueue(item)

    async def _commit(self, items: Sequence[Intake]) -> None:
        """Append a batch's readings to the spool in one transaction and dead-letter its refusals.
        Raises (and so acknowledges nothing) only when the spool append fails."""
        m = self.metrics
        m.received.inc(len(items))
        readings: list[Reading] = []
        refused: list[DeadLetterRow] = []
        kept: list[DeadLetterRow] = []  # messages the decoder failed on: the dead letter is their only copy
        for item in items:
            if isinstance(item, list):
                readings.extend(item)
            else:
                (kept if item[2] == DECODER_ERROR else refused).append(item)
                m.refused.labels(str(item[2])).inc()
        new = [row for row in kept if id(row) not in self._kept_stored]  # a retried batch: stored once only
        if new:
            # stored before anything else, or the batch fails and nothing of it is acknowledged: the broker sends
            # it again, and a message that may well be valid is not lost to a decoder bug and a store hiccup
            try:
                await self.deadletters.add_many(new)
            except Exception:
                self.metrics.deadletter_errors.inc(len(new))
                raise
            self._kept_stored.update((id(row), row) for row in new)  # the row is kept alive: its id stays its own
        if readings:
            t0 = time.perf_counter()
            try:
                result = await asyncio.to_thread(self.spool.append, readings, self.clock.now())
            except SpoolError:
                self._spool_ok = False
                raise
            self._spool_ok = True
            m.batch_write_seconds.labels("spool").observe(time.perf_counter() - t0)
            m.spooled.inc(result.stored)
            if result.duplicates:
                m.duplicates.inc(len(result.duplicates))
            if result.stored:
                for ev in self._appended.values():
                    ev.set()
                self._drain_hint.set()
        if refused:
            await self._dead_letters(refused)
        for row in kept:
            self._kept_stored.pop(id(row), None)

    async def _dead_letters(self, rows: Sequence[DeadLetterRow]) -> None:
        try:
            await self.deadletters.add_many(rows)
        except Exception as exc:  # a refused message is not telemetry: log it, never block acknowledgements
            self.metrics.deadletter_errors.inc(len(rows))
            log.error("could not store %d dead letters (first: %s %s): %s", len(rows), rows[0][0], rows[0][2], exc)

    # --- drain: spool -> consumers ------------------------------------------------------------------------

    async def _drain(self, name: str) -> None:
        """Feed `name` from the spool (see `ingest.consumerloop`): the telemetry sink with up to
        `sink_concurrency` writes in flight, other consumers one batch at a time, in order."""
        telemetry = name == TELEMETRY
        await consume_forever(
            self.spool,
            name,
            self.consumers[name],
            appended=self._appended[name],
            limit=self.tuning.sink_batch if telemetry else self.tuning.consumer_batch,
            depth=self.tuning.sink_concurrency if telemetry else 1,
            on_failure=self._consumer_failed,
        )

    async def _consumer_failed(self, name: str, exc: Exception, size: int, failures: int) -> None:
        if isinstance(exc, SinkUnavailable):
            self._sink_ok = False
            self.metrics.sink_errors.inc()
            delay = exc.retry_after if exc.retry_after is not None else self._backoff(failures)
            log.warning("%s consumer: sink unavailable (%s); retrying in %.1fs", name, exc, delay)
        else:
            self.metrics.consumer_errors.labels(name).inc()
            delay = self._backoff(failures)
            log.error("%s consumer failed on %d readings; retrying in %.1fs", name, size, delay, exc_info=exc)
        await self._sleep(min(delay, self.tuning.retry_max_s))

    async def _write_telemetry(self, readings: Sequence[Reading]) -> None:
        t0 = time.perf_counter()
        refused = await self.sink.write(readings)
        self._sink_ok = True
        m = self.metrics
        m.batch_write_seconds.labels("sink").observe(time.perf_counter() - t0)
        m.stored.inc(len(readings) - len(refused))
        m.ingest_lag.observe(max(0.0, self.clock.now() - readings[0].received_at))
        if refused:
            rows: list[DeadLetterRow] = [
                (topic_for(r.community_id, r.device_id, r.channel), reading_json(r), SINK_REJECTED, why, r.received_at)
                for r, why in refused
            ]
            # raises when they cannot be stored: the consumer then writes the batch again (points are idempotent)
            # instead of moving its cursor past readings whose only copy would be gone
            try:
                await self.deadletters.add_many(rows)
            except Exception:
                m.deadletter_errors.inc(len(rows))
                raise
            m.refused.labels(SINK_REJECTED).inc(len(rows))  # once, when kept: a retried batch would count again

    def _drain_report(self, report: dict[str, Any]) -> None:
        """A report of the drain process: the same metrics and dead letters as the inline consumer."""
        m = self.metrics
        if "stored" in report:
            self._sink_ok = True
            m.stored.inc(int(report["stored"]))
            m.batch_write_seconds.labels("sink").observe(float(report["seconds"]))
            m.ingest_lag.observe(max(0.0, self.clock.now() - float(report["received_at"])))
        elif "unavailable" in report:
            self._sink_ok = False
            m.sink_errors.inc()
            log.warning(
                "telemetry drain: sink unavailable (%s); retrying in %.1fs", report["unavailable"], report["retry_in"]
            )
        elif "failed" in report:
            m.consumer_errors.labels(TELEMETRY).inc()
            log.error("telemetry drain failed on %s readings: %s", report.get("size"), report["failed"])

    async def _drain_refused(self, refused: list[list[Any]]) -> None:
        """Store the dead letters of points the database refused in the drain process (one batch's, in one
        transaction), then count them. Raises when they cannot be stored: the drain process then writes the
        batch again instead of moving past their only copy (and they are counted when that succeeds)."""
        rows: list[DeadLetterRow] = [
            (str(topic), str(payload).encode(), SINK_REJECTED, str(reason), float(received_at))
            for topic, payload, reason, received_at in refused
        ]
        try:
            await self.deadletters.add_many(rows)
        except Exception:
            self.metrics.deadletter_errors.inc(len(rows))
            raise
        self.metrics.refused.labels(SINK_REJECTED).inc(len(rows))

    def _backoff(self, failures: int) -> float:
        t = self.tuning
        return backoff_delay(failures, initial=t.retry_initial_s, cap=t.retry_max_s, rng=self._rng)

    # --- housekeeping -------------------------------------------------------------------------------------

    async def _housekeeping(self) -> None:
        while True:
            try:
                await asyncio.to_thread(self._housekeep_once)
            except SpoolError as exc:
                log.warning("spool housekeeping failed: %s", exc)
            except Exception:  # a bug or an untranslated error: housekeeping must not end the ingester with it
                log.exception("spool housekeeping failed")
            await self._sleep(self.tuning.housekeeping_s)

    def _housekeep_once(self) -> None:
        self.spool.truncate()
        now = self.clock.now()
        m = self.metrics
        for name in self.consumers:
            m.spool_depth.labels(name).set(self.spool.depth(name))
            m.spool_age.labels(name).set(self.spool.oldest_age(name, now))
        m.spool_bytes.set(self.spool.size_bytes())


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
) -> Ingester:
    """Wire an `Ingester` from settings (the CLI's `serve`, and `python -m ingest.run`)."""
    from ingest.wiring import build_ingester as _build

    return _build(
        settings,
        engine=engine,
        registry=registry,
        clock=clock,
        metrics=metrics,
        broker_host=broker_host,
        broker_port=broker_port,
        consumers=consumers,
    )
