"""Refunds with admin approval, and the audit log.

`payment_refunds` gains the refund's kind (the rows stored before are the service's own refunds:
`automatic`), the receives it takes back, whether it ends a plan, who asked and who reviewed it
(with the note and when), why it failed and when it was last sent, and the requester's own words
(`request_reason`, up to 500 characters; `reason` keeps its short codes). The old status `pending` is now `processing` (rows and
the partial indexes of the follow-up job), and lists by user and by status get their indexes.

`audit_log` is new and append-only: on PostgreSQL a trigger refuses every UPDATE and DELETE of its
rows (SQLite, a development database, gets the same guard as a trigger raising ABORT).

SQLite adds the columns in place (`ALTER TABLE … ADD COLUMN`), never by rebuilding the table.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-05
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

NEW_COLUMNS = ("kind", "request_reason", "receives", "ends_plan", "requested_by", "reviewed_by", "review_note", "reviewed_at",
               "failure_reason", "submitted_at")

POSTGRES_GUARD = """
CREATE OR REPLACE FUNCTION audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit_log is append-only: % refused', TG_OP USING ERRCODE = 'insufficient_privilege';
END
$$;
CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION audit_log_append_only();
"""
SQLITE_GUARDS = (
    ("CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log "
     "BEGIN SELECT RAISE(ABORT, 'audit_log is append-only: UPDATE refused'); END"),
    ("CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log "
     "BEGIN SELECT RAISE(ABORT, 'audit_log is append-only: DELETE refused'); END"),
)


def _partial(status: str) -> dict:
    return {"postgresql_where": sa.text(f"status = '{status}'"), "sqlite_where": sa.text(f"status = '{status}'")}


def _follow_up_indexes(status: str) -> None:
    op.create_index("ix_payment_refunds_pending", "payment_refunds", ["created_at", "id"], unique=False,
                    **_partial(status))
    op.create_index("ix_payment_refunds_follow_up", "payment_refunds", ["next_attempt_at", "id"], unique=False,
                    **_partial(status))


def upgrade() -> None:
    sqlite = op.get_bind().dialect.name == "sqlite"
    op.add_column("payment_refunds", sa.Column("kind", sa.String(32), nullable=False, server_default="automatic"))
    op.add_column("payment_refunds", sa.Column("request_reason", sa.Text(), nullable=True))
    op.add_column("payment_refunds", sa.Column("receives", sa.Integer(), nullable=True))
    op.add_column("payment_refunds", sa.Column("ends_plan", sa.Boolean(), nullable=False,
                                               server_default=sa.false()))
    op.add_column("payment_refunds", sa.Column("requested_by", sa.String(255), nullable=True))
    op.add_column("payment_refunds", sa.Column("reviewed_by", sa.String(255), nullable=True))
    op.add_column("payment_refunds", sa.Column("review_note", sa.Text(), nullable=True))
    op.add_column("payment_refunds", sa.Column("reviewed_at", sa.DateTime(timezone=True), nullable=True))
    op.add_column("payment_refunds", sa.Column("failure_reason", sa.Text(), nullable=True))
    op.add_column("payment_refunds", sa.Column("submitted_at", sa.DateTime(timezone=True), nullable=True))
    op.drop_index("ix_payment_refunds_pending", table_name="payment_refunds")
    op.drop_index("ix_payment_refunds_follow_up", table_name="payment_refunds")
    op.execute("UPDATE payment_refunds SET status = 'processing', submitted_at = created_at WHERE status = 'pending'")
    op.execute("UPDATE payment_refunds SET failure_reason = 'refund_failed' WHERE status = 'failed'")
    _follow_up_indexes("processing")
    op.create_index("ix_payment_refunds_user", "payment_refunds", ["user_id", "created_at", "id"], unique=False)
    op.create_index("ix_payment_refunds_status", "payment_refunds", ["status", "created_at", "id"], unique=False)

    op.create_table(
        "audit_log",
        sa.Column("id", sa.String(64), nullable=False),
        sa.Column("actor", sa.String(255), nullable=False),
        sa.Column("action", sa.String(64), nullable=False),
        sa.Column("object_type", sa.String(32), nullable=False),
        sa.Column("object_id", sa.String(64), nullable=False),
        sa.Column("details", sa.Text(), nullable=False),
        sa.Column("request_id", sa.String(255), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_log")),
    )
    op.create_index("ix_audit_log_created", "audit_log", ["created_at", "id"], unique=False)
    op.create_index("ix_audit_log_actor", "audit_log", ["actor", "created_at", "id"], unique=False)
    op.create_index("ix_audit_log_object", "audit_log", ["object_id", "created_at", "id"], unique=False)
    if sqlite:
        for statement in SQLITE_GUARDS:
            op.execute(statement)
    else:
        op.execute(POSTGRES_GUARD)


def downgrade() -> None:
    sqlite = op.get_bind().dialect.name == "sqlite"
    if not sqlite:
        op.execute("DROP TRIGGER IF EXISTS audit_log_append_only ON audit_log")
        op.execute("DROP FUNCTION IF EXISTS audit_log_append_only()")
    op.drop_table("audit_log")  # its indexes and SQLite triggers go with it
    op.drop_index("ix_payment_refunds_status", table_name="payment_refunds")
    op.drop_index("ix_payment_refunds_user", table_name="payment_refunds")
    op.drop_index("ix_payment_refunds_pending", table_name="payment_refunds")
    op.drop_index("ix_payment_refunds_follow_up", table_name="payment_refunds")
    # The refunds the old schema cannot hold (asked for, not yet sent, or withdrawn) go, with
    # nothing left pointing at them; processing ones are `pending` again.
    op.execute("DELETE FROM payment_refunds WHERE status IN ('requested', 'rejected', 'cancelled')")
    op.execute("UPDATE payment_refunds SET status = 'pending' WHERE status = 'processing'")
    _follow_up_indexes("pending")
    for column in reversed(NEW_COLUMNS):
        if sqlite:
            op.execute(f'ALTER TABLE "payment_refunds" DROP COLUMN "{column}"')
        else:
            op.drop_column("payment_refunds", column)
