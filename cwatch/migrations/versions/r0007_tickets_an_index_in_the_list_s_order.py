"""Tickets: an index in the list's order (severity rank, first seen, id), so that a page of `GET /tickets` is read
in order and stops at its limit instead of sorting every ticket in scope (an alert storm leaves thousands)."""

from __future__ import annotations

from alembic import op

revision = "0007"
down_revision = "0006"


def upgrade() -> None:
    with op.batch_alter_table("tickets", schema=None) as batch_op:
        batch_op.create_index("ix_tickets_order", ["severity_rank", "first_seen", "id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("tickets", schema=None) as batch_op:
        batch_op.drop_index("ix_tickets_order")
