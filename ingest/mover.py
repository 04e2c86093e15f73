"""Moves refused messages from the spool file into the dead letters (the relational store), in the ingester.

Whoever refuses something writes it to the spool's `refused` table in the transaction that makes the refusal
final: the ingester when it appends a batch (messages the decoder refused or failed on, acknowledged with the
batch), the telemetry drain when it moves its cursor past points the database refused. This loop stores the
oldest rows as dead letters, then deletes them from the spool. A crash between the two stores them again: the
dead letters keep, per spool, the highest row id they hold, in the transaction of the insert, and skip what
they already have (`ingest.deadletter.DeadLetters.add_once`). So the rows wait in the spool while the store is
down, and each becomes exactly one dead letter.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Awaitable, Callable, Sequence
from typing import Protocol

from ingest.backoff import backoff_delay
from ingest.metrics import IngestMetrics
from ingest.refusals import RefusedMessage

log = logging.getLogger(__name__)


class DeadLetterStore(Protocol):
    """`ingest.deadletter.DeadLetters` as the mover sees it."""

    async def add_once(self, spool_id: str, numbered: Sequence[tuple[int, RefusedMessage]]) -> int: ...


class RefusedRows(Protocol):
    """`ingest.spool.Spool` as the mover sees it."""

    @property
    def spool_id(self) -> str: ...

    def refused(self, limit: int = ..., max_bytes: int = ...) -> list[tuple[int, RefusedMessage]]: ...

    def forget_refused(self, up_to: int) -> None: ...


class DeadLetterMover:
    """Runs until cancelled: moves what is there, then waits for `wake` (set after an append with refusals) or
    `poll_s` (the drain process's refusals come without a word), and retries a failure with capped backoff."""

    def __init__(
        self,
        spool: RefusedRows,
        deadletters: DeadLetterStore,
        metrics: IngestMetrics,
        *,
        poll_s: float = 1.0,
        batch: int = 1_000,
        retry_initial_s: float = 0.5,
        retry_max_s: float = 30.0,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.spool = spool
        self.deadletters = deadletters
        self.metrics = metrics
        self.poll_s = poll_s
        self.batch = batch
        self.retry_initial_s = retry_initial_s
        self.retry_max_s = retry_max_s
        self._sleep = sleep
        self._rng = random.Random()

    async def run(self, wake: asyncio.Event) -> None:
        failures = 0
        while True:
            wake.clear()
            try:
                moved = await self.move_once()
            except Exception as exc:  # the store or the spool file is out of reach for now: the rows wait
                delay = backoff_delay(failures, initial=self.retry_initial_s, cap=self.retry_max_s, rng=self._rng)
                failures += 1
                log.error("could not move refused messages to the dead letters (%s); retrying in %.1fs", exc, delay)
                await self._sleep(delay)
                continue
            failures = 0
            if not moved:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(wake.wait(), self.poll_s)

    async def move_once(self) -> int:
        """Store the oldest refused rows as dead letters, then delete them from the spool; return how many."""
        rows = await asyncio.to_thread(self.spool.refused, self.batch)
        if not rows:
            return 0
        try:
            await self.deadletters.add_once(self.spool.spool_id, rows)
        except Exception:
            self.metrics.deadletter_errors.inc(len(rows))
            raise
        await asyncio.to_thread(self.spool.forget_refused, rows[-1][0])
        return len(rows)
