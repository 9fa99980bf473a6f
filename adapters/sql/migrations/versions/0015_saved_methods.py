"""Saved payment methods (issue 17): payment_methods and provider_customers; sessions' save_method.

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-05
"""
from collections.abc import Sequence

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    pass  # filled in by its issue


def downgrade() -> None:
    pass
