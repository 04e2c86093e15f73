"""The store's migrations (`cwatch.schema`, `cwatch.migrations`), on SQLite and on PostgreSQL: a new database
is brought to the head revision, one of the first release is adopted with its rows, the revisions make exactly
the tables the packages declare (so a change to the tables without its revision fails here), and a database
written by another cwatch stops start-up with a message naming what is wrong, instead of a driver error at the
first query that touches a changed table."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import shutil
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from alembic.script import ScriptDirectory
from sqlalchemy.ext.asyncio import AsyncEngine

import cwatch.migrations
from core.db import make_engine
from cwatch.migrations import SCRIPTS, alembic_config, legacy
from cwatch.schema import SchemaError, current_revisions, differences, ensure_schema, head, new_revision
from cwatch.store import create_all_tables
from devices.store import load_registry_db, save_registry_db
from tests.cwatch.databases import empty_database
from tests.devices.factory import tiny

RELEASE_SQL = Path(__file__).parent / "release"
"""The DDL cwatch ran on an empty database at hand-rolled schema versions 7 (the first release) and 8 (the last
before Alembic), per dialect, with the rows it wrote: `cwatch_schema` and the registry's revision row."""


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def engine(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    """An empty database of each kind."""
    async with empty_database(request.param, tmp_path) as url:
        eng = make_engine(url)
        try:
            yield eng
        finally:
            await eng.dispose()


async def revision(engine: AsyncEngine) -> str | None:
    return (await current_revisions(engine)).current


async def hand_rolled_version(engine: AsyncEngine) -> int | None:
    async with engine.connect() as conn:
        return await conn.run_sync(legacy.version)


async def back_to_hand_rolled(engine: AsyncEngine, version: int) -> None:
    """Make a database look as a cwatch from before Alembic left it at `version` (its tables are the caller's
    business)."""
    async with engine.begin() as conn:
        await conn.execute(sa.text("DROP TABLE IF EXISTS alembic_version"))
        await conn.execute(legacy.version_table.update().values(version=version))


async def release_database(engine: AsyncEngine, version: int) -> None:
    """The tables and rows cwatch made in an empty database at hand-rolled `version` (7 or 8)."""
    ddl = (RELEASE_SQL / f"version{version}-{engine.dialect.name}.sql").read_text()
    async with engine.begin() as conn:
        for statement in filter(None, (s.strip() for s in ddl.split(";"))):
            await conn.execute(sa.text(statement))


async def columns_of(engine: AsyncEngine, table: str) -> set[str]:
    async with engine.connect() as conn:
        return await conn.run_sync(lambda c: {x["name"] for x in sa.inspect(c).get_columns(table)})


async def drift(engine: AsyncEngine) -> list[object]:
    async with engine.connect() as conn:
        return await conn.run_sync(differences)


def test_the_revisions_form_one_chain() -> None:
    """Two engineers who both added revision N leave two heads: caught here, not in production."""
    scripts = ScriptDirectory.from_config(alembic_config())
    assert scripts.get_heads() == [head()]
    assert [r.revision for r in scripts.walk_revisions()][-1] == "0001"


async def test_a_new_database_gets_exactly_the_tables_the_packages_declare(engine: AsyncEngine) -> None:
    """The drift check: a change to any package's tables without a revision that makes it fails here."""
    await create_all_tables(engine)
    assert await revision(engine) == head()
    assert await drift(engine) == []
    assert await hand_rolled_version(engine) == legacy.ALEMBIC  # a cwatch from before Alembic refuses it
    await create_all_tables(engine)  # a restart: nothing to do
    assert await revision(engine) == head()


async def test_a_database_of_a_newer_cwatch_is_refused(engine: AsyncEngine) -> None:
    await create_all_tables(engine)
    async with engine.begin() as conn:
        await conn.execute(sa.text("UPDATE alembic_version SET version_num = '9999'"))
    with pytest.raises(SchemaError, match=r"newer cwatch \(schema revision 9999, unknown to this one"):
        await create_all_tables(engine)
    assert await revision(engine) == "9999"  # left as it was


async def test_a_database_of_a_newer_hand_rolled_version_is_refused(engine: AsyncEngine) -> None:
    await create_all_tables(engine)
    newer = max(legacy.REVISIONS) + 1
    await back_to_hand_rolled(engine, newer)
    with pytest.raises(SchemaError, match=rf"newer cwatch \(schema version {newer};"):
        await create_all_tables(engine)
    assert await revision(engine) is None


async def test_a_table_lacking_columns_is_named_with_them(engine: AsyncEngine) -> None:
    """An existing table is never replaced by the baseline: one made by hand is found before anything uses
    it, and nothing is stamped."""
    async with engine.begin() as conn:
        await conn.execute(sa.text("CREATE TABLE ingest_dead_letters (id INTEGER PRIMARY KEY, topic TEXT)"))
    with pytest.raises(SchemaError) as e:
        await create_all_tables(engine)
    message = str(e.value)
    assert "table ingest_dead_letters lacks payload, payload_size, reason, detail, received_at" in message
    assert message.startswith("database ")
    assert await revision(engine) is None


async def test_a_column_dropped_by_hand_is_named_at_the_next_start(engine: AsyncEngine) -> None:
    """At the head revision, yet a table lacks a column: the revision alone does not vouch for the tables."""
    await create_all_tables(engine)
    async with engine.begin() as conn:
        await conn.execute(sa.text("ALTER TABLE notification_outbox DROP COLUMN lane"))
    with pytest.raises(SchemaError, match=r"table notification_outbox lacks lane\. These tables were created by"):
        await create_all_tables(engine)


async def test_processes_starting_together_migrate_once(engine: AsyncEngine) -> None:
    """Several processes (an ingester and a service) starting on one empty database: one migrates, the others
    wait for it and find the head."""
    others = [make_engine(engine.url.render_as_string(hide_password=False)) for _ in range(2)]
    try:
        done = await asyncio.gather(*(ensure_schema(e, "test") for e in (engine, *others)))
    finally:
        for e in others:
            await e.dispose()
    assert done == [head()] * 3
    assert await drift(engine) == []


# --- a later revision -----------------------------------------------------------------------------------------

NOTE_ON_TICKETS = '''"""Tickets get a note."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "{number}"
down_revision = "{down}"


def upgrade() -> None:
    # SQLite: copy the table even for a column it could add in place (what a type change does)
    copy = "always" if op.get_bind().dialect.name == "sqlite" else "auto"
    with op.batch_alter_table("tickets", recreate=copy) as batch:
        batch.add_column(sa.Column("note", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("tickets") as batch:
        batch.drop_column("note")
'''


def scripts_with_note(tmp_path: Path) -> Path:
    scripts = tmp_path / "migrations"
    shutil.copytree(SCRIPTS, scripts, ignore=shutil.ignore_patterns("__pycache__"))
    number = f"{int(head()) + 1:04d}"
    (scripts / "versions" / f"r{number}_note.py").write_text(NOTE_ON_TICKETS.format(number=number, down=head()))
    return scripts


async def test_a_revision_that_copies_a_table_keeps_the_rows_that_refer_to_it(
    engine: AsyncEngine, tmp_path: Path
) -> None:
    """SQLite changes `tickets` by copying it; its members and events (ON DELETE CASCADE) survive, and the
    revision runs once."""
    await create_all_tables(engine)
    await put_rows(engine)
    scripts = scripts_with_note(tmp_path)
    assert await ensure_schema(engine, "test", scripts, check=False) == head(scripts)
    assert "note" in await columns_of(engine, "tickets")
    await check_rows(engine)
    assert await ensure_schema(engine, "test", scripts, check=False) == head(scripts)  # nothing runs again


def test_new_revision_writes_what_the_tables_gained(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`cwatch db revision`: autogenerate against a scratch database at the head; the revision it writes
    makes the new table, and the database then matches the tables."""
    scripts = tmp_path / "migrations"
    shutil.copytree(SCRIPTS, scripts, ignore=shutil.ignore_patterns("__pycache__"))
    extra = sa.MetaData()
    sa.Table("scratch_notes", extra, sa.Column("id", sa.Integer, primary_key=True), sa.Column("text", sa.Text))
    declared = cwatch.migrations.target_metadata()
    monkeypatch.setattr(cwatch.migrations, "target_metadata", lambda: [*declared, extra])

    path = new_revision("scratch notes", scripts=scripts)
    assert path.name == f"r{int(head()) + 1:04d}_scratch_notes.py"
    assert "op.create_table('scratch_notes'" in path.read_text()

    async def migrate() -> tuple[str, list[object]]:
        engine = make_engine(f"sqlite+aiosqlite:///{tmp_path / 'store.db'}")
        try:
            return await ensure_schema(engine, "test", scripts), await drift(engine)
        finally:
            await engine.dispose()

    assert asyncio.run(migrate()) == (head(scripts), [])


# --- databases from before Alembic ----------------------------------------------------------------------------

ROWS: dict[str, list[dict[str, Any]]] = {
    "devices_streets": [{"pos": 0, "id": "s1", "name": "长街"}],
    "rule_state": [{"id": 1, "snapshot": b"\x00state", "watermark": 5.5, "saved_at": 6.0}],
    "ingest_dead_letters": [
        {
            "id": 1,
            "topic": "t/1",
            "payload": b"{",
            "payload_size": 1,
            "reason": "bad_json",
            "detail": "x",
            "received_at": 1.0,
        }
    ],
    "tickets": [
        {
            "id": 1,
            "dedup_key": "door_held_open:AC1",
            "rule_id": "door_held_open",
            "severity": "minor",
            "severity_rank": 2,
            "status": "open",
            "active": True,
            "title": "门未关",
            "details": "{}",
            "microgrid_id": "M1",
            "escalation_level": 0,
            "count": 1,
            "first_seen": 100.0,
            "last_seen": 100.0,
            "cleared": False,
            "created_at": 100.0,
            "updated_at": 100.0,
            "version": 1,
            "verifying": False,
        }
    ],
    "ticket_members": [
        {
            "id": 1,
            "ticket_id": 1,
            "dedup_key": "door_held_open:AC1",
            "rule_id": "door_held_open",
            "severity": "minor",
            "severity_rank": 2,
            "state": "firing",
            "active": True,
            "title": "门未关",
            "details": "{}",
            "count": 1,
            "first_seen": 100.0,
            "last_seen": 100.0,
            "joined_at": 100.0,
        }
    ],
    "ticket_events": [{"id": 1, "ticket_id": 1, "at": 100.0, "actor": "rules", "action": "opened", "data": "{}"}],
}
"""Rows of the first release's tables: a registry entry, the rule state, a dead letter, and a ticket with its
condition and event (the rows a copy of `tickets` could lose)."""


async def put_rows(engine: AsyncEngine) -> None:
    async with engine.begin() as conn:
        for table, rows in ROWS.items():
            for row in rows:
                names = ", ".join(row)
                values = ", ".join(f":{k}" for k in row)
                await conn.execute(sa.text(f"INSERT INTO {table} ({names}) VALUES ({values})"), row)


async def check_rows(engine: AsyncEngine) -> None:
    async with engine.connect() as conn:
        for table, rows in ROWS.items():
            names = ", ".join(rows[0])
            found = (await conn.execute(sa.text(f"SELECT {names} FROM {table} ORDER BY 1"))).all()
            # PostgreSQL's driver decodes JSON columns; SQLite's hands back their text
            as_text = [tuple(json.dumps(v) if isinstance(v, dict) else v for v in r) for r in found]
            assert as_text == [tuple(r.values()) for r in rows], table


@pytest.mark.parametrize("version", sorted(legacy.REVISIONS))
async def test_a_database_from_before_alembic_is_adopted_with_its_rows(engine: AsyncEngine, version: int) -> None:
    """Made by that cwatch's own DDL (not by this code), with rows in it: stamped with the revision its version
    equals, brought to the head, every row kept, and the tables then match the packages exactly."""
    await release_database(engine, version)
    await put_rows(engine)
    await create_all_tables(engine)
    assert await revision(engine) == head()
    assert await hand_rolled_version(engine) == legacy.ALEMBIC
    await check_rows(engine)
    assert await drift(engine) == []


async def test_a_version_1_database_gets_the_tables_added_since(engine: AsyncEngine) -> None:
    """A database as cwatch's first hand-rolled version left it (without the tables added since) is brought
    up to the release's tables, then to the head."""
    await release_database(engine, 7)
    added = ["login_throttle", "audit_log", "household_away"]
    async with engine.begin() as conn:
        for name in added:
            await conn.execute(sa.text(f"DROP TABLE {name}"))
    await back_to_hand_rolled(engine, 1)
    assert await ensure_schema(engine, where="test") == head()
    async with engine.connect() as conn:
        have = await conn.run_sync(lambda c: set(sa.inspect(c).get_table_names()))
    assert set(added) <= have
    assert await drift(engine) == []


async def test_a_version_2_database_gets_the_registry_fields_of_version_3(engine: AsyncEngine) -> None:
    """A registry saved by a cwatch of schema version 2 (without building coordinates, e-mail and gateway
    columns) is kept, and the new fields read as their defaults."""
    await release_database(engine, 7)
    reg = tiny()
    async with engine.begin() as conn:  # columns of later revisions, so that this cwatch can write its rows
        await conn.execute(sa.text("ALTER TABLE devices_devices ADD COLUMN offline_after_s INTEGER"))
        await conn.execute(sa.text("ALTER TABLE devices_roster ADD COLUMN replaces VARCHAR(64)"))
        await conn.execute(sa.text("ALTER TABLE devices_people ADD COLUMN lang TEXT"))
        await conn.execute(sa.text("ALTER TABLE devices_contacts ADD COLUMN lang TEXT"))
        await conn.execute(sa.text("ALTER TABLE devices_households ADD COLUMN away_reason TEXT"))
    await save_registry_db(engine, reg)
    async with engine.begin() as conn:
        for table, column in (
            ("devices_buildings", "lat"),
            ("devices_buildings", "lon"),
            ("devices_people", "email"),
            ("devices_devices", "gateway_id"),
            ("devices_devices", "offline_after_s"),
            ("devices_roster", "replaces"),
            ("devices_people", "lang"),
            ("devices_contacts", "lang"),
            ("devices_households", "away_reason"),
        ):
            await conn.execute(sa.text(f"ALTER TABLE {table} DROP COLUMN {column}"))
    await back_to_hand_rolled(engine, 2)
    await create_all_tables(engine)
    assert await revision(engine) == head()
    # a column dropped above comes back empty: the reasons of aways were not kept before revision 0009
    households = [
        dataclasses.replace(h, care=dataclasses.replace(h.care, away_reason=None)) for h in reg.households.values()
    ]
    reg = reg.with_changes(households=households)
    assert await load_registry_db(engine) == reg
    b1 = dataclasses.replace(reg.buildings["b1"], lat=30.27, lon=120.15)
    moved = reg.with_changes(buildings=[b1])
    await save_registry_db(engine, moved)
    assert await load_registry_db(engine) == moved


async def test_tickets_of_a_version_4_database_hold_their_own_condition(engine: AsyncEngine) -> None:
    """A database of version 4 (tickets without conditions, verification or overdue columns) is brought up:
    each ticket holds its own dedup key, a cleared one as cleared, and the service carries on with it."""
    from alerts.service import TicketService
    from alerts.tables import ticket_members
    from core.clock import ManualClock
    from rules.alert import AlertAction
    from tests.alerts.fakes import FakeHierarchy, alert

    await release_database(engine, 7)
    async with engine.begin() as conn:  # back to version 4, with two tickets
        await conn.execute(sa.text("DROP TABLE ticket_members"))
        for column in ("verifying", "verify_until", "overdue_since", "overdue_reason"):
            await conn.execute(sa.text(f"ALTER TABLE tickets DROP COLUMN {column}"))
        for i, (key, cleared) in enumerate((("door_held_open:AC1", False), ("gas_leak:GD1", True)), 1):
            await conn.execute(
                sa.text(
                    "INSERT INTO tickets (id, dedup_key, rule_id, severity, severity_rank, status, active, title, "
                    "details, microgrid_id, escalation_level, count, first_seen, last_seen, cleared, created_at, "
                    "updated_at, version) VALUES (:id, :key, :rule, 'minor', 2, 'open', TRUE, 't', '{}', 'M1', 0, "
                    "1, 100, 100, :cleared, 100, 100, 1)"
                ),
                {"id": i, "key": key, "rule": key.split(":")[0], "cleared": cleared},
            )
    await back_to_hand_rolled(engine, 4)
    await create_all_tables(engine)
    assert await revision(engine) == head()
    async with engine.connect() as conn:
        m = ticket_members.c
        rows = (await conn.execute(sa.select(m.ticket_id, m.dedup_key, m.state).order_by(m.ticket_id))).all()
    assert [tuple(r) for r in rows] == [(1, "door_held_open:AC1", "firing"), (2, "gas_leak:GD1", "cleared")]
    h = FakeHierarchy()
    service = TicketService(engine, lambda: h, ManualClock(1_000.0))
    [t] = await service.apply([alert(key="door_held_open:AC1", ts=200)])
    assert (t.id, t.count) == (1, 2)  # the repeat found its ticket through its condition
    [t] = await service.apply([alert(key="door_held_open:AC1", action=AlertAction.CLEAR, ts=300)])
    assert t.cleared


async def test_a_version_5_database_gets_contacts_links_and_outbox_lanes(engine: AsyncEngine) -> None:
    """Version 6: the registry's contact points, one-tap action links and the outbox's lane column; queued
    notifications of version 5 are kept and land in the common lane."""
    await release_database(engine, 7)
    async with engine.begin() as conn:
        await conn.execute(sa.text("DROP TABLE devices_contacts"))
        await conn.execute(sa.text("DROP TABLE action_links"))
        await conn.execute(sa.text("ALTER TABLE notification_outbox DROP COLUMN lane"))
        await conn.execute(
            sa.text(
                "INSERT INTO notification_outbox (delivery_id, channel, ticket_id, payload, attempts, "
                "next_attempt_at, failed, created_at) VALUES ('d1', 'log', 1, '{}', 0, 0, false, 0)"
            )
        )
    await back_to_hand_rolled(engine, 5)
    await create_all_tables(engine)
    assert await revision(engine) == head()
    async with engine.connect() as conn:
        have = await conn.run_sync(lambda c: set(sa.inspect(c).get_table_names()))
        lanes = (await conn.execute(sa.text("SELECT lane FROM notification_outbox"))).scalars().all()
    assert {"devices_contacts", "action_links"} <= have
    assert lanes == [""]


async def test_a_version_7_database_gets_the_tickets_nudge_column(engine: AsyncEngine) -> None:
    """Revision 0002 (hand-rolled version 8): a ticket's `nudge_at` (escalation policies' reminders); tickets
    of version 7 keep theirs and have no nudge pending."""
    from alerts.service import TicketService
    from core.clock import ManualClock
    from tests.alerts.fakes import FakeHierarchy

    await release_database(engine, 7)
    await put_rows(engine)
    await create_all_tables(engine)
    assert await revision(engine) == head()
    h = FakeHierarchy()
    again = await TicketService(engine, lambda: h, ManualClock(1_000.0)).store.get(1)
    assert again is not None
    assert (again.dedup_key, again.nudge_at, again.ack_due_at) == ("door_held_open:AC1", None, None)
