"""The operators' analytics (docs/operations.md, "Analytics"; figures in docs/benchmarks.md): paid
sales by completion time, succeeded refunds by completion time, sessions by the instant they ended
(one partial index per way of ending), every user's transactions newest first, and renewals.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-05
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# As in adapters/sql/tables.py (a migration keeps its own copy: the schema may move on).
PAID_SALE = "status IN ('succeeded', 'partially_refunded', 'refunded')"
SUCCEEDED_REFUND = "status = 'succeeded'"
RENEWAL = "type = 'plan_renewal'"
FAILED_RENEWAL = "type = 'plan_renewal' AND status = 'failed'"
SESSION_PAID = "status IN ('completed', 'refunded')"
SESSION_LAPSED = "status IN ('expired', 'open')"
SESSION_STOPPED = "status IN ('failed', 'cancelled')"
SESSION_LABELS = ["provider", "payment_method", "status", "created_at"]


def upgrade() -> None:
    op.create_index("ix_membership_transactions_sales", "membership_transactions", ["completed_at"],
                    postgresql_include=["total_minor", "currency", "type", "plan_to", "provider", "payment_method"],
                    postgresql_where=sa.text(PAID_SALE), sqlite_where=sa.text(PAID_SALE))
    op.create_index("ix_membership_transactions_created", "membership_transactions",
                    [sa.text("created_at DESC"), sa.text("id DESC")])
    op.create_index("ix_membership_transactions_renewals", "membership_transactions", ["completed_at"],
                    postgresql_include=["status"], postgresql_where=sa.text(RENEWAL), sqlite_where=sa.text(RENEWAL))
    op.create_index("ix_membership_transactions_failed_renewals", "membership_transactions", ["updated_at"],
                    postgresql_where=sa.text(FAILED_RENEWAL), sqlite_where=sa.text(FAILED_RENEWAL))
    op.create_index("ix_payment_refunds_succeeded", "payment_refunds", ["completed_at"],
                    postgresql_include=["amount_minor", "currency", "kind", "transaction_id"],
                    postgresql_where=sa.text(SUCCEEDED_REFUND), sqlite_where=sa.text(SUCCEEDED_REFUND))
    for name, column, condition in (("ix_payment_sessions_paid_at", "completed_at", SESSION_PAID),
                                    ("ix_payment_sessions_lapsed_at", "expires_at", SESSION_LAPSED),
                                    ("ix_payment_sessions_stopped_at", "updated_at", SESSION_STOPPED)):
        op.create_index(name, "payment_sessions", [column], postgresql_include=SESSION_LABELS,
                        postgresql_where=sa.text(condition), sqlite_where=sa.text(condition))


def downgrade() -> None:
    for name in ("ix_payment_sessions_stopped_at", "ix_payment_sessions_lapsed_at", "ix_payment_sessions_paid_at"):
        op.drop_index(name, table_name="payment_sessions")
    op.drop_index("ix_payment_refunds_succeeded", table_name="payment_refunds")
    op.drop_index("ix_membership_transactions_failed_renewals", table_name="membership_transactions")
    op.drop_index("ix_membership_transactions_renewals", table_name="membership_transactions")
    op.drop_index("ix_membership_transactions_created", table_name="membership_transactions")
    op.drop_index("ix_membership_transactions_sales", table_name="membership_transactions")
