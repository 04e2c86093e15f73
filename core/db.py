"""The relational store (tickets, rule state, registry, accounts): SQLite by default, PostgreSQL for
deployments with several processes. Each package declares its own tables on its own `MetaData`; this module
only makes engines that behave the same on both."""

from __future__ import annotations

import weakref
from contextlib import AbstractAsyncContextManager
from pathlib import Path
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    # the driver's own implicit BEGIN is off: `_begin` starts every transaction instead
    dbapi_conn.isolation_level = None
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=FULL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA busy_timeout=10000")
    cur.close()


WRITE = "cwatch_write"  # execution option: this transaction will write


def _begin(conn: Any) -> None:
    """Start SQLite transactions ourselves (the driver's implicit BEGIN is off): IMMEDIATE for the ones opened
    with `begin_write`, so they take the write lock at once and queue on it (for up to busy_timeout). A deferred
    transaction that reads and then writes fails at once with "database is locked" (SQLITE_BUSY_SNAPSHOT, which
    busy_timeout does not wait out) whenever another connection committed in between — the outbox and the
    escalation loop hit that under a fast clock. Reads stay deferred, so they never block writers (WAL)."""
    immediate = conn.get_execution_options().get(WRITE, False)
    conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


_writers: weakref.WeakKeyDictionary[AsyncEngine, AsyncEngine] = weakref.WeakKeyDictionary()


def begin_write(engine: AsyncEngine) -> AbstractAsyncContextManager[AsyncConnection]:
    """`engine.begin()` for a transaction that writes: on SQLite it holds the write lock from its start."""
    if engine.dialect.name != "sqlite":
        return engine.begin()
    writer = _writers.get(engine)
    if writer is None:
        writer = _writers[engine] = engine.execution_options(**{WRITE: True})
    return writer.begin()


def make_engine(url: str, **kwargs: Any) -> AsyncEngine:
    """An async engine for `url` (`sqlite+aiosqlite:///path` or `postgresql+asyncpg://...`).

    For SQLite the parent folder is created, WAL + synchronous=FULL + busy_timeout are set on every
    connection and transactions opened with `begin_write` begin IMMEDIATE, so concurrent writers wait
    instead of failing and committed rows survive a crash."""
    u = make_url(url)
    if u.get_backend_name() == "sqlite":
        if u.database and u.database != ":memory:":
            Path(u.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_async_engine(url, **kwargs)
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
        event.listen(engine.sync_engine, "begin", _begin)
        return engine
    return create_async_engine(url, pool_pre_ping=True, **kwargs)


def is_sqlite(engine: AsyncEngine) -> bool:
    return engine.dialect.name == "sqlite"
