"""The initial schema: transactions, payment sessions, memberships and their receives ledger,
processed provider events, idempotency keys, consumptions, refunds and saved payment methods.

Written from `adapters.sql.tables` by autogenerate, then reviewed: plain SQLAlchemy types only
(timestamps are `TIMESTAMP WITH TIME ZONE`; SQLite stores naive UTC), partial indexes on both
PostgreSQL and SQLite, foreign keys deferred to commit.

Revision ID: 0001
Revises:
Create Date: 2026-11-27
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TIMESTAMP = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        'consumptions',
        sa.Column('user_id', sa.String(length=255), nullable=False),
        sa.Column('reference', sa.String(length=255), nullable=False),
        sa.Column('count', sa.Integer(), nullable=False),
        sa.Column('created_at', TIMESTAMP, nullable=False),
        sa.CheckConstraint('count > 0', name=op.f('ck_consumptions_count_positive')),
        sa.PrimaryKeyConstraint('user_id', 'reference', name=op.f('pk_consumptions'))
    )
    op.create_table(
        'idempotency_keys',
        sa.Column('user_id', sa.String(length=255), nullable=False),
        sa.Column('endpoint', sa.String(length=255), nullable=False),
        sa.Column('key', sa.String(length=255), nullable=False),
        sa.Column('fingerprint', sa.String(length=128), nullable=False),
        sa.Column('locked_until', TIMESTAMP, nullable=True),
        sa.Column('response_status', sa.Integer(), nullable=True),
        sa.Column('response_body', sa.LargeBinary(), nullable=True),
        sa.Column('response_headers', sa.Text(), nullable=True),
        sa.Column('created_at', TIMESTAMP, nullable=False),
        sa.Column('completed_at', TIMESTAMP, nullable=True),
        sa.PrimaryKeyConstraint('user_id', 'endpoint', 'key', name=op.f('pk_idempotency_keys'))
    )
    op.create_index('ix_idempotency_keys_created_at', 'idempotency_keys', ['created_at'], unique=False)
    op.create_table(
        'memberships',
        sa.Column('user_id', sa.String(length=255), nullable=False),
        sa.Column('plan', sa.String(length=32), nullable=False),
        sa.Column('monthly_allowance', sa.Integer(), nullable=False),
        sa.Column('anchor', TIMESTAMP, nullable=False),
        sa.Column('period_index', sa.Integer(), nullable=False),
        sa.Column('allowance_remaining', sa.Integer(), nullable=False),
        sa.Column('allowance_used', sa.Integer(), nullable=False),
        sa.Column('purchased_remaining', sa.Integer(), nullable=False),
        sa.Column('scheduled_plan', sa.String(length=32), nullable=True),
        sa.Column('scheduled_effective_at', TIMESTAMP, nullable=True),
        sa.Column('created_at', TIMESTAMP, nullable=False),
        sa.Column('updated_at', TIMESTAMP, nullable=False),
        sa.Column('version', sa.Integer(), nullable=False),
        sa.CheckConstraint('allowance_remaining >= 0 AND allowance_used >= 0 AND purchased_remaining >= 0', name=op.f('ck_memberships_balance_not_negative')),
        sa.PrimaryKeyConstraint('user_id', name=op.f('pk_memberships'))
    )
    op.create_table(
        'payment_methods',
        sa.Column('id', sa.String(length=64), nullable=False),
        sa.Column('user_id', sa.String(length=255), nullable=False),
        sa.Column('provider', sa.String(length=32), nullable=False),
        sa.Column('method_type', sa.String(length=32), nullable=False),
        sa.Column('provider_token', sa.String(length=255), nullable=False),
        sa.Column('brand', sa.String(length=32), nullable=True),
        sa.Column('last4', sa.String(length=4), nullable=True),
        sa.Column('exp_month', sa.SmallInteger(), nullable=True),
        sa.Column('exp_year', sa.SmallInteger(), nullable=True),
        sa.Column('label', sa.String(length=255), nullable=True),
        sa.Column('is_default', sa.Boolean(), nullable=False),
        sa.Column('created_at', TIMESTAMP, nullable=False),
        sa.Column('updated_at', TIMESTAMP, nullable=False),
        sa.Column('deleted_at', TIMESTAMP, nullable=True),
        sa.Column('version', sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_payment_methods')),
        sa.UniqueConstraint('provider', 'provider_token', name=op.f('uq_payment_methods_provider_provider_token'))
    )
    op.create_index('ix_payment_methods_user', 'payment_methods', ['user_id', 'created_at'], unique=False, postgresql_where=sa.text('deleted_at IS NULL'), sqlite_where=sa.text('deleted_at IS NULL'))
    op.create_index('ux_payment_methods_one_default', 'payment_methods', ['user_id'], unique=True, postgresql_where=sa.text('is_default AND deleted_at IS NULL'), sqlite_where=sa.text('is_default AND deleted_at IS NULL'))
    op.create_table(
        'processed_provider_events',
        sa.Column('provider', sa.String(length=32), nullable=False),
        sa.Column('event_id', sa.String(length=255), nullable=False),
        sa.Column('processed_at', TIMESTAMP, nullable=False),
        sa.PrimaryKeyConstraint('provider', 'event_id', name=op.f('pk_processed_provider_events'))
    )
    op.create_table(
        'transactions',
        sa.Column('id', sa.String(length=64), nullable=False),
        sa.Column('order_id', sa.String(length=32), nullable=False),
        sa.Column('user_id', sa.String(length=255), nullable=False),
        sa.Column('type', sa.String(length=32), nullable=False),
        sa.Column('status', sa.String(length=32), nullable=False),
        sa.Column('payment_method', sa.String(length=32), nullable=True),
        sa.Column('provider', sa.String(length=32), nullable=True),
        sa.Column('currency', sa.CHAR(length=3), nullable=False),
        sa.Column('subtotal_minor', sa.BigInteger(), nullable=False),
        sa.Column('discount_minor', sa.BigInteger(), nullable=False),
        sa.Column('total_minor', sa.BigInteger(), nullable=False),
        sa.Column('refunded_minor', sa.BigInteger(), nullable=False),
        sa.Column('receives', sa.Integer(), nullable=True),
        sa.Column('plan_from', sa.String(length=32), nullable=True),
        sa.Column('plan_to', sa.String(length=32), nullable=True),
        sa.Column('proration_credit_minor', sa.BigInteger(), nullable=True),
        sa.Column('proration_debit_minor', sa.BigInteger(), nullable=True),
        sa.Column('proration_charge_minor', sa.BigInteger(), nullable=True),
        sa.Column('proration_period_end', TIMESTAMP, nullable=True),
        sa.Column('cancel_reason', sa.Text(), nullable=True),
        sa.Column('failure_reason', sa.Text(), nullable=True),
        sa.Column('paid_session_id', sa.String(length=64), nullable=True),
        sa.Column('created_at', TIMESTAMP, nullable=False),
        sa.Column('updated_at', TIMESTAMP, nullable=False),
        sa.Column('completed_at', TIMESTAMP, nullable=True),
        sa.Column('version', sa.Integer(), nullable=False),
        sa.CheckConstraint('subtotal_minor >= 0 AND discount_minor >= 0 AND total_minor >= 0 AND refunded_minor >= 0', name=op.f('ck_transactions_amounts_not_negative')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_transactions')),
        sa.UniqueConstraint('order_id', name=op.f('uq_transactions_order_id'))
    )
    op.create_index('ix_transactions_history', 'transactions',
                    ['user_id', sa.literal_column('created_at DESC'), sa.literal_column('id DESC')],
                    unique=False, postgresql_include=['type', 'status'])
    op.create_index('ix_transactions_pending_created', 'transactions', ['created_at', 'id'], unique=False, postgresql_where=sa.text("status = 'pending'"), sqlite_where=sa.text("status = 'pending'"))
    op.create_index('ix_transactions_pending_user', 'transactions', ['user_id'], unique=False, postgresql_where=sa.text("status = 'pending'"), sqlite_where=sa.text("status = 'pending'"))
    op.create_table(
        'payment_sessions',
        sa.Column('id', sa.String(length=64), nullable=False),
        sa.Column('transaction_id', sa.String(length=64), nullable=False),
        sa.Column('user_id', sa.String(length=255), nullable=False),
        sa.Column('order_id', sa.String(length=32), nullable=False),
        sa.Column('status', sa.String(length=32), nullable=False),
        sa.Column('payment_method', sa.String(length=32), nullable=False),
        sa.Column('provider', sa.String(length=32), nullable=False),
        sa.Column('currency', sa.CHAR(length=3), nullable=False),
        sa.Column('amount_minor', sa.BigInteger(), nullable=False),
        sa.Column('return_url', sa.Text(), nullable=True),
        sa.Column('payment_url', sa.Text(), nullable=True),
        sa.Column('qr_code', sa.Text(), nullable=True),
        sa.Column('provider_reference', sa.String(length=255), nullable=True),
        sa.Column('expires_at', TIMESTAMP, nullable=False),
        sa.Column('created_at', TIMESTAMP, nullable=False),
        sa.Column('updated_at', TIMESTAMP, nullable=False),
        sa.Column('completed_at', TIMESTAMP, nullable=True),
        sa.Column('version', sa.Integer(), nullable=False),
        sa.CheckConstraint('amount_minor >= 0', name=op.f('ck_payment_sessions_amount_not_negative')),
        sa.ForeignKeyConstraint(['transaction_id'], ['transactions.id'], name=op.f('fk_payment_sessions_transaction_id_transactions'), initially='DEFERRED', deferrable=True),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_payment_sessions')),
        sa.UniqueConstraint('order_id', name=op.f('uq_payment_sessions_order_id'))
    )
    op.create_index('ix_payment_sessions_open_expiry', 'payment_sessions', ['expires_at', 'id'], unique=False, postgresql_where=sa.text("status = 'open'"), sqlite_where=sa.text("status = 'open'"))
    op.create_index('ix_payment_sessions_transaction', 'payment_sessions', ['transaction_id', 'created_at', 'id'], unique=False)
    op.create_table(
        'receives_ledger',
        sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
        sa.Column('user_id', sa.String(length=255), nullable=False),
        sa.Column('kind', sa.String(length=32), nullable=False),
        sa.Column('bucket', sa.String(length=32), nullable=False),
        sa.Column('delta', sa.Integer(), nullable=False),
        sa.Column('reference', sa.String(length=255), nullable=False),
        sa.Column('created_at', TIMESTAMP, nullable=False),
        sa.CheckConstraint('delta <> 0', name=op.f('ck_receives_ledger_delta_not_zero')),
        sa.ForeignKeyConstraint(['user_id'], ['memberships.user_id'], name=op.f('fk_receives_ledger_user_id_memberships'), initially='DEFERRED', deferrable=True),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_receives_ledger'))
    )
    op.create_index('ix_receives_ledger_user', 'receives_ledger', ['user_id', 'id'], unique=False)
    op.create_table(
        'payment_refunds',
        sa.Column('id', sa.String(length=64), nullable=False),
        sa.Column('refund_order_id', sa.String(length=32), nullable=False),
        sa.Column('transaction_id', sa.String(length=64), nullable=False),
        sa.Column('session_id', sa.String(length=64), nullable=False),
        sa.Column('user_id', sa.String(length=255), nullable=False),
        sa.Column('provider', sa.String(length=32), nullable=False),
        sa.Column('payment_order_id', sa.String(length=32), nullable=False),
        sa.Column('currency', sa.CHAR(length=3), nullable=False),
        sa.Column('amount_minor', sa.BigInteger(), nullable=False),
        sa.Column('reason', sa.String(length=32), nullable=False),
        sa.Column('status', sa.String(length=32), nullable=False),
        sa.Column('provider_reference', sa.String(length=255), nullable=True),
        sa.Column('created_at', TIMESTAMP, nullable=False),
        sa.Column('updated_at', TIMESTAMP, nullable=False),
        sa.Column('completed_at', TIMESTAMP, nullable=True),
        sa.Column('version', sa.Integer(), nullable=False),
        sa.CheckConstraint('amount_minor > 0', name=op.f('ck_payment_refunds_amount_positive')),
        sa.ForeignKeyConstraint(['session_id'], ['payment_sessions.id'], name=op.f('fk_payment_refunds_session_id_payment_sessions'), initially='DEFERRED', deferrable=True),
        sa.ForeignKeyConstraint(['transaction_id'], ['transactions.id'], name=op.f('fk_payment_refunds_transaction_id_transactions'), initially='DEFERRED', deferrable=True),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_payment_refunds')),
        sa.UniqueConstraint('refund_order_id', name=op.f('uq_payment_refunds_refund_order_id'))
    )
    op.create_index('ix_payment_refunds_transaction', 'payment_refunds', ['transaction_id', 'created_at', 'id'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_payment_refunds_transaction', table_name='payment_refunds')
    op.drop_table('payment_refunds')
    op.drop_index('ix_receives_ledger_user', table_name='receives_ledger')
    op.drop_table('receives_ledger')
    op.drop_index('ix_payment_sessions_transaction', table_name='payment_sessions')
    op.drop_index('ix_payment_sessions_open_expiry', table_name='payment_sessions')
    op.drop_table('payment_sessions')
    op.drop_index('ix_transactions_pending_user', table_name='transactions')
    op.drop_index('ix_transactions_pending_created', table_name='transactions')
    op.drop_index('ix_transactions_history', table_name='transactions')
    op.drop_table('transactions')
    op.drop_table('processed_provider_events')
    op.drop_index('ux_payment_methods_one_default', table_name='payment_methods')
    op.drop_index('ix_payment_methods_user', table_name='payment_methods')
    op.drop_table('payment_methods')
    op.drop_table('memberships')
    op.drop_index('ix_idempotency_keys_created_at', table_name='idempotency_keys')
    op.drop_table('idempotency_keys')
    op.drop_table('consumptions')
