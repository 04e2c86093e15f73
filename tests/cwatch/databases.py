"""Empty databases of each kind for the wiring tests (a SQLite file, or a PostgreSQL database made and dropped)."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

from testkit.require import unavailable
from tests.alerts.conftest import _drop_pg_database, _pg_database, pg_url


@contextlib.asynccontextmanager
async def empty_database(kind: str, tmp_path: Path) -> AsyncIterator[str]:
    """The URL of an empty database of `kind` ("sqlite" or "postgres"); a PostgreSQL one is dropped after."""
    if kind == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'store.db'}"
        return
    name = await _pg_database()
    if name is None:
        unavailable("PostgreSQL is not reachable")
    try:
        yield pg_url(name)
    finally:
        await _drop_pg_database(name)
