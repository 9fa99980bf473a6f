"""Payment sessions keep the flow the payer asked for (`qr_code`, `redirect`, `mobile_redirect`),
so that every opening of a session's provider order (a retry, the reconciler) asks for the same
one. Sessions stored before have none (NULL): their orders take the method's first flow, as
they did when they were opened.

SQLite adds and drops the column in place (`ALTER TABLE … ADD/DROP COLUMN`, SQLite 3.35+), never
by rebuilding the table, which the refunds' foreign key to the sessions would not survive.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-05
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("payment_sessions", sa.Column("flow", sa.String(32), nullable=True))


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        op.execute('ALTER TABLE "payment_sessions" DROP COLUMN "flow"')
        return
    op.drop_column("payment_sessions", "flow")
