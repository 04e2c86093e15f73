"""OrderedCommitter, the ordering half of the transport contract: futures complete in arrival order, a failed
commit acknowledges nothing and is retried, cancellation leaves nothing acknowledged."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence

import pytest

from ingest.committer import OrderedCommitter


async def test_futures_complete_in_arrival_order_in_batches() -> None:
    batches: list[list[int]] = []
    done: list[int] = []

    async def commit(batch: Sequence[int]) -> None:
        batches.append(list(batch))
        await asyncio.sleep(0)

    c: OrderedCommitter[int] = OrderedCommitter(commit, max_batch=4)
    runner = asyncio.create_task(c.run())
    futs = [c.enqueue(i) for i in range(10)]

    def record(i: int) -> Callable[[asyncio.Future[None]], None]:
        return lambda _f: done.append(i)

    for i, f in enumerate(futs):
        f.add_done_callback(record(i))
    await asyncio.gather(*futs)
    runner.cancel()
    assert done == list(range(10))
    assert batches == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]


async def test_failed_commit_is_retried_before_anything_is_released() -> None:
    attempts: list[list[int]] = []
    errors: list[BaseException] = []

    async def flaky(batch: Sequence[int]) -> None:
        attempts.append(list(batch))
        if len(attempts) < 3:
            raise OSError("disk full")

    async def no_wait(_s: float) -> None:
        await asyncio.sleep(0)

    c: OrderedCommitter[int] = OrderedCommitter(flaky, sleep=no_wait, on_error=errors.append)
    runner = asyncio.create_task(c.run())
    f = c.enqueue(1)
    await f
    runner.cancel()
    assert attempts == [[1], [1], [1]]
    assert len(errors) == 2


async def test_cancellation_cancels_uncommitted_futures() -> None:
    gate, entered = asyncio.Event(), asyncio.Event()

    async def blocked(batch: Sequence[int]) -> None:
        entered.set()
        await gate.wait()

    c: OrderedCommitter[int] = OrderedCommitter(blocked)
    runner = asyncio.create_task(c.run())
    first = c.enqueue(1)
    await entered.wait()
    second = c.enqueue(2)  # waits behind the blocked batch
    runner.cancel()
    with pytest.raises(asyncio.CancelledError):
        await runner
    assert first.cancelled()
    assert second.cancelled()
