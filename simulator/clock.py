"""Pacing a message stream on a `cwatch.clock.VirtualClock`: real time (speed 1), N times faster, or as fast
as possible (speed None: the clock jumps to each message). Device timestamps were fixed at generation, so
pacing changes when a message is sent, never what it says."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable

from cwatch.clock import Clock, VirtualClock
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
