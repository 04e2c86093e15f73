"""Refused messages move from the spool file into the dead letters at least once and are stored once: a store
that is down, a store that commits but fails to say so, a crash between the store and the delete, and the
moving process SIGKILLed at any point (a real subprocess) neither lose a row nor store one twice."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Sequence
from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from core.db import make_engine
from ingest.deadletter import DeadLetterError, DeadLetters, create_tables
from ingest.metrics import IngestMetrics
from ingest.mover import DeadLetterMover
from ingest.refusals import RefusalReason, RefusedMessage
from ingest.spool import Spool
from testkit.services import wait_until

ROOT = Path(__file__).resolve().parents[2]


def refusal(i: int) -> RefusedMessage:
    return RefusedMessage(f"cw/c1/d{i}/telemetry", f"junk {i}".encode(), RefusalReason.MALFORMED_JSON, "bad", float(i))


@pytest.fixture
async def engine(tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    engine = make_engine(f"sqlite+aiosqlite:///{tmp_path / 'store.db'}")
    await create_tables(engine)
    yield engine
    await engine.dispose()


@pytest.fixture
def spool(tmp_path: Path) -> Spool:
    s = Spool(tmp_path / "spool.db")
    s.append([], refused=[refusal(i) for i in range(10)])
    return s


async def payloads(deadletters: DeadLetters) -> list[bytes]:
    return sorted(d.payload for d in await deadletters.list(limit=10_000))


EXPECTED = sorted(f"junk {i}".encode() for i in range(10))


class CrashingSpool:
    """The spool, except that deleting moved rows fails the first `crashes` times (the process died there)."""

    def __init__(self, spool: Spool, crashes: int) -> None:
        self.spool, self.crashes = spool, crashes

    @property
    def spool_id(self) -> str:
        return self.spool.spool_id

    def refused(self, limit: int = 1000, max_bytes: int = 16 * 1024**2) -> list[tuple[int, RefusedMessage]]:
        return self.spool.refused(limit, max_bytes)

    def forget_refused(self, up_to: int) -> None:
        if self.crashes:
            self.crashes -= 1
            raise RuntimeError("killed")
        self.spool.forget_refused(up_to)


async def test_a_crash_between_storing_and_deleting_stores_nothing_twice(engine: AsyncEngine, spool: Spool) -> None:
    deadletters = DeadLetters(engine)
    crashing = DeadLetterMover(CrashingSpool(spool, crashes=1), deadletters, IngestMetrics(), batch=4)
    with pytest.raises(RuntimeError, match="killed"):
        await crashing.move_once()  # rows 1-4 stored, still in the spool
    assert len(spool.refused()) == 10
    successor = DeadLetterMover(spool, deadletters, IngestMetrics(), batch=4)  # after the restart
    while await successor.move_once():
        pass
    assert await payloads(deadletters) == EXPECTED
    assert spool.refused() == []


class LosingStore:
    """Stores, then fails to say so (a connection lost after COMMIT), the first `losses` times; then stores."""

    def __init__(self, real: DeadLetters, losses: int, down: int = 0) -> None:
        self.real, self.losses, self.down = real, losses, down
        self.calls = 0

    async def add_once(self, spool_id: str, numbered: Sequence[tuple[int, RefusedMessage]]) -> int:
        self.calls += 1
        if self.down:
            self.down -= 1
            raise DeadLetterError("store unreachable")
        stored = await self.real.add_once(spool_id, numbered)
        if self.losses:
            self.losses -= 1
            raise DeadLetterError("connection lost")
        return stored


async def run_until_moved(mover: DeadLetterMover, spool: Spool) -> None:
    task = asyncio.create_task(mover.run(asyncio.Event()))
    try:
        deadline = time.monotonic() + 20
        while spool.refused():
            assert time.monotonic() < deadline, "refused rows never moved"
            await asyncio.sleep(0.01)
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


@pytest.mark.parametrize(("losses", "down"), [(0, 3), (2, 0), (1, 2)])
async def test_a_failing_store_is_retried_without_loss_or_duplication(
    engine: AsyncEngine, spool: Spool, losses: int, down: int
) -> None:
    deadletters = DeadLetters(engine)
    store = LosingStore(deadletters, losses, down)
    metrics = IngestMetrics()
    mover = DeadLetterMover(spool, store, metrics, batch=4, retry_initial_s=0.001, retry_max_s=0.01)
    await run_until_moved(mover, spool)
    assert await payloads(deadletters) == EXPECTED
    assert store.calls == 3 + losses + down  # 3 runs of at most 4, and each failure retried
    assert metrics.deadletter_errors._value.get() == 4 * (losses + down)  # each failed attempt's rows


MOVER = """
import asyncio, sys, time
from core.db import make_engine
from ingest.deadletter import DeadLetters, create_tables
from ingest.metrics import IngestMetrics
from ingest.mover import DeadLetterMover
from ingest.spool import Spool

class SlowDisk(Spool):
    def forget_refused(self, up_to):
        time.sleep(0.05)  # a slow delete: the window between storing and deleting, made wide
        super().forget_refused(up_to)

async def main(spool_path, store_url):
    engine = make_engine(store_url)
    await create_tables(engine)
    mover = DeadLetterMover(SlowDisk(spool_path), DeadLetters(engine), IngestMetrics(), batch=7, poll_s=0.01)
    print("moving", flush=True)
    await mover.run(asyncio.Event())

asyncio.run(main(sys.argv[1], sys.argv[2]))
"""


@pytest.mark.slow
def test_refused_rows_survive_the_moving_process_killed_at_any_point(tmp_path: Path) -> None:
    """The ingester's mover in a subprocess, SIGKILLed right after each of six dead-letter commits (mostly in the
    window before it deletes the moved rows from the spool), then once more wherever it is: 300 rows, each stored
    once."""
    spool_path, store = tmp_path / "spool.db", tmp_path / "store.db"
    with Spool(spool_path) as spool:
        spool.append([], refused=[refusal(i) for i in range(300)])
    env = {**os.environ, "PYTHONPATH": str(ROOT)}

    def stored() -> int:
        if not store.exists():
            return 0
        with contextlib.closing(sqlite3.connect(store, timeout=10)) as db:
            try:
                return int(db.execute("SELECT count(*) FROM ingest_dead_letters").fetchone()[0])
            except sqlite3.OperationalError:  # the table is not there yet
                return 0

    def pending() -> tuple[int, int]:
        """(lowest row id still in the spool, highest the dead letters hold); (0, 0) when none."""
        with contextlib.closing(sqlite3.connect(spool_path, timeout=10)) as db:
            low = db.execute("SELECT coalesce(min(id), 0) FROM refused").fetchone()[0]
        with contextlib.closing(sqlite3.connect(store, timeout=10)) as db:
            mark = db.execute("SELECT coalesce(max(stored_up_to), 0) FROM ingest_dead_letter_marks").fetchone()[0]
        return int(low), int(mark)

    in_window = 0
    for kill in range(7):
        proc = subprocess.Popen(
            [sys.executable, "-c", MOVER, str(spool_path), f"sqlite+aiosqlite:///{store}"],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
        )
        try:
            assert proc.stdout is not None
            assert proc.stdout.readline() == b"moving\n"
            if kill < 6:
                before = stored()
                wait_until(lambda before=before: stored() > before, timeout=30, what="a dead-letter commit")
            proc.send_signal(signal.SIGKILL)
        finally:
            proc.kill()
            proc.wait()
        low, mark = pending()
        in_window += 0 < low <= mark  # killed after storing rows it had not yet deleted
    proc = subprocess.Popen([sys.executable, "-c", MOVER, str(spool_path), f"sqlite+aiosqlite:///{store}"], env=env)
    try:
        wait_until(lambda: pending()[0] == 0, timeout=60, what="every refused row moved")
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    with contextlib.closing(sqlite3.connect(store)) as db:
        got = sorted(bytes(p) for (p,) in db.execute("SELECT payload FROM ingest_dead_letters"))
    assert got == sorted(f"junk {i}".encode() for i in range(300))  # each once
    assert in_window >= 1, in_window  # the crash this guards against did happen
