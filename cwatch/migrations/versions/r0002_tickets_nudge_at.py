"""Tickets: when the escalation policy next nudges (`nudge_at`: a reminder while open, the acknowledge timeout
while acknowledged). Hand-rolled schema version 8."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"


def upgrade() -> None:
    with op.batch_alter_table("tickets", schema=None) as batch_op:
        batch_op.add_column(sa.Column("nudge_at", sa.Float(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("tickets", schema=None) as batch_op:
        batch_op.drop_column("nudge_at")
