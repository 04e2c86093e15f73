"""Brings the relational store to the schema this cwatch uses, through the Alembic revisions in
`cwatch.migrations`, and refuses a database it cannot use with a message naming what is wrong.

Start-up (and `cwatch db upgrade`) runs, in one transaction: a database of a newer cwatch (a revision this one
does not know) is refused; one from before Alembic (`cwatch_schema`) is brought to the baseline and stamped;
the revisions it lacks run in order; then every table must have every column the packages declare, so a table
changed by hand stops start-up there and then instead of failing later, at the first query that touches it,
with a driver error far from its cause."""

from __future__ import annotations

import asyncio
import tempfile
from dataclasses import dataclass
from pathlib import Path

import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.script.revision import RevisionError
from alembic.util import CommandError
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

from core.db import WRITE, make_engine
from cwatch import migrations
from cwatch.errors import ServiceError
from cwatch.migrations import SCRIPTS, alembic_config, include_name, legacy

_LOCK = 0x63776174  # PostgreSQL advisory lock: one process migrates at a time


class SchemaError(ServiceError):
    """The database's tables do not match this cwatch: written by another version, or changed by hand."""


@dataclass(frozen=True)
class Revisions:
    """Where a database stands: its revision (None before the first), this cwatch's head, and whether this
    cwatch knows the database's revision (a newer cwatch wrote it, else)."""

    current: str | None
    head: str
    known: bool = True

    @property
    def up_to_date(self) -> bool:
        return self.current == self.head


def described(engine: AsyncEngine) -> str:
    """The database for error messages, without a password."""
    return f"database {engine.url.render_as_string(hide_password=True)}"


def head(scripts: Path = SCRIPTS) -> str:
    """The newest revision this cwatch knows."""
    found = ScriptDirectory.from_config(alembic_config(scripts=scripts)).get_current_head()
    if found is None:
        raise SchemaError(f"{scripts}: no revisions")
    return found


async def ensure_schema(engine: AsyncEngine, where: str, scripts: Path = SCRIPTS, *, check: bool = True) -> str:
    """Migrate the database to the head revision, or refuse it: written by a newer cwatch, or (unless `check`
    is off) a table lacking columns. `where` names the database in errors. Returns the revision. Raises
    SchemaError."""
    async with engine.connect() as conn:
        return await conn.run_sync(_in_one_transaction, where, scripts, check)


async def current_revisions(engine: AsyncEngine, scripts: Path = SCRIPTS) -> Revisions:
    """Where the database stands, without changing it; a database from before Alembic reads as None."""
    async with engine.connect() as conn:
        current = await conn.run_sync(lambda c: MigrationContext.configure(c).get_current_revision())
    return Revisions(current, head(scripts), current is None or _known(current, alembic_config(scripts=scripts)))


def _known(revision: str, cfg: Config) -> bool:
    try:
        ScriptDirectory.from_config(cfg).get_revision(revision)
    except (RevisionError, CommandError):
        return False
    return True


def _in_one_transaction(conn: Connection, where: str, scripts: Path, check: bool) -> str:
    # SQLite changes a table by copying it: with foreign keys on, dropping the old `tickets` would delete its
    # members, events and photos (ON DELETE CASCADE). The pragma only takes outside a transaction; the keys are
    # checked before commit instead.
    sqlite = conn.dialect.name == "sqlite"
    if sqlite:
        _pragma(conn, "PRAGMA foreign_keys=OFF")
    try:
        with conn.execution_options(**{WRITE: True}).begin():
            if conn.dialect.name == "postgresql":
                conn.execute(sa.select(sa.func.pg_advisory_xact_lock(_LOCK)))
            revision = _migrate(conn, where, scripts, check)
            if sqlite and (broken := conn.exec_driver_sql("PRAGMA foreign_key_check").all()):
                raise SchemaError(f"{where}: rows refer to missing rows after migrating: {broken[:5]}")
        return revision
    finally:
        if sqlite:
            _pragma(conn, "PRAGMA foreign_keys=ON")


def _pragma(conn: Connection, sql: str) -> None:
    cursor = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
    try:
        cursor.execute(sql)
    finally:
        cursor.close()


def _migrate(conn: Connection, where: str, scripts: Path, check: bool) -> str:
    cfg = alembic_config(conn, scripts)
    newest = head(scripts)
    current = MigrationContext.configure(conn).get_current_revision()
    if current is not None:
        if not _known(current, cfg):
            raise SchemaError(
                f"{where}: written by a newer cwatch (schema revision {current}, unknown to this one, which knows "
                f"up to {newest}). Run the newer cwatch, or point this one at another database."
            )
    else:
        found = legacy.version(conn)
        if found is not None:
            _adopt(conn, cfg, found, where)
    command.upgrade(cfg, "head")
    legacy.mark(conn)
    if check:
        _refuse_missing_columns(conn, where)
    return newest


def _adopt(conn: Connection, cfg: Config, found: int, where: str) -> None:
    """A database from before Alembic: bring an older one to the release schema, then stamp the revision its
    version equals."""
    last = max(legacy.REVISIONS)
    if found > last:
        raise SchemaError(
            f"{where}: written by a newer cwatch (schema version {found}; this one knows up to {last} "
            "and Alembic revisions). Run the newer cwatch, or point this one at another database."
        )
    if found < 1:
        raise SchemaError(
            f"{where}: schema version {found}, and this cwatch has no migration from it. Start from an empty database."
        )
    if found < legacy.RELEASE:
        legacy.bring_up(conn, found)
    command.stamp(cfg, legacy.REVISIONS[max(found, legacy.RELEASE)])


def _refuse_missing_columns(conn: Connection, where: str) -> None:
    inspector = sa.inspect(conn)
    missing: list[tuple[str, list[str]]] = []
    for metadata in migrations.target_metadata():
        for table in metadata.sorted_tables:
            have = {c["name"] for c in inspector.get_columns(table.name, schema=table.schema)}
            lacking = [c.name for c in table.columns if c.name not in have]
            if lacking:
                missing.append((table.name, lacking))
    if missing:
        listed = "; ".join(f"table {t} lacks {', '.join(cols)}" for t, cols in missing)
        raise SchemaError(f"{where}: {listed}. These tables were created by another cwatch or changed by hand.")


def differences(conn: Connection) -> list[object]:
    """What autogenerate finds between the database and the packages' tables: empty when the revisions made
    exactly what the code declares."""
    context = MigrationContext.configure(
        conn, opts={"include_name": include_name, "compare_type": True, "render_as_batch": True}
    )
    return list(compare_metadata(context, migrations.target_metadata()))  # type: ignore[arg-type]  # a list is supported


def new_revision(message: str, *, autogenerate: bool = True, scripts: Path = SCRIPTS) -> Path:
    """Write the next revision (`rNNNN_message.py`): by autogenerate, what the packages' tables have that a
    scratch SQLite database at the head revision lacks; or an empty one to fill in by hand. Returns its path."""
    number = f"{int(head(scripts)) + 1:04d}"

    async def write(url: str) -> Path:
        engine = make_engine(url)
        try:
            await ensure_schema(engine, "scratch database", scripts, check=False)
            async with engine.connect() as conn:
                return await conn.run_sync(_write_revision, message, number, autogenerate, scripts)
        finally:
            await engine.dispose()

    with tempfile.TemporaryDirectory() as scratch:
        return asyncio.run(write(f"sqlite+aiosqlite:///{scratch}/scratch.db"))


def _write_revision(conn: Connection, message: str, number: str, autogenerate: bool, scripts: Path) -> Path:
    script = command.revision(alembic_config(conn, scripts), message, autogenerate=autogenerate, rev_id=number)
    if script is None or isinstance(script, list):
        raise SchemaError(f"alembic wrote no single revision for {message!r}")
    return Path(script.path)
