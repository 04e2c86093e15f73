"""The telemetry drain as its own process: spool file -> line protocol -> database, off the ingester's CPU.

Started by the ingester when `[ingest] telemetry_drain = "process"` (see `ingest.drainproc`), never by hand. It
reads its configuration (`DrainConfig`, one JSON line) from stdin and then runs the same telemetry drain as the
ingester would in-process (`ingest.drain`) until its stdin ends: the ingester stopping, or gone. Once caught up,
it looks at the spool file's data version every `poll_s` to learn of appends, and it keeps its metrics where
`PROMETHEUS_MULTIPROC_DIR` says (the ingester sets it and serves them).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sys
from pathlib import Path

import msgspec

from core.clock import SystemClock
from ingest.drain import TelemetryDrain
from ingest.drainproc import DrainConfig
from ingest.errors import SpoolError
from ingest.metrics import DrainMetrics
from ingest.settings import TelemetrySettings
from ingest.sinks.configured import make_sink
from ingest.spool import SpoolReader

log = logging.getLogger("ingest.drainer")


class SpoolChanges:
    """The drain's wake-up (`ingest.consumerloop.Wakeup`) in this process: `wait()` returns once the ingester has
    committed to the spool file since `clear()`, looked at every `poll_s` and only while the drain waits. The
    drain uses the reader from one task, one call at a time, so its lock is free here and `PRAGMA data_version`
    (a look at the WAL index, no disk read) is run on the event loop."""

    def __init__(self, reader: SpoolReader, poll_s: float) -> None:
        self.reader = reader
        self.poll_s = poll_s
        self._since: int | None = None

    def _version(self) -> int | None:
        try:
            return self.reader.data_version()
        except SpoolError as exc:  # the drain's own reads will fail too, and be retried with backoff
            log.warning("cannot watch the spool: %s", exc)
            return None

    def clear(self) -> None:
        self._since = self._version()

    async def wait(self) -> bool:
        while True:
            await asyncio.sleep(self.poll_s)
            version = self._version()
            if version is None or version != self._since:
                return True


async def drain(cfg: DrainConfig, stdin: asyncio.StreamReader) -> None:
    clock = SystemClock()
    sink = make_sink(TelemetrySettings.model_validate(cfg.telemetry), data_dir=Path(cfg.data_dir), clock=clock)
    reader = SpoolReader(cfg.spool, cfg.refused_payload_max)
    telemetry = TelemetryDrain(
        reader,
        sink,
        DrainMetrics(),
        clock=clock,
        limit=cfg.limit,
        depth=cfg.depth,
        retry_initial_s=cfg.retry_initial_s,
        retry_max_s=cfg.retry_max_s,
    )
    try:
        async with asyncio.TaskGroup() as tg:
            work = tg.create_task(telemetry.run(SpoolChanges(reader, cfg.poll_s)))
            while await stdin.read(4096):  # nothing more is said on stdin: only its end matters
                pass
            work.cancel()
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
        log.error("bad drain configuration from the ingester: %s", exc)
        return 2
    await drain(cfg, stdin)
    return 0


def main() -> int:
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    with contextlib.suppress(KeyboardInterrupt):
        return asyncio.run(main_async())
    return 0


if __name__ == "__main__":
    sys.exit(main())
