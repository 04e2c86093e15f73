"""Pacing a message stream on a `core.clock.VirtualClock`: real time (speed 1), N times faster, or as fast
as possible (speed None: the clock jumps to each message). Device timestamps were fixed at generation, so
pacing changes when a message is sent, never what it says."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator, Iterable

from core.clock import Clock, VirtualClock
from simulator.message import SimMessage


def make_clock(start: float, speed: float | None) -> VirtualClock:
    """A virtual clock at the scenario's start; `speed=None` means as fast as possible."""
    return VirtualClock(start, speed)


async def paced(messages: Iterable[SimMessage], clock: Clock) -> AsyncIterator[SimMessage]:
    """Yield each message once the clock has reached its time."""
    for m in messages:
        delay = m.ts - clock.now()
        if delay > 0:
            await clock.sleep(delay)
        yield m


async def paced_offloaded(
    messages: Iterable[SimMessage], clock: Clock, chunk: int = 2_000
) -> AsyncIterator[SimMessage]:
    """Like `paced`, but the messages are generated in a worker thread, `chunk` at a time, so a service sharing
    the event loop (the demo) is not stalled while a whole street's generators start (a few seconds)."""
    it = iter(messages)
    while True:
        batch = await asyncio.to_thread(lambda: list(itertools.islice(it, chunk)))
        if not batch:
            return
        async for m in paced(batch, clock):
            yield m
