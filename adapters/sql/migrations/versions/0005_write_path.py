"""Cheaper writes on the purchase → confirmation path.

- `ix_transactions_pending_user` goes: a user's pending transactions are found through
  `ix_transactions_history_status` (user_id, status, …), which every insert maintains anyway.
- PostgreSQL only: rows that are updated soon after they are written (sessions get their payment
  instructions, memberships change with every purchase, idempotency keys get their response)
  leave room on their page (`fillfactor`), so those updates can stay on the page without new
  index entries (HOT updates); a stored response is compressed with lz4 rather than pglz where
  the server supports it (several times cheaper for the same size).

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-27
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

FILLFACTORS = {"payment_sessions": 85, "memberships": 70, "idempotency_keys": 85}
LZ4 = """
DO $$ BEGIN
    ALTER TABLE idempotency_keys ALTER COLUMN response_body SET COMPRESSION lz4;
EXCEPTION WHEN feature_not_supported THEN NULL;  -- a server built without lz4 keeps pglz
END $$
"""


def upgrade() -> None:
    op.drop_index("ix_transactions_pending_user", table_name="transactions")
    if op.get_bind().dialect.name == "postgresql":
        for table, fillfactor in FILLFACTORS.items():
            op.execute(f"ALTER TABLE {table} SET (fillfactor = {fillfactor})")
        op.execute(LZ4)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ALTER TABLE idempotency_keys ALTER COLUMN response_body SET COMPRESSION default")
        for table in FILLFACTORS:
            op.execute(f"ALTER TABLE {table} RESET (fillfactor)")
    op.create_index("ix_transactions_pending_user", "transactions", ["user_id"],
                    postgresql_where=sa.text("status = 'pending'"), sqlite_where=sa.text("status = 'pending'"))
