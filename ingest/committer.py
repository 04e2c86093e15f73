"""Ordered, batched acknowledgement: the piece that turns one-task-per-message into PUBACKs in arrival order.

The transport calls `enqueue(message)` for every PUBLISH, in arrival order, and acknowledges the message when
the returned future completes. One committer loop takes everything queued (up to `max_batch`), hands it to
`commit` (decode + durable append), and only then resolves the futures, in queue order; their done-callbacks
run in that order, so PUBACKs are written in arrival order too (MQTT-4.6.0-2). Batching also means one fsync
per batch, not per message.

If `commit` raises, nothing of the batch is acknowledged: it is retried with backoff until it succeeds, while
new messages wait behind it (the broker's receive-maximum bounds how many), so memory stays bounded.
"""

from __future__ import annotations

import asyncio
import logging
import random
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
        self._items: list[T] = []
        self._futures: list[asyncio.Future[None]] = []
        self._wake = asyncio.Event()
        self.batches = 0

    @property
    def pending(self) -> int:
        return len(self._items)

    def enqueue(self, item: T) -> asyncio.Future[None]:
        """Queue `item`; the future completes once it is committed (the caller may then acknowledge it)."""
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._items.append(item)
        self._futures.append(fut)
        self._wake.set()
        return fut

    async def submit(self, item: T) -> None:
        """`enqueue` and wait for the commit."""
        await self.enqueue(item)

    async def run(self) -> None:
        """Commit batches until cancelled. On cancellation the futures of uncommitted items are cancelled, so
        their messages are never acknowledged and the broker redelivers them."""
        try:
            await self._loop()
        finally:
            for fut in self._futures:
                fut.cancel()
            self._items.clear()
            self._futures.clear()

    async def _loop(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            while self._items:
                n = min(len(self._items), self.max_batch)
                batch, futures = self._items[:n], self._futures[:n]
                del self._items[:n], self._futures[:n]
                try:
                    await self._commit_with_retry(batch)
                except asyncio.CancelledError:
                    for fut in futures:
                        fut.cancel()
                    raise
                self.batches += 1
                for fut in futures:
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
