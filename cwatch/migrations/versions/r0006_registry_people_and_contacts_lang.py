"""Registry: the language of a person's and a family member's notices (`lang`, zh-CN or en; NULL: the
deployment's `language` setting)."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"


def upgrade() -> None:
    with op.batch_alter_table("devices_contacts", schema=None) as batch_op:
        batch_op.add_column(sa.Column("lang", sa.Text(), nullable=True))
    with op.batch_alter_table("devices_people", schema=None) as batch_op:
        batch_op.add_column(sa.Column("lang", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("devices_people", schema=None) as batch_op:
        batch_op.drop_column("lang")
    with op.batch_alter_table("devices_contacts", schema=None) as batch_op:
        batch_op.drop_column("lang")
