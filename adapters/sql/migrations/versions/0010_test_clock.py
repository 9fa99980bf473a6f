"""The test clock's offset (development and tests only): `test_clock`, at most one row, how many
seconds business time runs ahead of real time for every process of the service (docs/test-clock.md).
Nothing is inserted: a database whose clock was never moved has no row and reads 0.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-05
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "test_clock",
        sa.Column("id", sa.SmallInteger, autoincrement=False, nullable=False),
        sa.Column("offset_seconds", sa.BigInteger, nullable=False),
        sa.CheckConstraint("id = 1", name=op.f("ck_test_clock_one_row")),
        sa.CheckConstraint("offset_seconds >= 0", name=op.f("ck_test_clock_offset_not_negative")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_test_clock")),
    )


def downgrade() -> None:
    op.drop_table("test_clock")
