"""The outbox's retention (docs/events.md): delivered events are found by when they were delivered,
for the purge of those older than PAYMENTS_EVENTS_RETENTION_DAYS (a partial index: pending rows,
the busy ones, are not in it).

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-05
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0017"
down_revision: str | None = "0016"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

DELIVERED = {"postgresql_where": sa.text("status = 'delivered'"), "sqlite_where": sa.text("status = 'delivered'")}


def upgrade() -> None:
    op.create_index("ix_outbox_events_delivered", "outbox_events", ["delivered_at"], unique=False, **DELIVERED)


def downgrade() -> None:
    op.drop_index("ix_outbox_events_delivered", table_name="outbox_events")
