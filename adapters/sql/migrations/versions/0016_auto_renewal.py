"""Auto-renewal (issue 17, docs/renewals.md): memberships' auto_renew, renewal method, status, grace and
the renewal job's next look; one renewal per user and period (a unique partial index).

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-05
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0016"
down_revision: str | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TIMESTAMP = sa.DateTime(timezone=True)
RENEWAL = "type = 'plan_renewal'"
CHECK_DUE = "renewal_check_at IS NOT NULL"


def upgrade() -> None:
    for column in (sa.Column("auto_renew", sa.Boolean, nullable=False, server_default=sa.false()),
                   sa.Column("renewal_method_id", sa.String(64)),
                   sa.Column("status", sa.String(32), nullable=False, server_default="active"),
                   sa.Column("grace_until", TIMESTAMP),
                   sa.Column("next_period_paid", sa.Boolean, nullable=False, server_default=sa.false()),
                   sa.Column("renewal_check_at", TIMESTAMP)):
        op.add_column("memberships", column)  # ALTER TABLE … ADD COLUMN: no rebuild of a parent table
    op.create_index("ix_memberships_renewal_check", "memberships", ["renewal_check_at", "user_id"],
                    postgresql_where=sa.text(CHECK_DUE), sqlite_where=sa.text(CHECK_DUE))
    op.add_column("membership_transactions", sa.Column("renewal_period_start", TIMESTAMP))
    op.create_index("ux_membership_transactions_one_renewal", "membership_transactions",
                    ["user_id", "renewal_period_start"], unique=True,
                    postgresql_where=sa.text(RENEWAL), sqlite_where=sa.text(RENEWAL))


def downgrade() -> None:
    # Plain ALTER TABLE … DROP COLUMN (SQLite 3.35+ too), never a batch rebuild: both tables are
    # parents of foreign keys (the ledger, the sessions), which a rebuild's DROP TABLE would break.
    op.drop_index("ux_membership_transactions_one_renewal", table_name="membership_transactions")
    op.drop_column("membership_transactions", "renewal_period_start")
    op.drop_index("ix_memberships_renewal_check", table_name="memberships")
    for column in ("renewal_check_at", "next_period_paid", "grace_until", "status", "renewal_method_id",
                   "auto_renew"):
        op.drop_column("memberships", column)
