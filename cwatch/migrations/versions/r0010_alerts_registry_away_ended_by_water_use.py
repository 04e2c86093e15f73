"""Alerts: the registry's away that water use ended (`registry_away_end`): with `away_ends_on_use` the rules end
a household's away from households.csv at its first water use, and the board and `GET .../away` say so (when,
by which reading) instead of showing the registry's away as in force; the registry itself stays as imported."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"


def upgrade() -> None:
    op.create_table(
        "registry_away_end",
        sa.Column("household_id", sa.String(length=64), nullable=False),
        sa.Column("until", sa.Float(), nullable=False),
        sa.Column("used_at", sa.Float(), nullable=False),
        sa.Column("device_id", sa.String(length=64), nullable=True),
        sa.Column("read_at", sa.Float(), nullable=True),
        sa.Column("ended_at", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("household_id"),
    )


def downgrade() -> None:
    op.drop_table("registry_away_end")
