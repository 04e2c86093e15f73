"""The registry in the relational store (SQLite or PostgreSQL), for a service that runs from the database.

Saving replaces the whole registry in ONE transaction and bumps a revision number in the same transaction, so
other processes poll `registry_revision` (one indexed row) and reload only when it moved. Reading is
optimistic: the revision is read before and after the tables, and a read that raced a save is retried, so a
reader never builds a registry from half an old and half a new save, on either database, without needing a
particular isolation level.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from sqlalchemy import (
    Boolean,
    Column,
    Float,
    Integer,
    MetaData,
    Row,
    String,
    Table,
    Text,
    delete,
    insert,
    select,
    update,
)
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine
from sqlalchemy.types import TypeEngine

from core.db import begin_write
from core.progress import Progress, silent
from devices.errors import RegistryStoreError
from devices.fields import ENTITIES, Entity
from devices.kinds import StoreType
from devices.registry import Registry

__all__ = [
    "METADATA",
    "create_tables",
    "load_registry_db",
    "load_registry_with_revision",
    "registry_revision",
    "save_registry_db",
]

METADATA = MetaData()

# how each kind of store column is kept: dates and times as ISO 8601 text, so an offset stays as written
_SQL: dict[StoreType, TypeEngine[Any]] = {
    "id": String(64),
    "text": Text(),
    "int": Integer(),
    "bool": Boolean(),
    "float": Float(),
    "enum": String(32),
    "time": String(8),  # HH:MM:SS
    "date": String(10),
    "timestamp": String(40),
}


def _table(entity: Entity[Any]) -> Table:
    """The table of `entity`; `pos` keeps the input order, which decides the order of look-up results
    (devices_under ...)."""
    columns: list[Column[Any]] = [Column("pos", Integer, primary_key=True, autoincrement=False)]
    for f in entity.fields:
        for name, kind in zip(f.store, f.kind.store, strict=True):
            columns.append(
                Column(name, _SQL[kind], nullable=f.nullable, unique=f.attr == "id" or None, index=f.index or None)
            )
    return Table(f"devices_{entity.name}", METADATA, *columns)


_TABLES: dict[str, Table] = {e.name: _table(e) for e in ENTITIES}
STREETS = _TABLES["streets"]
COMMUNITIES = _TABLES["communities"]
GRIDS = _TABLES["grids"]
MICROGRIDS = _TABLES["microgrids"]
BUILDINGS = _TABLES["buildings"]
HOUSEHOLDS = _TABLES["households"]
PEOPLE = _TABLES["people"]
ROSTER = _TABLES["roster"]
DEVICES = _TABLES["devices"]
CONTACTS = _TABLES["contacts"]
REVISION = Table(
    "devices_registry_revision",
    METADATA,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("revision", Integer, nullable=False),
)

_READ_ATTEMPTS = 5


async def create_tables(engine: AsyncEngine) -> None:
    """Create the registry tables (idempotent) and the revision row (revision 0: nothing saved yet). In the
    service's store the migrations (`cwatch.migrations`) have made the tables already; the row is still added."""
    try:
        async with begin_write(engine) as conn:
            await conn.run_sync(METADATA.create_all)
            have = (await conn.execute(select(REVISION.c.revision).where(REVISION.c.id == 1))).first()
            if have is None:
                await conn.execute(insert(REVISION).values(id=1, revision=0))
    except SQLAlchemyError as e:
        raise RegistryStoreError(f"cannot create the registry tables: {e}") from e
    except OSError as e:
        raise RegistryStoreError(f"database unreachable: {e}") from e


# --- rows ----------------------------------------------------------------------------------------------------


def _rows(reg: Registry) -> dict[str, list[dict[str, Any]]]:
    c = reg.collections()
    rows: dict[str, list[dict[str, Any]]] = {}
    for entity in ENTITIES:
        out: list[dict[str, Any]] = []
        for pos, item in enumerate(getattr(c, entity.name)):
            row: dict[str, Any] = {"pos": pos}
            for f, value in zip(entity.fields, entity.values(item), strict=True):
                if f.kind.dump is None:
                    row[f.store[0]] = value
                elif value is None:
                    row.update(dict.fromkeys(f.store))
                else:
                    row.update(zip(f.store, f.kind.dump(value), strict=True))
            out.append(row)
        rows[entity.name] = out
    return rows


def _objects(entity: Entity[Any], rows: Sequence[Row[Any]]) -> list[Any]:
    """Items from rows of `select(table)`: `pos`, then each field's store columns in field order."""
    steps: list[tuple[int, int, Callable[[tuple[Any, ...]], Any] | None, bool]] = []
    at = 1
    for f in entity.fields:
        steps.append((at, at + len(f.store), f.kind.load, f.nullable))
        at += len(f.store)
    out = []
    for r in rows:
        values = []
        for start, end, load, nullable in steps:
            if load is None:
                values.append(r[start])
            else:
                stored = tuple(r[start:end])
                values.append(None if nullable and None in stored else load(stored))
        out.append(entity.build(values))
    return out


# --- operations -----------------------------------------------------------------------------------------------


async def _revision(conn: AsyncConnection) -> int:
    rev = (await conn.execute(select(REVISION.c.revision).where(REVISION.c.id == 1))).scalar_one_or_none()
    if rev is None:
        raise RegistryStoreError("the registry tables exist but the revision row is missing; run create_tables")
    return int(rev)


#: Rows per INSERT statement while saving: progress is reported between them.
_CHUNK = 10_000


async def save_registry_db(engine: AsyncEngine, reg: Registry, progress: Progress = silent) -> int:
    """Replace the stored registry with `reg` in one transaction; returns the new revision. `progress` hears
    ("save", rows written, rows in all).

    The revision row is updated first: on PostgreSQL its row lock serialises concurrent saves, so the last one
    to commit wins whole and revisions never repeat."""
    rows = _rows(reg)
    total = sum(len(r) for r in rows.values())
    done = 0
    progress("save", 0, total)
    try:
        async with begin_write(engine) as conn:
            result = await conn.execute(
                update(REVISION).where(REVISION.c.id == 1).values(revision=REVISION.c.revision + 1)
            )
            if result.rowcount != 1:
                raise RegistryStoreError("the revision row is missing; run create_tables first")
            for name, table in _TABLES.items():
                await conn.execute(delete(table))
                for start in range(0, len(rows[name]), _CHUNK):
                    chunk = rows[name][start : start + _CHUNK]
                    await conn.execute(insert(table), chunk)
                    done += len(chunk)
                    progress("save", done, total)
            return await _revision(conn)
    except SQLAlchemyError as e:
        raise RegistryStoreError(f"cannot save the registry: {e}") from e
    except OSError as e:
        raise RegistryStoreError(f"database unreachable: {e}") from e


async def registry_revision(engine: AsyncEngine) -> int:
    """The revision of the stored registry: 0 before the first save, bumped by every save."""
    try:
        async with engine.connect() as conn:
            return await _revision(conn)
    except SQLAlchemyError as e:
        raise RegistryStoreError(f"cannot read the registry revision: {e}") from e
    except OSError as e:
        raise RegistryStoreError(f"database unreachable: {e}") from e


async def load_registry_with_revision(engine: AsyncEngine) -> tuple[int, Registry | None]:
    """The stored registry and the revision it belongs to; `(0, None)` before the first save.

    Raises `RegistryError` (with table names and row positions) if the stored rows are inconsistent, e.g. after
    hand edits, and `RegistryStoreError` when the database fails or saves keep racing the read."""
    try:
        async with engine.connect() as conn:
            for _ in range(_READ_ATTEMPTS):
                before = await _revision(conn)
                if before == 0:
                    return 0, None
                data: dict[str, list[Any]] = {}
                for entity in ENTITIES:
                    table = _TABLES[entity.name]
                    result = await conn.execute(select(table).order_by(table.c.pos))
                    data[entity.name] = _objects(entity, result.all())
                # end the implicit transaction so the next read sees what committed meanwhile
                await conn.commit()
                if await _revision(conn) == before:
                    await conn.commit()

                    def locate(collection: str, index: int) -> tuple[str, int]:
                        return f"devices_{collection}", index

                    return before, Registry(**data, locate=locate)
                await conn.commit()
    except (SQLAlchemyError, ValueError, TypeError) as e:  # ValueError/TypeError: malformed stored values
        raise RegistryStoreError(f"cannot load the registry: {e}") from e
    except OSError as e:
        raise RegistryStoreError(f"database unreachable: {e}") from e
    raise RegistryStoreError(f"the registry changed during {_READ_ATTEMPTS} reads in a row; try again")


async def load_registry_db(engine: AsyncEngine) -> Registry | None:
    """The stored registry, or None before the first save."""
    _, reg = await load_registry_with_revision(engine)
    return reg
