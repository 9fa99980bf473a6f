"""Pending refunds are followed up at their own `next_attempt_at` (backing off), claimed with
`FOR UPDATE SKIP LOCKED` through a partial index, instead of every worker re-sending every
pending refund every minute.

The pending refunds already stored are due at once (`next_attempt_at = created_at`); the first
follow-up schedules the next one.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-04
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("payment_refunds") as batch:
        batch.add_column(sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=True))
    op.execute("UPDATE payment_refunds SET next_attempt_at = created_at WHERE status = 'pending'")
    op.create_index("ix_payment_refunds_follow_up", "payment_refunds", ["next_attempt_at", "id"], unique=False,
                    postgresql_where=sa.text("status = 'pending'"), sqlite_where=sa.text("status = 'pending'"))


def downgrade() -> None:
    op.drop_index("ix_payment_refunds_follow_up", table_name="payment_refunds")
    with op.batch_alter_table("payment_refunds") as batch:
        batch.drop_column("next_attempt_at")
