"""A fresh PostgreSQL database per test: `pg_url` yields an asyncpg SQLAlchemy URL and drops the database after.

The server is the machine's (127.0.0.1:5432, user postgres, trust on loopback; `make test` starts it). Outside CI
an unreachable server skips the test with the reason; under CI (CI=true) it fails, so a missing database can
never turn into a silently green run."""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import Iterator

import pytest

from testkit.require import unavailable

PG_HOST = os.environ.get("CWATCH_TEST_PG_HOST", "127.0.0.1")
PG_PORT = int(os.environ.get("CWATCH_TEST_PG_PORT", "5432"))
PG_USER = os.environ.get("CWATCH_TEST_PG_USER", "postgres")


async def _admin(sql: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(host=PG_HOST, port=PG_PORT, user=PG_USER, database="postgres", timeout=5)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


def _run(sql: str) -> None:
    asyncio.run(_admin(sql))


def create_database() -> str:
    """Create a uniquely named database; returns its name. Skips (or fails under CI) if the server is down."""
    name = f"cwatch_test_{uuid.uuid4().hex[:12]}"
    try:
        _run(f'CREATE DATABASE "{name}"')
    except (TimeoutError, OSError) as e:
        reason = f"PostgreSQL at {PG_HOST}:{PG_PORT} unreachable: {e}"
        unavailable(reason)
    return name


def drop_database(name: str) -> None:
    _run(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def url_for(name: str) -> str:
    return f"postgresql+asyncpg://{PG_USER}@{PG_HOST}:{PG_PORT}/{name}"


@pytest.fixture
def pg_url() -> Iterator[str]:
    name = create_database()
    try:
        yield url_for(name)
    finally:
        drop_database(name)


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request: pytest.FixtureRequest, tmp_path: object) -> Iterator[str]:
    """Run a test once on SQLite and once on PostgreSQL."""
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path}/store.db"
        return
    name = create_database()
    try:
        yield url_for(name)
    finally:
        drop_database(name)
