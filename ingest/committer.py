"""Ordered, batched acknowledgement: the piece that turns one-task-per-message into PUBACKs in arrival order.

The transport calls `enqueue(message)` for every PUBLISH, in arrival order, and acknowledges the message when
the returned future completes. Messages are grouped into batches of at most `max_batch` in arrival order; a
batch is closed when the committer loop takes it, hands it to `commit` (durable append), and only then resolves
its future. All messages of a batch share that one future, and batches complete in order, so the transport can
write the batch's PUBACKs in arrival order (MQTT-4.6.0-2) from one done-callback. Batching also means one fsync
per batch, not per message.

If `commit` raises, nothing of the batch is acknowledged: it is retried with backoff until it succeeds, while
new messages wait behind it (the broker's receive-maximum bounds how many), so memory stays bounded.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from typing import Generic, TypeVar

from ingest.backoff import backoff_delay

log = logging.getLogger(__name__)

T = TypeVar("T")


class OrderedCommitter(Generic[T]):
    """Collects submitted items into batches, commits each batch once, and releases submitters in order."""

    def __init__(
        self,
        commit: Callable[[Sequence[T]], Awaitable[None]],
        *,
        max_batch: int = 5_000,
        retry_initial_s: float = 0.1,
        retry_max_s: float = 5.0,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        on_error: Callable[[BaseException], None] | None = None,
    ) -> None:
        self._commit = commit
        self.max_batch = max_batch
        self._retry_initial_s = retry_initial_s
        self._retry_max_s = retry_max_s
        self._sleep = sleep
        self._on_error = on_error
        self._batches: deque[tuple[list[T], asyncio.Future[None]]] = deque()  # oldest first
        self._open: list[T] | None = None  # the batch `enqueue` appends to, always the last in `_batches`
        self._wake = asyncio.Event()
        self.batches = 0

    @property
    def pending(self) -> int:
        return sum(len(items) for items, _ in self._batches)

    def enqueue(self, item: T) -> asyncio.Future[None]:
        """Queue `item`; the future completes once it is committed (the caller may then acknowledge it).
        Items of one batch share one future, so a caller can group acknowledgements by future."""
        if self._open is None or len(self._open) >= self.max_batch:
            self._open = []
            self._batches.append((self._open, asyncio.get_running_loop().create_future()))
            self._wake.set()
        self._open.append(item)
        return self._batches[-1][1]

    async def submit(self, item: T) -> None:
        """`enqueue` and wait for the commit."""
        await self.enqueue(item)

    async def run(self) -> None:
        """Commit batches until cancelled. On cancellation the futures of uncommitted items are cancelled, so
        their messages are never acknowledged and the broker redelivers them."""
        try:
            await self._loop()
        finally:
            for _, fut in self._batches:
                fut.cancel()
            self._batches.clear()
            self._open = None

    async def _loop(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            while self._batches:
                batch, fut = self._batches[0]
                if batch is self._open:
                    self._open = None  # close it: later items go to a new batch
                try:
                    await self._commit_with_retry(batch)
                except asyncio.CancelledError:
                    raise
                self._batches.popleft()
                self.batches += 1
                if not fut.done():
                    fut.set_result(None)

    async def _commit_with_retry(self, batch: Sequence[T]) -> None:
        attempt = 0
        while True:
            try:
                await self._commit(batch)
                return
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                if self._on_error is not None:
                    self._on_error(exc)
                delay = backoff_delay(attempt, initial=self._retry_initial_s, cap=self._retry_max_s, rng=_rng)
                attempt += 1
                log.warning("committing %d messages failed (%s); retrying in %.2fs", len(batch), exc, delay)
                await self._sleep(delay)


_rng = random.Random()
