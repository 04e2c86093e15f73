"""Tickets and their conditions: the rule's title per language (`titles`, JSON {zh-CN, en}; NULL: `title` is the
title in every language)."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"


def upgrade() -> None:
    with op.batch_alter_table("ticket_members", schema=None) as batch_op:
        batch_op.add_column(sa.Column("titles", sa.JSON(), nullable=True))
    with op.batch_alter_table("tickets", schema=None) as batch_op:
        batch_op.add_column(sa.Column("titles", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("tickets", schema=None) as batch_op:
        batch_op.drop_column("titles")
    with op.batch_alter_table("ticket_members", schema=None) as batch_op:
        batch_op.drop_column("titles")
