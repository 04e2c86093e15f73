"""Shared plumbing of the background loops (escalation, notification dispatch): a clock sleep that a stop
request cuts short, so the service shuts down at once instead of after the current interval."""

from __future__ import annotations

import asyncio
import contextlib

from core.clock import Clock


async def sleep_or_stop(clock: Clock, seconds: float, stop: asyncio.Event) -> None:
    """Sleep `seconds` of `clock`, or less if `stop` is set meanwhile."""
    if stop.is_set():
        return
    sleeper = asyncio.ensure_future(clock.sleep(seconds))
    stopper = asyncio.ensure_future(stop.wait())
    try:
        await asyncio.wait({sleeper, stopper}, return_when=asyncio.FIRST_COMPLETED)
        if sleeper.done():
            sleeper.result()  # let the clock's own errors (and cancellation) through
    finally:
        for task in (sleeper, stopper):
            if not task.done():
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
