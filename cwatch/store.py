"""Opening the relational store: every package's tables at this release's schema, and the audit rows of a
registry import (the CLI's and the service's): the import, and each household it holds away."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncEngine

from alerts.audit import AuditLog, Who, record, record_many
from alerts.dbguard import translated
from core.clock import Clock, SystemClock
from core.db import begin_write, make_engine
from cwatch.schema import described, ensure_schema
from cwatch.settings import Settings
from devices.registry import Registry
from devices.store import create_tables as devices_tables
from devices.store import registry_revision

IMPORT = "registry.import"  # the audit action of a registry import
IMPORT_AWAY = "registry.away"  # a household the import holds away (`away_until` ahead), with its reason


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


async def audit_registry(
    engine: AsyncEngine,
    actor: str,
    source: str,
    folder: Path,
    reg: Registry,
    *,
    digest: str | None = None,
    revision: int | None = None,
    clock: Clock | None = None,
) -> None:
    """Record a registry import (from `folder`, by `actor` through `source`) in the audit log, with the folder's
    `digest` (`devices.csvio.folder_digest`, taken before reading it) and the `revision` the save made: what
    `imported_unchanged` compares at the next start. Each household the import holds away (its `away_until`
    after the import) gets a row of its own (`registry.away`, target the household, until and reason), in the
    same transaction: who imported the away, and why, is read like an away recorded through the API."""
    details: dict[str, object] = {
        "devices": len(reg.devices),
        "households": len(reg.households),
        "microgrids": len(reg.microgrids),
    }
    if digest is not None and revision is not None:
        details |= {"sha256": digest, "revision": revision}
    now = (clock or SystemClock()).now()
    who = Who(actor, source)
    aways: list[tuple[str, dict[str, object]]] = [
        (h.id, {"until": until.timestamp(), "reason": h.care.away_reason or "", "revision": revision})
        for h in reg.households.values()
        if (until := h.care.away_until) is not None and until.timestamp() > now
    ]
    async with translated(), begin_write(engine) as conn:
        await record(conn, who, IMPORT, str(folder)[-128:], now, details)
        await record_many(conn, who, IMPORT_AWAY, now, aways)


async def imported_unchanged(engine: AsyncEngine, digest: str) -> int | None:
    """The revision of the stored registry if it is the last import recorded, of a folder with this `digest`,
    and no save replaced it since (its revision is the one that import made), else None: a start may then read
    the store instead of reading the folder and writing the same registry back."""
    last = await AuditLog(engine).list(limit=1, action=IMPORT)
    if not last or last[0].action != IMPORT:
        return None
    details = last[0].details
    revision = details.get("revision")
    if details.get("sha256") != digest or not isinstance(revision, int):
        return None
    return revision if revision == await registry_revision(engine) else None
