"""The telemetry drain as its own process: spool file -> line protocol -> database, off the ingester's CPU.

Started by the ingester when `[ingest] telemetry_drain = "process"` (see `ingest.drainproc`), never by hand.
It talks to its parent over pipes, one JSON object per line:

- stdin: first line the configuration (`DrainConfig`), then `a` per spool append the parent made (a hint to
  read now; it also polls every second) and `ok K` / `no K` answering question K; end of input means the
  parent is gone, and it exits.
- stdout: `{"ready": 1}` once the spool is open, then per stored batch `{"stored": n, "seconds": t,
  "received_at": oldest}`, per refused batch part `{"refused": [[topic, payload, reason, received_at], ...],
  "ask": K, "part": i, "parts": n}` (one question K per batch, in n numbered parts), and
  `{"unavailable": reason, "retry_in": s}` / `{"failed": reason, "size": n, "retry_in": s}` on errors.

The parent keeps the metrics and the dead letters, so an operator sees one ingester; this process owns only
the "telemetry" cursor of the spool, which it moves after each batch is stored (at least once, as inline). A
batch with refused points is done only when the parent has answered that their dead letters are stored: until
then the dead letter's only copy is the spool, so a `no` (or no answer) fails the batch and it is written again.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import random
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import msgspec

from cwatch.clock import SystemClock
from devices.reading import Reading
from devices.topics import topic_for
from ingest.backoff import backoff_delay
from ingest.consumerloop import consume_forever
from ingest.errors import IngestError
from ingest.sinks.base import SinkUnavailable, TelemetrySink
from ingest.spool import SpoolReader

log = logging.getLogger("ingest.drainer")

TELEMETRY = "telemetry"
POLL_S = 1.0


class DrainConfig(msgspec.Struct, forbid_unknown_fields=True):
    """What the parent sends on the first line."""

    spool: str
    data_dir: str
    telemetry: dict[str, Any]  # `cwatch.settings.TelemetrySettings`, as a dict
    limit: int = 5_000
    depth: int = 2
    retry_initial_s: float = 0.5
    retry_max_s: float = 30.0


REFUSED_PER_LINE = 100
"""Most refused readings per report line: a whole refused batch of 5,000 on one line would pass the parent's
line limit (`ingest.drainproc.REPORT_LINE_LIMIT`)."""

REFUSED_BYTES_PER_LINE = 4 * 1024 * 1024
"""About the most bytes of topics, payloads and reasons per report line (a row's payload is at most a
message's, `max_payload_bytes` <= 1 MiB, so one row always fits the parent's 16 MiB line limit)."""


def parts(rows: list[list[Any]]) -> list[list[list[Any]]]:
    """Rows in parts of at most REFUSED_PER_LINE rows and about REFUSED_BYTES_PER_LINE bytes of text."""
    out: list[list[list[Any]]] = []
    part: list[list[Any]] = []
    size = 0
    for row in rows:
        n = len(row[1]) + len(row[2]) + len(row[0])
        if part and (len(part) >= REFUSED_PER_LINE or size + n > REFUSED_BYTES_PER_LINE):
            out.append(part)
            part, size = [], 0
        part.append(row)
        size += n
    if part:
        out.append(part)
    return out


ANSWER_TIMEOUT_S = 60.0
"""How long a batch waits for the parent to store its dead letters before it counts as failed (and is retried)."""


class DeadLetterStoreError(IngestError):
    """The parent could not store the dead letters of refused points (or did not answer in time)."""


def reading_json(reading: Reading) -> bytes:
    """The stored form of a reading the database refused, for its dead letter."""
    return msgspec.json.encode({"ts": reading.ts, "seq": reading.seq, **reading.fields})


class _Out:
    """Line-buffered JSON reports to the parent."""

    def __init__(self) -> None:
        self._enc = msgspec.json.Encoder()

    def send(self, obj: dict[str, Any]) -> None:
        sys.stdout.buffer.write(self._enc.encode(obj) + b"\n")
        sys.stdout.buffer.flush()


async def drain(cfg: DrainConfig, stdin: asyncio.StreamReader, out: _Out) -> None:
    from cwatch.settings import TelemetrySettings
    from ingest.wiring import make_sink

    sink: TelemetrySink = make_sink(
        TelemetrySettings.model_validate(cfg.telemetry), data_dir=Path(cfg.data_dir), clock=SystemClock()
    )
    reader = SpoolReader(cfg.spool)
    appended = asyncio.Event()
    rng = random.Random()
    answers: dict[int, asyncio.Future[bool]] = {}
    asked = itertools.count(1)

    async def write(readings: Sequence[Reading]) -> None:
        t0 = time.perf_counter()
        refused = await sink.write(readings)
        out.send(
            {
                "stored": len(readings) - len(refused),
                "seconds": time.perf_counter() - t0,
                "received_at": readings[0].received_at,
            }
        )
        if refused:
            rows = [
                [
                    topic_for(r.community_id, r.device_id, r.channel),
                    reading_json(r).decode(),
                    reason,
                    r.received_at,
                ]
                for r, reason in refused
            ]
            await ask(rows)

    async def ask(rows: list[list[Any]]) -> None:
        """Report refused rows (in parts of bounded length, one question) and wait until the parent has stored
        them all in one transaction (raises DeadLetterStoreError)."""
        k = next(asked)
        answers[k] = answer = asyncio.get_running_loop().create_future()
        try:
            pieces = parts(rows)  # lines of bounded length for the parent's reader
            for i, piece in enumerate(pieces):
                out.send({"refused": piece, "ask": k, "part": i, "parts": len(pieces)})
            try:
                stored = await asyncio.wait_for(answer, ANSWER_TIMEOUT_S)
            except TimeoutError:
                raise DeadLetterStoreError(f"no answer from the ingester in {ANSWER_TIMEOUT_S:.0f}s") from None
            if not stored:
                raise DeadLetterStoreError(f"the ingester could not store {len(rows)} dead letters")
        finally:
            answers.pop(k, None)

    async def failed(name: str, exc: Exception, size: int, failures: int) -> None:
        delay = backoff_delay(failures, initial=cfg.retry_initial_s, cap=cfg.retry_max_s, rng=rng)
        if isinstance(exc, SinkUnavailable):
            if exc.retry_after is not None:
                delay = exc.retry_after
            out.send({"unavailable": str(exc)[:500], "retry_in": delay})
        else:
            out.send({"failed": f"{type(exc).__name__}: {exc}"[:500], "size": size, "retry_in": delay})
        await asyncio.sleep(min(delay, cfg.retry_max_s))

    async def hints() -> None:
        while line := await stdin.readline():
            word, _, k = line.partition(b" ")
            if word == b"a\n":
                appended.set()
            elif word in (b"ok", b"no") and k.strip().isdigit():
                fut = answers.get(int(k))
                if fut is not None and not fut.done():
                    fut.set_result(word == b"ok")

    async def poll() -> None:
        while True:
            await asyncio.sleep(POLL_S)
            appended.set()

    out.send({"ready": 1})
    try:
        async with asyncio.TaskGroup() as tg:
            loop = tg.create_task(
                consume_forever(
                    reader,
                    TELEMETRY,
                    write,
                    appended=appended,
                    limit=cfg.limit,
                    depth=cfg.depth,
                    on_failure=failed,
                )
            )
            poller = tg.create_task(poll())
            await hints()  # the parent closed our stdin: it is stopping or gone
            loop.cancel()
            poller.cancel()
    finally:
        with contextlib.suppress(Exception):
            await sink.close()
        reader.close()


async def main_async() -> int:
    loop = asyncio.get_running_loop()
    stdin = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(stdin), sys.stdin)
    first = await stdin.readline()
    if not first:
        return 0
    try:
        cfg = msgspec.json.decode(first, type=DrainConfig)
    except msgspec.DecodeError as exc:
        log.error("bad drain configuration from the parent: %s", exc)
        return 2
    await drain(cfg, stdin, _Out())
    return 0


def main() -> int:
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    with contextlib.suppress(KeyboardInterrupt):
        return asyncio.run(main_async())
    return 0


if __name__ == "__main__":
    sys.exit(main())
