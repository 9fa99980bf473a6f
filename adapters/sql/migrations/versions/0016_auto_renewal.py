"""Auto-renewal (issue 17): memberships' auto_renew, renewal method and grace; one renewal per user and period.

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-05
"""
from collections.abc import Sequence

revision: str = "0016"
down_revision: str | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    pass  # filled in by its issue


def downgrade() -> None:
    pass
