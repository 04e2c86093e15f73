"""The relational store (tickets, rule state, registry, accounts): SQLite by default, PostgreSQL for
deployments with several processes. Each package declares its own tables on its own `MetaData`; this module
only makes engines that behave the same on both."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    # the driver's own deferred BEGIN is off: `_begin_immediate` starts every transaction instead
    dbapi_conn.isolation_level = None
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=FULL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA busy_timeout=10000")
    cur.close()


def _begin_immediate(conn: Any) -> None:
    """Take SQLite's write lock when a transaction starts. A deferred transaction that reads and then writes
    fails at once with "database is locked" (SQLITE_BUSY_SNAPSHOT, which busy_timeout does not wait out)
    whenever another connection committed in between — the outbox and the escalation loop hit that under a
    fast clock. Immediate transactions queue on the lock instead, for up to busy_timeout."""
    conn.exec_driver_sql("BEGIN IMMEDIATE")


def make_engine(url: str, **kwargs: Any) -> AsyncEngine:
    """An async engine for `url` (`sqlite+aiosqlite:///path` or `postgresql+asyncpg://...`).

    For SQLite the parent folder is created, WAL + synchronous=FULL + busy_timeout are set on every
    connection and every transaction begins IMMEDIATE, so concurrent writers wait instead of failing and
    committed rows survive a crash."""
    u = make_url(url)
    if u.get_backend_name() == "sqlite":
        if u.database and u.database != ":memory:":
            Path(u.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_async_engine(url, **kwargs)
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
        event.listen(engine.sync_engine, "begin", _begin_immediate)
        return engine
    return create_async_engine(url, pool_pre_ping=True, **kwargs)


def is_sqlite(engine: AsyncEngine) -> bool:
    return engine.dialect.name == "sqlite"
