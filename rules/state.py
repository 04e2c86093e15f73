"""Persisted rule state: one snapshot of the engine and its watermark, in the relational store.

The runner saves after every batch it judged and after every sweep, once the alerts of that batch are handed
on. A crash between the hand-off and the save replays the batch after restart (the spool redelivers it): the
same raises come out again with the same dedup keys, which the alerts service folds into the open tickets.
Saving before the hand-off would instead lose alerts. In the service the runner saves every so often instead and
the spool hands again what it judged since (`rules.runner`).

The snapshot is stored compressed (zlib, level 1, in a worker thread, which leaves the event loop free): a
district's is tens of MB, and the database would otherwise write and compress all of it itself. A snapshot
stored uncompressed (a JSON object, from an earlier release) still loads."""

from __future__ import annotations

import asyncio
import time
import zlib

from sqlalchemy import Column, Float, Integer, LargeBinary, MetaData, Table, select, update
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine

from core.db import begin_write
from rules.errors import RuleStateError

metadata = MetaData()

rule_state = Table(
    "rule_state",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("snapshot", LargeBinary, nullable=False),
    Column("watermark", Float, nullable=True),
    Column("saved_at", Float, nullable=False),
)

_ROW = 1


async def create_tables(engine: AsyncEngine) -> None:
    """Create the rule-state table (idempotent) in a scratch database, for tests and benchmarks; the service's
    store gets it from the migrations (`cwatch.migrations`)."""
    try:
        async with begin_write(engine) as conn:
            await conn.run_sync(metadata.create_all)
    except SQLAlchemyError as e:
        raise RuleStateError(f"cannot create rule state tables: {e}") from e


class RuleStateStore:
    """Loads and saves the engine snapshot (SQLite or PostgreSQL through SQLAlchemy Core)."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine

    async def save(self, snapshot: bytes, watermark: float | None) -> None:
        snapshot = await asyncio.to_thread(zlib.compress, snapshot, 1)
        now = time.time()
        try:
            async with begin_write(self.engine) as conn:
                res = await conn.execute(
                    update(rule_state)
                    .where(rule_state.c.id == _ROW)
                    .values(snapshot=snapshot, watermark=watermark, saved_at=now)
                )
                if res.rowcount == 0:
                    await conn.execute(
                        rule_state.insert().values(id=_ROW, snapshot=snapshot, watermark=watermark, saved_at=now)
                    )
        except SQLAlchemyError as e:
            raise RuleStateError(f"cannot save rule state: {e}") from e

    async def load(self) -> tuple[bytes, float | None] | None:
        try:
            async with self.engine.connect() as conn:
                row = (
                    await conn.execute(
                        select(rule_state.c.snapshot, rule_state.c.watermark).where(rule_state.c.id == _ROW)
                    )
                ).first()
        except SQLAlchemyError as e:
            raise RuleStateError(f"cannot load rule state: {e}") from e
        if row is None:
            return None
        data = bytes(row[0])
        if not data.startswith(b"{"):
            try:
                data = await asyncio.to_thread(zlib.decompress, data)
            except zlib.error as e:
                raise RuleStateError(f"rule state snapshot is neither JSON nor zlib: {e}") from None
        return data, (None if row[1] is None else float(row[1]))
