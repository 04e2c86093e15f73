"""The ingester: MQTT in, durable spool in the middle, telemetry sink and other consumers out.

    broker --transport--> OrderedCommitter --decode--> Spool.append (readings + refused messages) --PUBACK
    Spool --"telemetry"--> TelemetryDrain: sink.write, retried while SinkUnavailable (here, or in a drain process)
    Spool --"rules" etc.--> consumer callables
    Spool refused rows --DeadLetterMover--> DeadLetters

Every background loop lives in one TaskGroup owned by `run()`; `stop()` ends them. Acknowledgement depends only
on the spool (a local SQLite file), never on InfluxDB, so a database outage fills the spool instead of stalling
the broker; when the spool reaches its size limit, acknowledgements stop and the broker holds the rest.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from core.clock import Clock, SystemClock
from devices.reading import Reading
from ingest.backoff import backoff_delay
from ingest.committer import OrderedCommitter
from ingest.consumerloop import Consume, Durable, consume_forever
from ingest.drain import TELEMETRY, TelemetryDrain
from ingest.drainproc import DrainConfig, DrainProcess
from ingest.errors import IngestError, SpoolError
from ingest.metrics import IngestMetrics
from ingest.mover import DeadLetterMover, DeadLetterStore
from ingest.refusals import DECODER_ERROR, Refused, RefusedMessage
from ingest.sinks.base import TelemetrySink
from ingest.spool import Spool
from ingest.transport import InboundMessage, Transport

if TYPE_CHECKING:
    from devices.registry import Registry

log = logging.getLogger(__name__)


@runtime_checkable
class CheckpointingConsumer(Protocol):
    """A consumer that saves its work now and then, not after every batch (the rule runner): its cursor moves
    only as far as `durable` says, so what it took since its last save is handed again after a restart."""

    async def on_readings(self, readings: Sequence[Reading]) -> None: ...

    def durable(self, last: int) -> int | None: ...


Consumer = Callable[[Sequence[Reading]], Awaitable[None]] | CheckpointingConsumer


class MessageDecoder(Protocol):
    """`ingest.decode.Decoder` as the service sees it."""

    def decode(self, topic: str, payload: bytes, *, retain: bool, received_at: float) -> list[Reading]: ...

    def set_registry(self, registry: Any) -> None: ...


Intake = list[Reading] | RefusedMessage  # a decoded message: its readings, or why it was refused


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
        self.consumers: dict[str, Consumer] = dict(consumers or {})
        if TELEMETRY in self.consumers:
            raise IngestError("'telemetry' is the telemetry drain's cursor; name the consumer otherwise")
        if TELEMETRY not in spool.consumers:
            raise IngestError("the spool needs a 'telemetry' cursor")
        missing = set(self.consumers) - set(spool.consumers)
        if missing:
            raise IngestError(f"spool has no cursor for consumer(s) {sorted(missing)}; pass them to Spool(...)")
        # the telemetry drain runs here, or in a drain process of its own; either way it reads the spool file
        self.telemetry: TelemetryDrain | None = None
        self.drain_process: DrainProcess | None = None
        if telemetry_drain is None:
            t = self.tuning
            self.telemetry = TelemetryDrain(
                spool,
                sink,
                self.metrics,
                clock=self.clock,
                limit=t.sink_batch,
                depth=t.sink_concurrency,
                retry_initial_s=t.retry_initial_s,
                retry_max_s=t.retry_max_s,
                sleep=sleep,
            )
        else:
            if self.metrics.drain_files is None:
                raise IngestError("a telemetry drain process needs IngestMetrics(drain_files=...) for its metrics")
            self.drain_process = DrainProcess(
                telemetry_drain,
                self.metrics.drain_files,
                on_restart=lambda _rc: self.metrics.drain_restarts.inc(),
                restart_initial_s=self.tuning.retry_initial_s,
                restart_max_s=self.tuning.retry_max_s,
            )
        self.mover = DeadLetterMover(
            spool,
            deadletters,
            self.metrics,
            poll_s=self.tuning.housekeeping_s,
            retry_initial_s=self.tuning.retry_initial_s,
            retry_max_s=self.tuning.retry_max_s,
            sleep=sleep,
        )
        self._refusals = asyncio.Event()  # set after an append that kept refused messages
        self._appended = {name: asyncio.Event() for name in (TELEMETRY, *self.consumers)}
        self._committer: OrderedCommitter[Intake] = OrderedCommitter(
            self._commit,
            max_batch=self.tuning.commit_batch,
            retry_initial_s=self.tuning.retry_initial_s,
            retry_max_s=self.tuning.commit_retry_max_s,
            sleep=sleep,
        )
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
                if self.telemetry is not None:
                    tg.create_task(self.telemetry.run(self._appended[TELEMETRY]), name="ingest-drain-telemetry")
                if self.drain_process is not None:
                    tg.create_task(self.drain_process.run(), name="ingest-drain-process")
                tg.create_task(self.mover.run(self._refusals), name="ingest-dead-letters")
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
        try:
            sink_ok = bool(await asyncio.wait_for(self.sink.ping(), timeout=2.0))
        except Exception:
            sink_ok = False
        return {"broker": self.transport.connected, "spool": spool_ok, "sink": sink_ok}

    # --- intake: decode, spool ----------------------------------------------------------------------------

    def _intake(self, msg: InboundMessage) -> asyncio.Future[None]:
        """The transport's handler: decode now (while the previous batch's fsync is under way), queue for the
        next commit, and return the future whose completion acknowledges the message."""
        try:
            item: Intake = self.decoder.decode(msg.topic, msg.payload, retain=msg.retain, received_at=msg.received_at)
        except Refused as exc:
            item = RefusedMessage(msg.topic, msg.payload, exc.reason, exc.detail, msg.received_at)
        except Exception as exc:  # a decoder bug: keep the message (visible, replayable), never lose or loop on it
            log.exception("decoder failed on a message from %s", msg.topic)
            detail = f"{type(exc).__name__}: {exc}"[:200]
            item = RefusedMessage(msg.topic, msg.payload, DECODER_ERROR, detail, msg.received_at)
        return self._committer.enqueue(item)

    async def _commit(self, items: Sequence[Intake]) -> None:
        """Append a batch's readings and refused messages to the spool in one transaction (its acknowledgement
        waits for it); the refused messages go on from there to the dead letters (`ingest.mover`). Raises, and so
        acknowledges nothing, when the append fails."""
        m = self.metrics
        m.received.inc(len(items))
        readings: list[Reading] = []
        refused: list[RefusedMessage] = []
        for item in items:
            if isinstance(item, list):
                readings.extend(item)
            else:
                refused.append(item)
        if not readings and not refused:
            return
        t0 = time.perf_counter()
        try:
            result = await asyncio.to_thread(self.spool.append, readings, self.clock.now(), refused)
        except SpoolError:
            self._spool_ok = False
            raise
        self._spool_ok = True
        if readings:
            m.batch_write_seconds.labels("spool").observe(time.perf_counter() - t0)
        m.spooled.inc(result.stored)
        if result.duplicates:
            m.duplicates.inc(len(result.duplicates))
        if result.stored:
            for ev in self._appended.values():
                ev.set()
        for row in refused:  # counted once, when kept: a batch the committer retries would count again
            m.refused.labels(str(row.reason)).inc()
        if refused:
            self._refusals.set()

    # --- drain: spool -> consumers ------------------------------------------------------------------------

    async def _drain(self, name: str) -> None:
        """Feed consumer `name` from the spool (see `ingest.consumerloop`), one batch at a time, in order."""
        consumer = self.consumers[name]
        durable: Durable | None = None
        if isinstance(consumer, CheckpointingConsumer):
            consume: Consume = consumer.on_readings
            durable = consumer.durable
        else:
            consume = consumer
        await consume_forever(
            self.spool,
            name,
            consume,
            appended=self._appended[name],
            limit=self.tuning.consumer_batch,
            depth=1,
            on_failure=self._consumer_failed,
            durable=durable,
        )

    async def _consumer_failed(self, name: str, exc: Exception, size: int, failures: int) -> None:
        self.metrics.consumer_errors.labels(name).inc()
        delay = self._backoff(failures)
        log.error("%s consumer failed on %d readings; retrying in %.1fs", name, size, delay, exc_info=exc)
        await self._sleep(min(delay, self.tuning.retry_max_s))

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
        for name in self._appended:
            m.spool_depth.labels(name).set(self.spool.depth(name))
            m.spool_age.labels(name).set(self.spool.oldest_age(name, now))
        m.spool_bytes.set(self.spool.size_bytes())
