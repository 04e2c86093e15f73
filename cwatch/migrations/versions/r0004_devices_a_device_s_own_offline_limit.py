"""Devices: a device's own offline limit (`offline_after_s`, seconds of silence; NULL: by its class)."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"


def upgrade() -> None:
    with op.batch_alter_table("devices_devices", schema=None) as batch_op:
        batch_op.add_column(sa.Column("offline_after_s", sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("devices_devices", schema=None) as batch_op:
        batch_op.drop_column("offline_after_s")
