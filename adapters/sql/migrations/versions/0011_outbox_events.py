"""Events to the main backend: `outbox_events`, written in the transaction of the change each
reports and delivered by the dispatchers (docs/events.md).

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-05
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TIMESTAMP = sa.DateTime(timezone=True)
PENDING = {"postgresql_where": sa.text("status = 'pending'"), "sqlite_where": sa.text("status = 'pending'")}


def upgrade() -> None:
    op.create_table(
        "outbox_events",
        sa.Column("sequence", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True,
                  nullable=False),
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("user_id", sa.String(length=255), nullable=False),
        sa.Column("type", sa.String(length=64), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("status", sa.String(length=32), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.Column("next_attempt_at", TIMESTAMP, nullable=False),
        sa.Column("give_up_at", TIMESTAMP, nullable=False),
        sa.Column("delivered_at", TIMESTAMP, nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("claim_token", sa.String(length=64), nullable=True),
        sa.Column("claimed_until", TIMESTAMP, nullable=True),
        sa.PrimaryKeyConstraint("sequence", name=op.f("pk_outbox_events")),
        sa.UniqueConstraint("id", name=op.f("uq_outbox_events_id")),
    )
    op.create_index("ix_outbox_events_due", "outbox_events", ["next_attempt_at", "sequence"], unique=False, **PENDING)
    op.create_index("ix_outbox_events_user_pending", "outbox_events", ["user_id", "sequence"], unique=False,
                    **PENDING)
    op.create_index("ix_outbox_events_status", "outbox_events", ["status", "sequence"], unique=False)


def downgrade() -> None:
    op.drop_table("outbox_events")
