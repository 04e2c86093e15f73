"""Registry: a roster shift may take over another person's duty (`replaces`: cover for leave, a swap)."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"


def upgrade() -> None:
    with op.batch_alter_table("devices_roster", schema=None) as batch_op:
        batch_op.add_column(sa.Column("replaces", sa.String(length=64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("devices_roster", schema=None) as batch_op:
        batch_op.drop_column("replaces")
