"""Concurrent raises of one dedup key from two engines (as from two processes) make exactly one ticket."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from alerts.service import TicketService
from alerts.store import TicketStore
from alerts.tables import create_tables, tickets
from core.clock import ManualClock
from core.db import make_engine

from .conftest import pg_url
from .fakes import WORKER_M1, FakeHierarchy, alert

ROUNDS = 10


async def _race(url: str, monkeypatch: pytest.MonkeyPatch) -> int:
    """Returns how many inserts were attempted (more than ROUNDS means the database refused some)."""
    attempts = 0
    real_insert, real_open_many = TicketStore._insert, TicketStore._open_many

    async def counting_insert(self: TicketStore, *args: Any) -> Any:
        nonlocal attempts
        attempts += 1
        return await real_insert(self, *args)

    async def counting_open_many(self: TicketStore, conn: Any, opening: Any, now: float) -> Any:
        nonlocal attempts
        attempts += len(opening)
        return await real_open_many(self, conn, opening, now)

    monkeypatch.setattr(TicketStore, "_insert", counting_insert)
    monkeypatch.setattr(TicketStore, "_open_many", counting_open_many)
    e1, e2 = make_engine(url), make_engine(url)
    try:
        await create_tables(e1)
        h = FakeHierarchy()
        s1 = TicketService(e1, lambda: h, ManualClock(1.0))
        s2 = TicketService(e2, lambda: h, ManualClock(1.0))
        for r in range(ROUNDS):
            key = f"smoke_alarm:race{r}"
            results = await asyncio.gather(
                *(s.apply([alert(key=key, ts=float(i))]) for i in range(4) for s in (s1, s2))
            )
            ids = {t.id for [t] in results}
            assert len(ids) == 1, f"round {r}: {ids}"
        async with e1.connect() as conn:
            rows = (
                await conn.execute(
                    select(tickets.c.dedup_key, func.count(), func.sum(tickets.c.count)).group_by(tickets.c.dedup_key)
                )
            ).all()
        assert len(rows) == ROUNDS
        assert all(n == 1 and total == 8 for _, n, total in rows)
        # concurrent actions on one ticket: exactly one acknowledge wins, the others see the new status
        [t] = await s1.apply([alert(key="ack-race")])
        outcomes = await asyncio.gather(
            s1.acknowledge(t.id, WORKER_M1), s2.acknowledge(t.id, WORKER_M1), return_exceptions=True
        )
        assert sum(not isinstance(o, Exception) for o in outcomes) == 1
        return attempts
    finally:
        await e1.dispose()
        await e2.dispose()


@pytest.mark.postgres
async def test_two_engines_postgres(pg_database: str, monkeypatch: pytest.MonkeyPatch) -> None:
    attempts = await _race(pg_url(pg_database), monkeypatch)
    assert attempts > ROUNDS + 1  # the race really happened: the partial unique index refused duplicates


async def test_two_engines_sqlite(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    await _race(f"sqlite+aiosqlite:///{tmp_path / 'race.db'}", monkeypatch)
