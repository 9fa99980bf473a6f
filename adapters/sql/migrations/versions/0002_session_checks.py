"""Payment sessions remember when their provider is next to be asked about them
(`next_check_at`, the reconciler's `list_due_for_check`), with a partial index for that sweep.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-27
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("payment_sessions") as batch:  # SQLite: a table rebuild
        batch.add_column(sa.Column("next_check_at", sa.DateTime(timezone=True), nullable=True))
    op.create_index("ix_payment_sessions_next_check", "payment_sessions", ["next_check_at", "id"], unique=False,
                    postgresql_where=sa.text("next_check_at IS NOT NULL"),
                    sqlite_where=sa.text("next_check_at IS NOT NULL"))


def downgrade() -> None:
    op.drop_index("ix_payment_sessions_next_check", table_name="payment_sessions")
    with op.batch_alter_table("payment_sessions") as batch:
        batch.drop_column("next_check_at")
