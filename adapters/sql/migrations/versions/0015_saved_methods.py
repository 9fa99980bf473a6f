"""Saved payment methods (issue 17, docs/saved-methods.md): `provider_customers` (each user's
customer at a provider that keeps methods, one per user and provider); payment sessions'
`save_method` (keep the method when the payment succeeds), `method_saved_at` (when that step
ended) and `saved_method_id` (the saved method an off-session charge charged), with the partial
index of the heal step (paid sessions whose method is still to be stored). `payment_methods`
itself exists since the initial schema.

SQLite adds and drops the columns in place (`ALTER TABLE … ADD/DROP COLUMN`), as 0008 does.

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-05
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_AWAITING = "save_method AND method_saved_at IS NULL AND status = 'completed'"
_COLUMNS = ("save_method", "method_saved_at", "saved_method_id")


def upgrade() -> None:
    op.create_table(
        "provider_customers",
        sa.Column("user_id", sa.String(255), nullable=False),
        sa.Column("provider", sa.String(32), nullable=False),
        sa.Column("customer_reference", sa.String(255), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("user_id", "provider", name=op.f("pk_provider_customers")),
    )
    op.add_column("payment_sessions", sa.Column("save_method", sa.Boolean(), nullable=False,
                                                server_default=sa.false()))
    op.add_column("payment_sessions", sa.Column("method_saved_at", sa.DateTime(timezone=True), nullable=True))
    op.add_column("payment_sessions", sa.Column("saved_method_id", sa.String(64), nullable=True))
    op.create_index("ix_payment_sessions_awaiting_method", "payment_sessions", ["completed_at", "id"],
                    postgresql_where=sa.text(_AWAITING), sqlite_where=sa.text(_AWAITING))


def downgrade() -> None:
    op.drop_index("ix_payment_sessions_awaiting_method", table_name="payment_sessions")
    for column in reversed(_COLUMNS):
        if op.get_bind().dialect.name == "sqlite":
            op.execute(f'ALTER TABLE "payment_sessions" DROP COLUMN "{column}"')
        else:
            op.drop_column("payment_sessions", column)
    op.drop_table("provider_customers")
