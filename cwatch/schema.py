"""The relational store's schema version, and a check that the tables this cwatch uses have every column it
expects.

`create_all` creates missing tables but never changes existing ones. A database written by an older or newer
cwatch would otherwise fail later, at the first query that touches a changed table, with a driver error far
from its cause. Instead startup stops at once and says which table lacks which columns, or which version wrote
the database. A change to the tables bumps `SCHEMA_VERSION` and adds the step that brings a database of the
previous version up to it to `MIGRATIONS`; startup runs the steps a database needs, in order, in one
transaction."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable

import sqlalchemy as sa
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

import alerts.tables as alerts_tables
import devices.store as devices_store
from core.db import begin_write
from cwatch.errors import ServiceError

SCHEMA_VERSION = 8
"""The version of the tables this cwatch creates. 1: the first released schema. 2: `login_throttle` (failed
logins kept across restarts). 3: building coordinates, a person's e-mail address and a device's gateway in the
registry. 4: `audit_log` and `household_away`. 5: `ticket_members` (tickets hold conditions: one ticket per
group of rules), verifying tickets, and since when a ticket is overdue. 6: contact points in the registry, one-tap
`action_links`, and the outbox's per-recipient `lane`. 7: `ticket_photos` (photos attached to tickets). 8: a
ticket's `nudge_at` (escalation policies' reminders and acknowledge timeouts)."""

Migration = Callable[[AsyncConnection], Awaitable[None]]


def _creating(*tables: sa.Table) -> Migration:
    """A step that adds new tables (idempotent: startup's `create_all` may have made them already)."""

    async def step(conn: AsyncConnection) -> None:
        await conn.run_sync(lambda sync: tables[0].metadata.create_all(sync, tables=list(tables), checkfirst=True))

    return step


def _adding(columns: dict[str, list[str]]) -> Migration:
    """A step that adds columns (`name TYPE ...`) to existing tables; a table that startup's `create_all` has
    just made already has them, and one that does not exist is made later with them."""

    def add(conn: Connection) -> None:
        inspector = sa.inspect(conn)
        existing = set(inspector.get_table_names())
        for table, ddls in columns.items():
            if table not in existing:
                continue
            have = {c["name"] for c in inspector.get_columns(table)}
            for ddl in ddls:
                if ddl.split()[0] not in have:
                    conn.execute(sa.text(f"ALTER TABLE {table} ADD COLUMN {ddl}"))

    async def step(conn: AsyncConnection) -> None:
        await conn.run_sync(add)

    return step


def _steps(*steps: Migration) -> Migration:
    """One version's steps, in order."""

    async def step(conn: AsyncConnection) -> None:
        for one in steps:
            await one(conn)

    return step


MIGRATIONS: dict[int, Migration] = {
    2: _creating(alerts_tables.login_throttle),
    3: _adding(
        {
            "devices_buildings": ["lat FLOAT", "lon FLOAT"],
            "devices_people": ["email TEXT NOT NULL DEFAULT ''"],
            "devices_devices": ["gateway_id VARCHAR(64)"],
        }
    ),
    4: _creating(alerts_tables.audit_log, alerts_tables.household_away),
    5: _steps(
        _creating(alerts_tables.ticket_members),
        _adding(
            {
                "tickets": [
                    "verifying BOOLEAN NOT NULL DEFAULT FALSE",
                    "verify_until FLOAT",
                    "overdue_since FLOAT",
                    "overdue_reason VARCHAR(16)",
                ]
            }
        ),
        alerts_tables.tickets_hold_their_own_condition,
    ),
    6: _steps(
        _creating(devices_store.CONTACTS),
        _creating(alerts_tables.action_links),
        _adding({"notification_outbox": ["lane VARCHAR(200) NOT NULL DEFAULT ''"]}),
    ),
    7: _creating(alerts_tables.ticket_photos),
    8: _adding({"tickets": ["nudge_at FLOAT"]}),
}
"""`MIGRATIONS[n]` brings a database of version n - 1 to version n."""

_meta = sa.MetaData()
version_table = sa.Table(
    "cwatch_schema",
    _meta,
    sa.Column("id", sa.Integer, primary_key=True),  # always 1: one row
    sa.Column("version", sa.Integer, nullable=False),
)


class SchemaError(ServiceError):
    """The database's tables do not match this cwatch: written by another version, or changed by hand."""


async def ensure_schema(engine: AsyncEngine, tables: Iterable[sa.Table], where: str) -> int:
    """Stamp a new database with `SCHEMA_VERSION`, bring an older one up to it, refuse a newer one, then check
    that every table in `tables` has every column this code declares. `where` names the database in errors.
    Returns the database's version (after migrating). Raises SchemaError."""
    try:
        return await _ensure(engine, list(tables), where)
    except sa.exc.IntegrityError:
        # another process (several ingesters starting together on PostgreSQL) stamped it meanwhile: read again
        return await _ensure(engine, list(tables), where)


async def _ensure(engine: AsyncEngine, tables: list[sa.Table], where: str) -> int:
    async with begin_write(engine) as conn:
        await conn.run_sync(_meta.create_all)
        found = (await conn.execute(sa.select(version_table.c.version))).scalar_one_or_none()
        if found is None:
            await conn.execute(version_table.insert().values(id=1, version=SCHEMA_VERSION))
            found = SCHEMA_VERSION
        elif found > SCHEMA_VERSION:
            raise SchemaError(
                f"{where}: written by a newer cwatch (schema version {found}; this one knows up to "
                f"{SCHEMA_VERSION}). Run the newer cwatch, or point this one at another database."
            )
        while found < SCHEMA_VERSION:
            step = MIGRATIONS.get(found + 1)
            if step is None:
                raise SchemaError(
                    f"{where}: schema version {found}, and this cwatch has no migration to {found + 1}. "
                    "Upgrade through the releases in between, or start from an empty database."
                )
            await step(conn)
            found += 1
            await conn.execute(version_table.update().values(version=found))
        missing = await conn.run_sync(_missing_columns, tables)
    if missing:
        listed = "; ".join(f"table {t} lacks {', '.join(cols)}" for t, cols in missing)
        raise SchemaError(
            f"{where}: {listed}. These tables were created by another cwatch or changed by hand "
            f"(schema version {found})."
        )
    return found


def _missing_columns(conn: Connection, tables: list[sa.Table]) -> list[tuple[str, list[str]]]:
    inspector = sa.inspect(conn)
    out: list[tuple[str, list[str]]] = []
    for table in tables:
        have = {c["name"] for c in inspector.get_columns(table.name, schema=table.schema)}
        lacking = [c.name for c in table.columns if c.name not in have]
        if lacking:
            out.append((table.name, lacking))
    return out
