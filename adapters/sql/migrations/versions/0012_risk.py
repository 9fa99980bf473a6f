"""Risk (docs/risk.md): `risk_flags` (one unresolved flag per user and rule), `risk_blocks` (users an
admin blocked), `risk_payers` (keyed hashes of payers and the users they paid for), and the two
indexes of the risk gate's statement on the purchase path: a user's paid transactions by
completion time and failed or expired sessions by when they ended.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-05
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

USER_ID = sa.String(255)
TIMESTAMP = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "risk_flags",
        sa.Column("id", sa.String(64), nullable=False),
        sa.Column("user_id", USER_ID, nullable=False),
        sa.Column("rule", sa.String(32), nullable=False),
        sa.Column("details", sa.Text, nullable=False),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.Column("resolved_at", TIMESTAMP),
        sa.Column("resolved_by", USER_ID),
        sa.Column("note", sa.Text),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_risk_flags")),
    )
    op.create_index("ix_risk_flags_created", "risk_flags", ["created_at", "id"])
    op.create_index("ix_risk_flags_user", "risk_flags", ["user_id", "created_at"])
    op.create_index("ux_risk_flags_open", "risk_flags", ["user_id", "rule"], unique=True,
                    postgresql_where=sa.text("resolved_at IS NULL"), sqlite_where=sa.text("resolved_at IS NULL"))
    op.create_table(
        "risk_blocks",
        sa.Column("user_id", USER_ID, nullable=False),
        sa.Column("reason", sa.Text),
        sa.Column("blocked_by", USER_ID, nullable=False),
        sa.Column("blocked_at", TIMESTAMP, nullable=False),
        sa.PrimaryKeyConstraint("user_id", name=op.f("pk_risk_blocks")),
    )
    op.create_table(
        "risk_payers",
        sa.Column("payer_hash", sa.String(64), nullable=False),
        sa.Column("user_id", USER_ID, nullable=False),
        sa.Column("last_paid_at", TIMESTAMP, nullable=False),
        sa.PrimaryKeyConstraint("payer_hash", "user_id", name=op.f("pk_risk_payers")),
    )
    op.create_index("ix_membership_transactions_paid_by_user", "membership_transactions",
                    ["user_id", "completed_at"], postgresql_include=["status", "total_minor"],
                    postgresql_where=sa.text("completed_at IS NOT NULL"),
                    sqlite_where=sa.text("completed_at IS NOT NULL"))
    op.create_index("ix_payment_sessions_unpaid_ends", "payment_sessions", ["user_id", "updated_at"],
                    postgresql_where=sa.text("status IN ('failed', 'expired')"),
                    sqlite_where=sa.text("status IN ('failed', 'expired')"))


def downgrade() -> None:
    op.drop_index("ix_payment_sessions_unpaid_ends", table_name="payment_sessions")
    op.drop_index("ix_membership_transactions_paid_by_user", table_name="membership_transactions")
    op.drop_table("risk_payers")
    op.drop_table("risk_blocks")
    op.drop_index("ux_risk_flags_open", table_name="risk_flags")
    op.drop_index("ix_risk_flags_user", table_name="risk_flags")
    op.drop_index("ix_risk_flags_created", table_name="risk_flags")
    op.drop_table("risk_flags")
