"""History filtered by status: a user's rows of one status, newest first, straight from an index
(a heavy user filtering on a rare status otherwise reads most of their history to find a page).

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-27
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_transactions_history_status", "transactions",
                    ["user_id", "status", sa.text("created_at DESC"), sa.text("id DESC")], unique=False)


def downgrade() -> None:
    op.drop_index("ix_transactions_history_status", table_name="transactions")
