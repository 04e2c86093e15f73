"""Databases from before Alembic: cwatch kept its own schema version in `cwatch_schema` (one row), 1 to 8.
Version 7 is the first release's schema, which the baseline revision `0001` equals, and version 8 equals `0002`;
an older one is first brought up to version 7 here with the steps that cwatch ran then, against the frozen release
tables. `cwatch_schema` stays, with `ALEMBIC`: a cwatch from before Alembic refuses such a database as newer than
itself instead of using it."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from cwatch.migrations import release

RELEASE = 7
"""The hand-rolled version of the first release's schema: the baseline revision."""

REVISIONS = {7: "0001", 8: "0002"}
"""The revision each of the last hand-rolled versions equals: a database of one is stamped with it."""

ALEMBIC = 1000
"""What `cwatch_schema` holds once Alembic manages the database: above every hand-rolled version."""

_meta = sa.MetaData()
version_table = sa.Table(
    "cwatch_schema",
    _meta,
    sa.Column("id", sa.Integer, primary_key=True),  # always 1: one row
    sa.Column("version", sa.Integer, nullable=False),
)

_COLUMNS: dict[int, dict[str, list[str]]] = {
    3: {
        "devices_buildings": ["lat FLOAT", "lon FLOAT"],
        "devices_people": ["email TEXT NOT NULL DEFAULT ''"],
        "devices_devices": ["gateway_id VARCHAR(64)"],
    },
    5: {
        "tickets": [
            "verifying BOOLEAN NOT NULL DEFAULT FALSE",
            "verify_until FLOAT",
            "overdue_since FLOAT",
            "overdue_reason VARCHAR(16)",
        ]
    },
    6: {"notification_outbox": ["lane VARCHAR(200) NOT NULL DEFAULT ''"]},
}
"""The columns each version added to tables that existed before it (`name TYPE ...`)."""


def version(conn: Connection) -> int | None:
    """The hand-rolled version, or None when there is no `cwatch_schema` row."""
    if not sa.inspect(conn).has_table(version_table.name):
        return None
    found = conn.execute(sa.select(version_table.c.version)).scalar_one_or_none()
    return None if found is None else int(found)


def bring_up(conn: Connection, found: int) -> None:
    """Bring a database of hand-rolled version `found` (1 to 6) to version 7: the tables added since (as the
    release made them), the columns added since, and the tickets of version 4 holding their own condition."""
    release.metadata.create_all(conn, checkfirst=True)
    inspector = sa.inspect(conn)
    for step in range(found + 1, RELEASE + 1):
        for table, ddls in _COLUMNS.get(step, {}).items():
            have = {c["name"] for c in inspector.get_columns(table)}
            for ddl in ddls:
                if ddl.split()[0] not in have:
                    conn.execute(sa.text(f"ALTER TABLE {table} ADD COLUMN {ddl}"))
        if step == 5:
            _tickets_hold_their_own_condition(conn)


def mark(conn: Connection) -> None:
    """Record in `cwatch_schema` that Alembic manages this database."""
    _meta.create_all(conn, checkfirst=True)
    if conn.execute(sa.update(version_table).values(version=ALEMBIC)).rowcount == 0:
        conn.execute(sa.insert(version_table).values(id=1, version=ALEMBIC))


def _tickets_hold_their_own_condition(conn: Connection) -> None:
    """Version 5 put tickets' conditions in `ticket_members`: every ticket of an older store holds its own dedup
    key (a cleared one as cleared); tickets that already hold conditions are left alone."""
    tickets, members = release.metadata.tables["tickets"], release.metadata.tables["ticket_members"]
    t, m = tickets.c, members.c
    state = sa.case((t.cleared, "cleared"), else_="firing")
    columns = ["ticket_id", "dedup_key", "rule_id", "severity", "severity_rank", "state", "active", "title"]
    columns += ["details", "count", "first_seen", "last_seen", "joined_at"]
    rows = sa.select(t.id, t.dedup_key, t.rule_id, t.severity, t.severity_rank, state, t.active, t.title, t.details)
    rows = rows.add_columns(t.count, t.first_seen, t.last_seen, t.created_at)
    rows = rows.where(~sa.exists().where(m.ticket_id == t.id))
    conn.execute(members.insert().from_select(columns, rows))
