"""Opening the relational store: every package's tables at this release's schema, and the audit row of a
registry import (the CLI's and the service's)."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncEngine

from alerts.audit import AuditLog, Who
from core.db import make_engine
from cwatch.schema import described, ensure_schema
from cwatch.settings import Settings
from devices.registry import Registry
from devices.store import create_tables as devices_tables


async def create_all_tables(engine: AsyncEngine) -> None:
    """Bring the store to this cwatch's schema (`cwatch.schema`: the Alembic revisions; SchemaError names a newer
    database, or the table and its missing columns), then the registry's revision row."""
    await ensure_schema(engine, where=described(engine))
    await devices_tables(engine)


@contextlib.asynccontextmanager
async def open_store(settings: Settings) -> AsyncIterator[AsyncEngine]:
    """The store of `settings`, at this release's schema, disposed of on leaving."""
    settings.data_path.mkdir(parents=True, exist_ok=True)
    engine = make_engine(settings.store_url)
    try:
        await create_all_tables(engine)
        yield engine
    finally:
        await engine.dispose()


async def audit_registry(engine: AsyncEngine, actor: str, source: str, folder: Path, reg: Registry) -> None:
    """Record a registry import (from `folder`, by `actor` through `source`) in the audit log."""
    counts = {"devices": len(reg.devices), "households": len(reg.households), "microgrids": len(reg.microgrids)}
    await AuditLog(engine).add(Who(actor, source), "registry.import", str(folder)[-128:], counts)
