"""Price experiments (issue 21, docs/experiments.md): experiments (their variants a JSON array; at
most one `running`, by a partial unique index), each user's assignment stored once at first
exposure, and the variant that priced a transaction (`membership_transactions.price_variant`).

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-05
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TIMESTAMP = sa.DateTime(timezone=True)
RUNNING = "status = 'running'"


def upgrade() -> None:
    op.create_table(
        "price_experiments",
        sa.Column("id", sa.String(64), nullable=False),
        sa.Column("status", sa.String(32), nullable=False),
        sa.Column("variants", sa.Text, nullable=False),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.Column("started_at", TIMESTAMP),
        sa.Column("stopped_at", TIMESTAMP),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_price_experiments")),
    )
    op.create_index("ux_price_experiments_running", "price_experiments", ["status"], unique=True,
                    postgresql_where=sa.text(RUNNING), sqlite_where=sa.text(RUNNING))
    op.create_table(
        "price_assignments",
        sa.Column("experiment_id", sa.String(64), nullable=False),
        sa.Column("user_id", sa.String(255), nullable=False),
        sa.Column("variant_id", sa.String(32), nullable=False),
        sa.Column("exposed_at", TIMESTAMP, nullable=False),
        sa.PrimaryKeyConstraint("experiment_id", "user_id", name=op.f("pk_price_assignments")),
        sa.ForeignKeyConstraint(["experiment_id"], ["price_experiments.id"],
                                name=op.f("fk_price_assignments_experiment_id_price_experiments"),
                                deferrable=True, initially="DEFERRED"),
    )
    op.add_column("membership_transactions", sa.Column("price_variant", sa.String(97), nullable=True))


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":  # SQLite drops a column in place (no table rebuild)
        op.execute('ALTER TABLE "membership_transactions" DROP COLUMN "price_variant"')
    else:
        op.drop_column("membership_transactions", "price_variant")
    op.drop_table("price_assignments")
    op.drop_index("ux_price_experiments_running", table_name="price_experiments")
    op.drop_table("price_experiments")
