"""One spool consumer's loop: read after the cursor, hand batches to a callable, commit the cursor behind them.

Shared by every consumer: the rule engine's in the ingester's event loop, and the telemetry drain
(`ingest.drain`) in the ingester's process or in a process of its own, reading the same spool file.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from typing import Protocol

from devices.reading import Reading
from ingest.refusals import RefusedMessage

Consume = Callable[[Sequence[Reading]], Awaitable[Sequence[RefusedMessage] | None]]
"""Takes a batch; returns what of it could not be delivered, to be dead-lettered (kept with the cursor move)."""
OnFailure = Callable[[str, Exception, int, int], Awaitable[None]]  # name, error, batch size, failures so far
OnCommitted = Callable[[Sequence[RefusedMessage]], None]
Durable = Callable[[int], int | None]
"""Told the spool offset a batch ended at once the consumer took it; returns how far the cursor may move (None:
not yet). For a consumer that makes its work durable now and then rather than per batch (the rule runner)."""


class Wakeup(Protocol):
    """How the loop learns of appends: `asyncio.Event` (set by the appender), or anything that behaves so."""

    def clear(self) -> None: ...

    async def wait(self) -> object: ...


class SpoolAccess(Protocol):
    """What a consumer needs of a spool: `ingest.spool.Spool` and `ingest.spool.SpoolReader` both offer it."""

    def position(self, consumer: str) -> int: ...

    def read_after(self, offset: int, limit: int = 5000) -> list[tuple[int, Reading]]: ...

    def commit(self, consumer: str, offset: int, refused: Sequence[RefusedMessage] = ()) -> None: ...


async def consume_forever(
    spool: SpoolAccess,
    name: str,
    consume: Consume,
    *,
    appended: Wakeup,
    limit: int,
    depth: int,
    on_failure: OnFailure,
    on_committed: OnCommitted | None = None,
    durable: Durable | None = None,
) -> None:
    """Feed `name` from `spool` until cancelled, keeping up to `depth` batches in flight (the telemetry sink:
    points are idempotent, so a retry may rewrite a batch already stored; other consumers use depth 1 and see
    batches one at a time, in order). The cursor only ever moves past batches that succeeded, together with the
    refused messages `consume` returned for them; `on_committed` hears of those once they are kept. The loop clears
    `appended` before each read and waits on it when it has caught up.

    With `durable`, the cursor moves only as far as it says (never back): the consumer's state is saved now and
    then, and what it took since is handed again after a restart, or after a failure (which re-reads from the
    cursor)."""
    failures = 0
    while True:
        inflight: deque[tuple[int, int, asyncio.Future[Sequence[RefusedMessage] | None]]] = deque()  # last, size, write
        try:
            # inside the try: a spool that cannot be read for a moment is retried like a failed batch
            dispatched = committed = await asyncio.to_thread(spool.position, name)
            while True:
                while len(inflight) < depth:
                    appended.clear()
                    items = await asyncio.to_thread(spool.read_after, dispatched, limit)
                    if not items:
                        break
                    dispatched = items[-1][0]
                    inflight.append((dispatched, len(items), asyncio.ensure_future(consume([r for _, r in items]))))
                if not inflight:
                    await appended.wait()
                    continue
                last, _, write = inflight[0]
                refused = await write or ()
                upto = last if durable is None else durable(last)
                if upto is not None or refused:
                    # refused messages are kept with the cursor where it is when it may not move yet
                    await asyncio.to_thread(spool.commit, name, committed if upto is None else upto, refused)
                    if upto is not None:
                        committed = max(committed, upto)
                inflight.popleft()
                failures = 0
                if refused and on_committed is not None:
                    on_committed(refused)
        except asyncio.CancelledError:
            for _, _, write in inflight:
                write.cancel()
            raise
        except Exception as exc:
            for _, _, write in inflight:
                write.cancel()
            await asyncio.gather(*(w for _, _, w in inflight), return_exceptions=True)
            size = inflight[0][1] if inflight else 0
            await on_failure(name, exc, size, failures)
            failures += 1
