"""Silences: weekly windows (`repeat_days` as ISO weekdays "2,4", `repeat_from` / `repeat_to` as local HH:MM);
all three empty for a single window, which every existing silence is."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"


def upgrade() -> None:
    with op.batch_alter_table("silences", schema=None) as batch_op:
        batch_op.add_column(sa.Column("repeat_days", sa.String(length=32), nullable=True))
        batch_op.add_column(sa.Column("repeat_from", sa.String(length=5), nullable=True))
        batch_op.add_column(sa.Column("repeat_to", sa.String(length=5), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("silences", schema=None) as batch_op:
        batch_op.drop_column("repeat_to")
        batch_op.drop_column("repeat_from")
        batch_op.drop_column("repeat_days")
