"""The first release's schema (hand-rolled schema version 7): every table as `cwatch.migrations.release`
freezes it. Tables that exist already are left alone, so a database made by hand or by an older cwatch gets
only the missing ones; start-up's column check then names anything they lack."""

from __future__ import annotations

from alembic import op

from cwatch.migrations import release

revision = "0001"
down_revision = None


def upgrade() -> None:
    release.metadata.create_all(op.get_bind(), checkfirst=True)


def downgrade() -> None:
    release.metadata.drop_all(op.get_bind())
