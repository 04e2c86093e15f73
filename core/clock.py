"""Time as the service sees it. Everything that reasons about time takes a `Clock`, never `time.time()`,
so long scenarios run in seconds and tests are deterministic."""

from __future__ import annotations

import asyncio
import time
from typing import Protocol


class Clock(Protocol):
    def now(self) -> float:
        """Current time in epoch seconds."""
        ...

    async def sleep(self, seconds: float) -> None:
        """Wait `seconds` of this clock's time."""
        ...


class SystemClock:
    """Wall-clock time."""

    def now(self) -> float:
        return time.time()

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(max(0.0, seconds))


class VirtualClock:
    """Starts at `start` and runs `speed` times faster than the wall clock.

    `speed=None` means as fast as possible: time only moves when someone sleeps, and a sleep returns at once
    after moving the clock forward (single-consumer replay)."""

    def __init__(self, start: float, speed: float | None = 1.0) -> None:
        if speed is not None and speed <= 0:
            raise ValueError("speed must be positive or None")
        self._start = start
        self._speed = speed
        self._wall0 = time.monotonic()
        self._offset = 0.0  # accumulated jumps (as-fast-as-possible mode)

    @property
    def speed(self) -> float | None:
        return self._speed

    def now(self) -> float:
        if self._speed is None:
            return self._start + self._offset
        return self._start + (time.monotonic() - self._wall0) * self._speed

    async def sleep(self, seconds: float) -> None:
        if seconds <= 0:
            await asyncio.sleep(0)
            return
        if self._speed is None:
            self._offset += seconds
            await asyncio.sleep(0)
        else:
            await asyncio.sleep(seconds / self._speed)


class ManualClock:
    """A clock that only moves when told to; for tests."""

    def __init__(self, start: float = 0.0) -> None:
        self._now = start

    def now(self) -> float:
        return self._now

    def set(self, t: float) -> None:
        self._now = t

    def advance(self, seconds: float) -> None:
        self._now += seconds

    async def sleep(self, seconds: float) -> None:
        self._now += max(0.0, seconds)
        await asyncio.sleep(0)
