"""`consume_forever`: a spool that cannot be read for a moment, or a batch that fails, is retried; neither ends
the loop (which would end the ingester and, with it, the service)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Sequence

from devices.reading import Reading
from ingest.consumerloop import consume_forever
from ingest.errors import SpoolError
from tests.ingest.test_spool import reading


class FlakySpool:
    """Three readings after offset 0; the cursor cannot be read the first `down` times."""

    def __init__(self, down: int) -> None:
        self.down = down
        self.cursor = 0
        self.items = [(i + 1, reading(seq=i + 1)) for i in range(3)]

    def position(self, consumer: str) -> int:
        if self.down > 0:
            self.down -= 1
            raise SpoolError("database is locked")
        return self.cursor

    def read_after(self, offset: int, limit: int = 5000) -> list[tuple[int, Reading]]:
        return [x for x in self.items if x[0] > offset][:limit]

    def commit(self, consumer: str, offset: int) -> None:
        self.cursor = max(self.cursor, offset)


async def test_a_cursor_that_cannot_be_read_is_retried() -> None:
    spool = FlakySpool(down=2)
    got: list[Reading] = []
    failures: list[str] = []
    done = asyncio.Event()

    async def consume(batch: Sequence[Reading]) -> None:
        got.extend(batch)
        done.set()

    async def on_failure(name: str, exc: Exception, size: int, n: int) -> None:
        failures.append(str(exc))

    task = asyncio.create_task(
        consume_forever(spool, "rules", consume, appended=asyncio.Event(), limit=10, depth=1, on_failure=on_failure)
    )
    try:
        await asyncio.wait_for(done.wait(), timeout=10)
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
    assert failures == ["database is locked", "database is locked"]
    assert [r.seq for r in got] == [1, 2, 3]
