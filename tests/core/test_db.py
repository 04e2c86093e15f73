"""`core.db.make_engine` on SQLite: concurrent read-then-write transactions queue instead of failing."""

from __future__ import annotations

import asyncio
from pathlib import Path

from sqlalchemy import text

from core.db import begin_write, make_engine


async def test_read_then_write_transactions_wait_for_each_other(tmp_path: Path) -> None:
    """`begin_write` transactions take turns. Deferred ones fail here with "database is locked"
    (SQLITE_BUSY_SNAPSHOT: another connection committed between this one's read and its write) or lose updates."""
    engine = make_engine(f"sqlite+aiosqlite:///{tmp_path / 'store.db'}")
    try:
        async with engine.begin() as conn:
            await conn.execute(text("CREATE TABLE counter (id INTEGER PRIMARY KEY, n INTEGER NOT NULL)"))
            await conn.execute(text("INSERT INTO counter VALUES (1, 0)"))

        async def bump() -> None:
            async with begin_write(engine) as conn:
                n = (await conn.execute(text("SELECT n FROM counter WHERE id = 1"))).scalar_one()
                await asyncio.sleep(0)  # let the other transactions run between this read and the write
                await conn.execute(text("UPDATE counter SET n = :n WHERE id = 1"), {"n": n + 1})

        await asyncio.gather(*(bump() for _ in range(12)))
        async with engine.connect() as conn:
            assert (await conn.execute(text("SELECT n FROM counter"))).scalar_one() == 12
    finally:
        await engine.dispose()


async def test_a_reader_does_not_block_a_writer(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite+aiosqlite:///{tmp_path / 'store.db'}")
    try:
        async with begin_write(engine) as conn:
            await conn.execute(text("CREATE TABLE t (n INTEGER)"))
        async with engine.connect() as reader:
            assert (await reader.execute(text("SELECT count(*) FROM t"))).scalar_one() == 0  # read tx is open
            async with begin_write(engine) as writer:  # would wait for busy_timeout if reads took the lock
                await writer.execute(text("INSERT INTO t VALUES (1)"))
            assert (await reader.execute(text("SELECT count(*) FROM t"))).scalar_one() == 0  # its snapshot
        async with engine.connect() as conn:
            assert (await conn.execute(text("SELECT count(*) FROM t"))).scalar_one() == 1
    finally:
        await engine.dispose()
