"""Price experiments (issue 21): experiments, their variants and each user's assignment; transactions' price_variant.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-05
"""
from collections.abc import Sequence

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    pass  # filled in by its issue


def downgrade() -> None:
    pass
