"""The store's schema version and column check (`cwatch.schema`), on SQLite and on PostgreSQL: a database
written by another cwatch stops startup with a message naming what is wrong, instead of a driver error at the
first query that touches a changed table."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

import cwatch.schema as schema
from core.db import make_engine
from cwatch.app import create_all_tables
from cwatch.schema import SchemaError, version_table
from devices.store import load_registry_db, save_registry_db
from tests.cwatch.databases import empty_database
from tests.devices.factory import tiny


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def engine(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    """An empty database of each kind."""
    async with empty_database(request.param, tmp_path) as url:
        eng = make_engine(url)
        try:
            yield eng
        finally:
            await eng.dispose()


async def stored_version(engine: AsyncEngine) -> int:
    async with engine.connect() as conn:
        return int((await conn.execute(sa.select(version_table.c.version))).scalar_one())


async def test_a_new_database_is_stamped_and_opens_again(engine: AsyncEngine) -> None:
    await create_all_tables(engine)
    assert await stored_version(engine) == schema.SCHEMA_VERSION
    await create_all_tables(engine)  # a restart: nothing to do
    assert await stored_version(engine) == schema.SCHEMA_VERSION


async def test_a_database_of_a_newer_cwatch_is_refused(engine: AsyncEngine) -> None:
    await create_all_tables(engine)
    async with engine.begin() as conn:
        await conn.execute(version_table.update().values(version=schema.SCHEMA_VERSION + 1))
    with pytest.raises(SchemaError, match=rf"newer cwatch \(schema version {schema.SCHEMA_VERSION + 1}"):
        await create_all_tables(engine)


async def test_an_older_database_is_migrated_step_by_step(engine: AsyncEngine, monkeypatch: pytest.MonkeyPatch) -> None:
    await create_all_tables(engine)
    ran: list[int] = []

    async def add_note(conn: AsyncConnection) -> None:
        ran.append(2)
        await conn.execute(sa.text("ALTER TABLE ingest_dead_letters ADD COLUMN note TEXT"))

    async def nothing(conn: AsyncConnection) -> None:
        ran.append(3)

    v = schema.SCHEMA_VERSION
    monkeypatch.setattr(schema, "SCHEMA_VERSION", v + 2)
    monkeypatch.setattr(schema, "MIGRATIONS", {v + 1: add_note, v + 2: nothing})
    await create_all_tables(engine)
    assert ran == [2, 3]
    assert await stored_version(engine) == v + 2
    async with engine.connect() as conn:
        cols = await conn.run_sync(lambda c: {x["name"] for x in sa.inspect(c).get_columns("ingest_dead_letters")})
    assert "note" in cols
    await create_all_tables(engine)  # at the current version: no step runs again
    assert ran == [2, 3]


async def test_an_older_database_without_a_migration_is_refused(
    engine: AsyncEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    await create_all_tables(engine)
    v = schema.SCHEMA_VERSION
    monkeypatch.setattr(schema, "SCHEMA_VERSION", v + 1)
    monkeypatch.setattr(schema, "MIGRATIONS", {})
    with pytest.raises(SchemaError, match=f"schema version {v}, and this cwatch has no migration to {v + 1}"):
        await create_all_tables(engine)
    assert await stored_version(engine) == v  # nothing half done


async def test_a_table_lacking_columns_is_named_with_them(engine: AsyncEngine) -> None:
    """An existing table is never changed by `create_all`: one from another version (or edited by hand) is
    found before anything uses it."""
    async with engine.begin() as conn:
        await conn.execute(sa.text("CREATE TABLE ingest_dead_letters (id INTEGER PRIMARY KEY, topic TEXT)"))
    with pytest.raises(SchemaError) as e:
        await create_all_tables(engine)
    message = str(e.value)
    assert "table ingest_dead_letters lacks payload, payload_size, reason, detail, received_at" in message
    assert message.startswith("database ")


async def test_a_version_1_database_gets_the_tables_added_since(engine: AsyncEngine) -> None:
    """The real steps: a database as cwatch 1 left it (stamped 1, without the tables added since) is brought
    up to this version, tables and stamp."""
    from alerts.tables import metadata as alerts_metadata

    await create_all_tables(engine)
    added = ["login_throttle", "audit_log", "household_away"]
    async with engine.begin() as conn:
        for name in added:
            await conn.execute(sa.text(f"DROP TABLE {name}"))
        await conn.execute(version_table.update().values(version=1))
    tables = [t for t in alerts_metadata.sorted_tables if t.name not in added]
    assert await schema.ensure_schema(engine, tables, where="test") == schema.SCHEMA_VERSION
    async with engine.connect() as conn:
        have = await conn.run_sync(lambda c: set(sa.inspect(c).get_table_names()))
    assert set(added) <= have


async def test_a_version_2_database_gets_the_registry_fields_of_version_3(engine: AsyncEngine) -> None:
    """A registry saved by a cwatch of schema version 2 (without building coordinates, e-mail and gateway
    columns) is kept, and the new fields read as their defaults."""
    await create_all_tables(engine)
    reg = tiny()
    await save_registry_db(engine, reg)
    async with engine.begin() as conn:
        for table, column in (
            ("devices_buildings", "lat"),
            ("devices_buildings", "lon"),
            ("devices_people", "email"),
            ("devices_devices", "gateway_id"),
        ):
            await conn.execute(sa.text(f"ALTER TABLE {table} DROP COLUMN {column}"))
        await conn.execute(version_table.update().values(version=2))
    await create_all_tables(engine)
    assert await stored_version(engine) == schema.SCHEMA_VERSION
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

    await create_all_tables(engine)
    async with engine.begin() as conn:  # back to version 4, with two tickets
        await conn.execute(sa.text("DROP TABLE ticket_members"))
        for column in ("verifying", "verify_until", "overdue_since", "overdue_reason"):
            await conn.execute(sa.text(f"ALTER TABLE tickets DROP COLUMN {column}"))
        await conn.execute(version_table.update().values(version=4))
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
    await create_all_tables(engine)
    assert await stored_version(engine) == schema.SCHEMA_VERSION
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
    await create_all_tables(engine)
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
        await conn.execute(version_table.update().values(version=5))
    await create_all_tables(engine)
    assert await stored_version(engine) == schema.SCHEMA_VERSION
    async with engine.connect() as conn:
        have = await conn.run_sync(lambda c: set(sa.inspect(c).get_table_names()))
        lanes = (await conn.execute(sa.text("SELECT lane FROM notification_outbox"))).scalars().all()
    assert {"devices_contacts", "action_links"} <= have
    assert lanes == [""]


async def test_a_version_7_database_gets_the_tickets_nudge_column(engine: AsyncEngine) -> None:
    """Version 8: a ticket's `nudge_at` (escalation policies' reminders); tickets of version 7 keep theirs and
    have no nudge pending."""
    from alerts.service import TicketService
    from core.clock import ManualClock
    from tests.alerts.fakes import FakeHierarchy, alert

    await create_all_tables(engine)
    h = FakeHierarchy()
    [t] = await TicketService(engine, lambda: h, ManualClock(1_000.0)).apply([alert(key="door_held_open:AC1")])
    async with engine.begin() as conn:
        await conn.execute(sa.text("ALTER TABLE tickets DROP COLUMN nudge_at"))
        await conn.execute(version_table.update().values(version=7))
    await create_all_tables(engine)
    assert await stored_version(engine) == schema.SCHEMA_VERSION
    service = TicketService(engine, lambda: h, ManualClock(1_000.0))
    again = await service.store.get(t.id)
    assert again is not None
    assert again.nudge_at is None
    assert again.ack_due_at == t.ack_due_at
