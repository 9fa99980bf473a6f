"""Pending refunds are found by the refund retry job (`list_pending`), through a partial index.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-27
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_payment_refunds_pending", "payment_refunds", ["created_at", "id"], unique=False,
                    postgresql_where=sa.text("status = 'pending'"), sqlite_where=sa.text("status = 'pending'"))


def downgrade() -> None:
    op.drop_index("ix_payment_refunds_pending", table_name="payment_refunds")
