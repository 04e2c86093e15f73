"""The registry in the relational store (SQLite or PostgreSQL), for a service that runs from the database.

Saving replaces the whole registry in ONE transaction and bumps a revision number in the same transaction, so
other processes poll `registry_revision` (one indexed row) and reload only when it moved. Reading is
optimistic: the revision is read before and after the tables, and a read that raced a save is retried, so a
reader never builds a registry from half an old and half a new save, on either database, without needing a
particular isolation level.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import date, datetime, time
from typing import Any

from sqlalchemy import (
    Boolean,
    Column,
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

from cwatch.db import begin_write
from devices.errors import RegistryStoreError
from devices.model import (
    Building,
    CareProfile,
    Community,
    Contact,
    Device,
    DeviceClass,
    DutyShift,
    Grid,
    Household,
    MicroGrid,
    Person,
    QuietHours,
    Role,
    Street,
)
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

_ID = String(64)


def _table(name: str, *columns: Column[Any]) -> Table:
    # `pos` keeps the input order, which decides the order of look-up results (devices_under ...)
    return Table(f"devices_{name}", METADATA, Column("pos", Integer, primary_key=True, autoincrement=False), *columns)


STREETS = _table("streets", Column("id", _ID, nullable=False, unique=True), Column("name", Text, nullable=False))
COMMUNITIES = _table(
    "communities",
    Column("id", _ID, nullable=False, unique=True),
    Column("name", Text, nullable=False),
    Column("street_id", _ID, nullable=False),
)
GRIDS = _table(
    "grids",
    Column("id", _ID, nullable=False, unique=True),
    Column("name", Text, nullable=False),
    Column("community_id", _ID, nullable=False),
)
MICROGRIDS = _table(
    "microgrids",
    Column("id", _ID, nullable=False, unique=True),
    Column("name", Text, nullable=False),
    Column("grid_id", _ID, nullable=False),
)
BUILDINGS = _table(
    "buildings",
    Column("id", _ID, nullable=False, unique=True),
    Column("name", Text, nullable=False),
    Column("microgrid_id", _ID, nullable=False),
    Column("floors", Integer, nullable=False),
)
HOUSEHOLDS = _table(
    "households",
    Column("id", _ID, nullable=False, unique=True),
    Column("building_id", _ID, nullable=False),
    Column("unit", Text, nullable=False),
    Column("floor", Integer, nullable=False),
    Column("lives_alone", Boolean, nullable=False),
    Column("elderly", Boolean, nullable=False),
    Column("consent", Boolean, nullable=False),
    Column("emergency_contacts", Text, nullable=False),  # JSON [[name, phone, relation], ...]
    Column("quiet_start", String(8)),  # HH:MM:SS
    Column("quiet_end", String(8)),
    Column("away_until", String(40)),  # ISO 8601 with its offset, kept as written
)
PEOPLE = _table(
    "people",
    Column("id", _ID, nullable=False, unique=True),
    Column("name", Text, nullable=False),
    Column("role", String(32), nullable=False),
    Column("scope_id", _ID, nullable=False),
    Column("phone", Text, nullable=False),
)
ROSTER = _table(
    "roster",
    Column("person_id", _ID, nullable=False),
    Column("microgrid_id", _ID, nullable=False, index=True),
    Column("start", String(40), nullable=False),
    Column("end", String(40), nullable=False),
)
DEVICES = _table(
    "devices",
    Column("id", _ID, nullable=False, unique=True),
    Column("device_class", String(32), nullable=False),
    Column("building_id", _ID, nullable=False),
    Column("household_id", _ID),
    Column("expected_interval_s", Integer, nullable=False),
    Column("installed", String(10)),
    Column("label", Text, nullable=False),
)
REVISION = Table(
    "devices_registry_revision",
    METADATA,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("revision", Integer, nullable=False),
)

_TABLES: dict[str, Table] = {
    "streets": STREETS,
    "communities": COMMUNITIES,
    "grids": GRIDS,
    "microgrids": MICROGRIDS,
    "buildings": BUILDINGS,
    "households": HOUSEHOLDS,
    "people": PEOPLE,
    "roster": ROSTER,
    "devices": DEVICES,
}
_READ_ATTEMPTS = 5


async def create_tables(engine: AsyncEngine) -> None:
    """Create the registry tables (idempotent) and the revision row (revision 0: nothing saved yet)."""
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


def _hms(t: time) -> str:
    return t.isoformat(timespec="seconds")


def _rows(reg: Registry) -> dict[str, list[dict[str, Any]]]:
    c = reg.collections()
    rows: dict[str, list[dict[str, Any]]] = {
        "streets": [{"id": x.id, "name": x.name} for x in c.streets],
        "communities": [{"id": x.id, "name": x.name, "street_id": x.street_id} for x in c.communities],
        "grids": [{"id": x.id, "name": x.name, "community_id": x.community_id} for x in c.grids],
        "microgrids": [{"id": x.id, "name": x.name, "grid_id": x.grid_id} for x in c.microgrids],
        "buildings": [
            {"id": x.id, "name": x.name, "microgrid_id": x.microgrid_id, "floors": x.floors} for x in c.buildings
        ],
        "households": [
            {
                "id": h.id,
                "building_id": h.building_id,
                "unit": h.unit,
                "floor": h.floor,
                "lives_alone": h.care.lives_alone,
                "elderly": h.care.elderly,
                "consent": h.care.consent,
                "emergency_contacts": json.dumps(
                    [[k.name, k.phone, k.relation] for k in h.care.emergency_contacts], ensure_ascii=False
                ),
                "quiet_start": _hms(h.care.quiet_hours.start) if h.care.quiet_hours else None,
                "quiet_end": _hms(h.care.quiet_hours.end) if h.care.quiet_hours else None,
                "away_until": h.care.away_until.isoformat() if h.care.away_until else None,
            }
            for h in c.households
        ],
        "people": [
            {"id": p.id, "name": p.name, "role": p.role.value, "scope_id": p.scope_id, "phone": p.phone}
            for p in c.people
        ],
        "roster": [
            {
                "person_id": s.person_id,
                "microgrid_id": s.microgrid_id,
                "start": s.start.isoformat(),
                "end": s.end.isoformat(),
            }
            for s in c.roster
        ],
        "devices": [
            {
                "id": d.id,
                "device_class": d.device_class.value,
                "building_id": d.building_id,
                "household_id": d.household_id,
                "expected_interval_s": d.expected_interval_s,
                "installed": d.installed.isoformat() if d.installed else None,
                "label": d.label,
            }
            for d in c.devices
        ],
    }
    for items in rows.values():
        for pos, row in enumerate(items):
            row["pos"] = pos
    return rows


def _household(r: Row[Any]) -> Household:
    quiet = None
    if r.quiet_start is not None and r.quiet_end is not None:
        quiet = QuietHours(time.fromisoformat(r.quiet_start), time.fromisoformat(r.quiet_end))
    care = CareProfile(
        lives_alone=bool(r.lives_alone),
        elderly=bool(r.elderly),
        consent=bool(r.consent),
        emergency_contacts=tuple(Contact(*k) for k in json.loads(r.emergency_contacts)),
        quiet_hours=quiet,
        away_until=datetime.fromisoformat(r.away_until) if r.away_until else None,
    )
    return Household(r.id, r.building_id, r.unit, r.floor, care)


def _objects(name: str, rows: Sequence[Row[Any]]) -> list[Any]:
    if name == "streets":
        return [Street(r.id, r.name) for r in rows]
    if name == "communities":
        return [Community(r.id, r.name, r.street_id) for r in rows]
    if name == "grids":
        return [Grid(r.id, r.name, r.community_id) for r in rows]
    if name == "microgrids":
        return [MicroGrid(r.id, r.name, r.grid_id) for r in rows]
    if name == "buildings":
        return [Building(r.id, r.name, r.microgrid_id, r.floors) for r in rows]
    if name == "households":
        return [_household(r) for r in rows]
    if name == "people":
        return [Person(r.id, r.name, Role(r.role), r.scope_id, r.phone) for r in rows]
    if name == "roster":
        return [
            DutyShift(r.person_id, r.microgrid_id, datetime.fromisoformat(r.start), datetime.fromisoformat(r.end))
            for r in rows
        ]
    if name == "devices":
        return [
            Device(
                r.id,
                DeviceClass(r.device_class),
                r.building_id,
                r.household_id,
                r.expected_interval_s,
                date.fromisoformat(r.installed) if r.installed else None,
                r.label,
            )
            for r in rows
        ]
    raise AssertionError(name)


# --- operations -----------------------------------------------------------------------------------------------


async def _revision(conn: AsyncConnection) -> int:
    rev = (await conn.execute(select(REVISION.c.revision).where(REVISION.c.id == 1))).scalar_one_or_none()
    if rev is None:
        raise RegistryStoreError("the registry tables exist but the revision row is missing; run create_tables")
    return int(rev)


async def save_registry_db(engine: AsyncEngine, reg: Registry) -> int:
    """Replace the stored registry with `reg` in one transaction; returns the new revision.

    The revision row is updated first: on PostgreSQL its row lock serialises concurrent saves, so the last one
    to commit wins whole and revisions never repeat."""
    rows = _rows(reg)
    try:
        async with begin_write(engine) as conn:
            result = await conn.execute(
                update(REVISION).where(REVISION.c.id == 1).values(revision=REVISION.c.revision + 1)
            )
            if result.rowcount != 1:
                raise RegistryStoreError("the revision row is missing; run create_tables first")
            for name, table in _TABLES.items():
                await conn.execute(delete(table))
                if rows[name]:
                    await conn.execute(insert(table), rows[name])
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
                for name, table in _TABLES.items():
                    result = await conn.execute(select(table).order_by(table.c.pos))
                    data[name] = _objects(name, result.all())
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
