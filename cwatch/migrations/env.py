"""Alembic's entry point for cwatch: runs the revisions on the connection `cwatch.schema` hands over, inside
its transaction. Batch mode (copy the table, move the rows) lets SQLite make the changes it cannot ALTER, so
one chain serves SQLite and PostgreSQL alike."""

from __future__ import annotations

from alembic import context
from sqlalchemy.engine import Connection

from cwatch.migrations import include_name, target_metadata


def run() -> None:
    connection = context.config.attributes.get("connection")
    if not isinstance(connection, Connection):
        raise RuntimeError("cwatch's migrations run through `cwatch db upgrade` or start-up, which hand a connection")
    context.configure(
        connection=connection,
        target_metadata=target_metadata(),
        render_as_batch=True,
        include_name=include_name,
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


run()
