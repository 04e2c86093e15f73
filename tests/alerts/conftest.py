"""Engines for alerts tests: a fresh SQLite file per test, and (marked `postgres`) a uniquely named PostgreSQL
database created for the session (emptied before each test) and dropped after it; `pg_database` gives a test
its own database (the concurrency test). Browser tests share one headless Chromium (`browser`)."""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import asyncpg  # type: ignore[import-untyped]
import pytest
import pytest_asyncio
from playwright.async_api import Browser, async_playwright, expect
from pytest_asyncio import is_async_test
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from alerts.tables import create_tables, metadata
from core.db import make_engine
from testkit.require import unavailable

from .browser import ARGS, CHROMIUM

PG_DSN = os.environ.get("CWATCH_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres")


async def _pg_database() -> str | None:
    name = f"cwatch_alerts_{uuid.uuid4().hex[:12]}"
    try:
        conn = await asyncpg.connect(PG_DSN, timeout=5)
    except (OSError, asyncpg.PostgresError):
        return None
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    except asyncpg.PostgresError:
        return None  # reachable but not ours to create databases in: the PostgreSQL variants skip
    finally:
        await conn.close()
    return name


async def _drop_pg_database(name: str) -> None:
    conn = await asyncpg.connect(PG_DSN, timeout=5)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()


# what TRUNCATE's RESTART IDENTITY did: ids start again at 1 (every sequence of the tests' own database)
RESTART_SEQUENCES = """DO $$ DECLARE s record; BEGIN
    FOR s IN SELECT schemaname, sequencename FROM pg_sequences WHERE last_value IS NOT NULL LOOP
        EXECUTE format('ALTER SEQUENCE %I.%I RESTART', s.schemaname, s.sequencename);
    END LOOP;
END $$"""


def pg_url(name: str) -> str:
    base = PG_DSN.rsplit("/", 1)[0].replace("postgresql://", "postgresql+asyncpg://")
    return f"{base}/{name}"


@pytest.fixture
async def pg_database() -> AsyncIterator[str]:
    name = await _pg_database()
    if name is None:
        unavailable("PostgreSQL is not reachable")
    try:
        yield name
    finally:
        await _drop_pg_database(name)


@pytest.fixture(scope="session")
def shared_pg_database() -> Iterator[str | None]:
    """One PostgreSQL database for the session (creating one per test is slow); tests empty its tables."""
    name = asyncio.run(_pg_database())
    try:
        yield name
    finally:
        if name is not None:
            asyncio.run(_drop_pg_database(name))


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def engine(
    request: pytest.FixtureRequest, tmp_path: Path, shared_pg_database: str | None
) -> AsyncIterator[AsyncEngine]:
    """One engine per backend, on empty tables; tests using it run on SQLite and on PostgreSQL."""
    if request.param == "sqlite":
        eng = make_engine(f"sqlite+aiosqlite:///{tmp_path / 'alerts.db'}")
    else:
        if shared_pg_database is None:
            unavailable("PostgreSQL is not reachable")
        eng = make_engine(pg_url(shared_pg_database))
    try:
        await create_tables(eng)
        if request.param == "postgres":
            # DELETE, not TRUNCATE: a TRUNCATE of every table made new files for each table and index, 0.4-0.8 s
            # a test here; deleting a test's few rows takes a tenth of that
            async with eng.begin() as conn:
                for table in reversed(metadata.sorted_tables):
                    await conn.execute(table.delete())
                await conn.execute(text(RESTART_SEQUENCES))
        yield eng
    finally:
        await eng.dispose()


@pytest.fixture
async def sqlite_engine(tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    eng = make_engine(f"sqlite+aiosqlite:///{tmp_path / 'alerts.db'}")
    await create_tables(eng)
    try:
        yield eng
    finally:
        await eng.dispose()


@pytest.fixture(autouse=True)
def _browser_deadline(request: pytest.FixtureRequest) -> None:
    """Every browser test's `expect` waits up to 20 s (a deadline for a loaded machine, not a timing). The option
    is global to the process and defaults to 5 s: set by some modules only, it held for the others only when
    one of those happened to run first."""
    if request.node.get_closest_marker("browser") is not None:
        expect.set_options(timeout=20_000)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Tests of the shared Chromium run in the session's event loop, the one it is driven from."""
    for item in items:
        if is_async_test(item) and "browser" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.asyncio(loop_scope="session"), append=False)


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def session_chromium() -> AsyncIterator[Browser]:
    """One headless Chromium for the session: launching it (and Playwright's driver) per test cost ~2 s each."""
    if not Path(CHROMIUM).exists():  # noqa: ASYNC240 - once, before the session's loop runs anything else
        unavailable("chromium is not installed")
    async with async_playwright() as p:
        chromium = await p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            yield chromium
        finally:
            await chromium.close()


@pytest_asyncio.fixture(loop_scope="session")
async def browser(session_chromium: Browser) -> AsyncIterator[Browser]:
    """The shared Chromium; every context the test opened (cookies, storage, pages) is closed after it, so no
    state passes from one test to the next."""
    assert session_chromium.contexts == [], "a browser context was left open by an earlier test"
    try:
        yield session_chromium
    finally:
        for context in session_chromium.contexts:
            await context.close()
