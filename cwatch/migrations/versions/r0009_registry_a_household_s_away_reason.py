"""Registry: why a household is away (`away_reason`, required by an import with an `away_until` still ahead;
NULL: none given)."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"


def upgrade() -> None:
    with op.batch_alter_table("devices_households", schema=None) as batch_op:
        batch_op.add_column(sa.Column("away_reason", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("devices_households", schema=None) as batch_op:
        batch_op.drop_column("away_reason")
