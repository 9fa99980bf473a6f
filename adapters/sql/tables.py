"""The relational schema, as SQLAlchemy Core tables: the single source the SQL adapter queries and
the alembic migrations are written from (`adapters/sql/migrations/`).

Conventions, the same on PostgreSQL and SQLite:
- Money is two columns: `<name>_minor BIGINT` (integer minor units) and one `currency CHAR(3)`
  per row (every amount of a row is in that currency).
- Timestamps are `UtcDateTime`: `TIMESTAMP WITH TIME ZONE` on PostgreSQL; on SQLite, which has no
  time zones, naive UTC text that reads back as an aware UTC `datetime`.
- Enumerations are stored as their string values.
- Aggregates carry a `version` that every update checks and bumps (optimistic concurrency on top
  of the `FOR UPDATE` locks), so a lost update never goes unnoticed.
- Foreign keys are `DEFERRABLE INITIALLY DEFERRED`: checked at commit, so the order in which a
  unit of work stores related aggregates does not matter.
"""
from __future__ import annotations

from datetime import datetime, timezone

import sqlalchemy as sa
from sqlalchemy.engine import Dialect

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

metadata = sa.MetaData(naming_convention=NAMING_CONVENTION)


class UtcDateTime(sa.types.TypeDecorator):
    """An aware UTC `datetime`. Naive values are refused on the way in (the domain's clock is
    always aware); on SQLite values are stored as naive UTC and read back as aware UTC."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError(f"naive datetime {value!r}: the payments schema stores aware UTC datetimes only")
        value = value.astimezone(timezone.utc)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=timezone.utc)
        return value.astimezone(timezone.utc)


# SQLite only auto-increments an INTEGER PRIMARY KEY (its rowid); PostgreSQL gets a BIGINT identity.
BigIntegerPrimaryKey = sa.BigInteger().with_variant(sa.Integer(), "sqlite")

ID = sa.String(64)  # our opaque ids: txn_…, ps_…, rf_…, pm_…
USER_ID = sa.String(255)  # the JWT `sub` of the main backend
ORDER_ID = sa.String(32)  # merchant order numbers: 6-32 of [A-Za-z0-9]
NAME = sa.String(32)  # enum values, provider and payment method ids
CURRENCY = sa.CHAR(3)
MINOR = sa.BigInteger  # an amount in integer minor units


def _fk(column: str) -> sa.ForeignKey:
    return sa.ForeignKey(column, deferrable=True, initially="DEFERRED")


def _audit() -> list[sa.Column]:
    return [
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.Column("updated_at", UtcDateTime(), nullable=False),
    ]


# `membership_transactions` in the customer's schema (renamed from `transactions` by revision 0007).
transactions = sa.Table(
    "membership_transactions", metadata,
    sa.Column("id", ID, primary_key=True),
    sa.Column("order_id", ORDER_ID, nullable=False),
    sa.Column("user_id", USER_ID, nullable=False),
    sa.Column("type", NAME, nullable=False),
    sa.Column("status", NAME, nullable=False),
    sa.Column("payment_method", NAME),
    sa.Column("provider", NAME),
    sa.Column("currency", CURRENCY, nullable=False),
    sa.Column("subtotal_minor", MINOR, nullable=False),
    sa.Column("discount_minor", MINOR, nullable=False),
    sa.Column("total_minor", MINOR, nullable=False),
    sa.Column("refunded_minor", MINOR, nullable=False),
    sa.Column("receives", sa.Integer),
    sa.Column("plan_from", NAME),
    sa.Column("plan_to", NAME),
    # The proration of an upgrade (all four set, or none).
    sa.Column("proration_credit_minor", MINOR),
    sa.Column("proration_debit_minor", MINOR),
    sa.Column("proration_charge_minor", MINOR),
    sa.Column("proration_period_end", UtcDateTime()),
    sa.Column("cancel_reason", sa.Text),
    sa.Column("failure_reason", sa.Text),
    sa.Column("paid_session_id", ID),
    sa.Column("price_variant", sa.String(97)),  # "<experiment>/<variant>" that priced it (0014)
    *_audit(),
    sa.Column("completed_at", UtcDateTime()),
    sa.Column("version", sa.Integer, nullable=False),
    sa.Column("renewal_period_start", UtcDateTime()),  # a plan_renewal's period (0016)
    sa.UniqueConstraint("order_id"),
    # At most one renewal per user and period, whatever crashes or processes (0016, docs/renewals.md).
    sa.Index("ux_membership_transactions_one_renewal", "user_id", "renewal_period_start", unique=True,
             postgresql_where=sa.text("type = 'plan_renewal'"), sqlite_where=sa.text("type = 'plan_renewal'")),
    sa.CheckConstraint("subtotal_minor >= 0 AND discount_minor >= 0 AND total_minor >= 0 AND refunded_minor >= 0",
                       name="amounts_not_negative"),
    # list_expirable: the sweeper walks pending transactions oldest first.
    sa.Index("ix_membership_transactions_pending_created", "created_at", "id",
             postgresql_where=sa.text("status = 'pending'"), sqlite_where=sa.text("status = 'pending'")),
)

# GET /payments/transactions: one user's page, newest first, ties by id, and its total. Type and
# status filters are applied while walking it; on PostgreSQL they are carried in the index
# (INCLUDE), so the total is counted by an index-only scan however long the history.
sa.Index("ix_membership_transactions_history", transactions.c.user_id, transactions.c.created_at.desc(),
         transactions.c.id.desc(), postgresql_include=["type", "status"])
# The same walk for one status (a rare status of a long history would otherwise be searched for);
# also how count_pending and list_pending_plan_changes find a user's pending transactions.
sa.Index("ix_membership_transactions_history_status", transactions.c.user_id, transactions.c.status,
         transactions.c.created_at.desc(), transactions.c.id.desc())

payment_sessions = sa.Table(
    "payment_sessions", metadata,
    sa.Column("id", ID, primary_key=True),
    sa.Column("transaction_id", ID, _fk("membership_transactions.id"), nullable=False),
    sa.Column("user_id", USER_ID, nullable=False),
    sa.Column("order_id", ORDER_ID, nullable=False),
    sa.Column("status", NAME, nullable=False),
    sa.Column("payment_method", NAME, nullable=False),
    sa.Column("provider", NAME, nullable=False),
    sa.Column("currency", CURRENCY, nullable=False),
    sa.Column("amount_minor", MINOR, nullable=False),
    sa.Column("return_url", sa.Text),
    sa.Column("payment_url", sa.Text),
    sa.Column("qr_code", sa.Text),
    sa.Column("provider_reference", sa.String(255)),
    sa.Column("expires_at", UtcDateTime(), nullable=False),
    sa.Column("next_check_at", UtcDateTime()),  # when to query the provider about it (None: never)
    *_audit(),
    sa.Column("completed_at", UtcDateTime()),
    sa.Column("version", sa.Integer, nullable=False),
    # qr_code | redirect | mobile_redirect, asked for again whenever its order is opened (0008;
    # None: stored before flows were kept, the method's first flow)
    sa.Column("flow", NAME),
    # Saved methods (0015, docs/saved-methods.md): the payer asked to keep the method when this
    # payment succeeds, and when that step ended; or the saved method this off-session charge charged.
    sa.Column("save_method", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("method_saved_at", UtcDateTime()),
    sa.Column("saved_method_id", ID),
    sa.UniqueConstraint("order_id"),
    sa.CheckConstraint("amount_minor >= 0", name="amount_not_negative"),
    sa.Index("ix_payment_sessions_transaction", "transaction_id", "created_at", "id"),
    # list_due_for_expiry: the sweeper's open sessions by expiry.
    sa.Index("ix_payment_sessions_open_expiry", "expires_at", "id",
             postgresql_where=sa.text("status = 'open'"), sqlite_where=sa.text("status = 'open'")),
    # list_due_for_check: the reconciler's sessions whose provider is to be asked, earliest first.
    sa.Index("ix_payment_sessions_next_check", "next_check_at", "id",
             postgresql_where=sa.text("next_check_at IS NOT NULL"),
             sqlite_where=sa.text("next_check_at IS NOT NULL")),
)

memberships = sa.Table(
    "memberships", metadata,
    sa.Column("user_id", USER_ID, primary_key=True),
    sa.Column("plan", NAME, nullable=False),
    sa.Column("monthly_allowance", sa.Integer, nullable=False),
    sa.Column("anchor", UtcDateTime(), nullable=False),
    sa.Column("period_index", sa.Integer, nullable=False),
    sa.Column("allowance_remaining", sa.Integer, nullable=False),
    sa.Column("allowance_used", sa.Integer, nullable=False),
    sa.Column("purchased_remaining", sa.Integer, nullable=False),
    sa.Column("scheduled_plan", NAME),
    sa.Column("scheduled_effective_at", UtcDateTime()),
    *_audit(),
    sa.Column("version", sa.Integer, nullable=False),
    # Auto-renewal (0016, docs/renewals.md): the switch, the saved method renewals charge, the
    # status (active | past_due), the end of an unpaid renewal's grace, a renewal paid before the
    # period end, and when the renewal job must next look at the membership.
    sa.Column("auto_renew", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("renewal_method_id", ID),
    sa.Column("status", NAME, nullable=False, server_default="active"),
    sa.Column("grace_until", UtcDateTime()),
    sa.Column("next_period_paid", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("renewal_check_at", UtcDateTime()),
    # The domain's invariant, enforced once more by the database: a balance never goes negative.
    sa.CheckConstraint("allowance_remaining >= 0 AND allowance_used >= 0 AND purchased_remaining >= 0",
                       name="balance_not_negative"),
    # The renewal job's claim: memberships whose check is due, earliest first (0016).
    sa.Index("ix_memberships_renewal_check", "renewal_check_at", "user_id",
             postgresql_where=sa.text("renewal_check_at IS NOT NULL"),
             sqlite_where=sa.text("renewal_check_at IS NOT NULL")),
)

receives_ledger = sa.Table(
    "receives_ledger", metadata,
    sa.Column("id", BigIntegerPrimaryKey, primary_key=True, autoincrement=True),
    sa.Column("user_id", USER_ID, _fk("memberships.user_id"), nullable=False),
    sa.Column("kind", NAME, nullable=False),
    sa.Column("bucket", NAME, nullable=False),
    sa.Column("delta", sa.Integer, nullable=False),
    sa.Column("reference", sa.String(255), nullable=False),
    sa.Column("created_at", UtcDateTime(), nullable=False),
    sa.CheckConstraint("delta <> 0", name="delta_not_zero"),
    sa.Index("ix_receives_ledger_user", "user_id", "id"),
)

processed_provider_events = sa.Table(
    "processed_provider_events", metadata,
    sa.Column("provider", NAME, primary_key=True),
    sa.Column("event_id", sa.String(255), primary_key=True),
    sa.Column("processed_at", UtcDateTime(), nullable=False),
)

consumptions = sa.Table(
    "consumptions", metadata,
    sa.Column("user_id", USER_ID, primary_key=True),
    sa.Column("reference", sa.String(255), primary_key=True),
    sa.Column("count", sa.Integer, nullable=False),
    sa.Column("created_at", UtcDateTime(), nullable=False),
    sa.CheckConstraint("count > 0", name="count_positive"),
)

idempotency_keys = sa.Table(
    "idempotency_keys", metadata,
    sa.Column("user_id", USER_ID, primary_key=True),
    sa.Column("endpoint", sa.String(255), primary_key=True),  # "POST /api/v1/payments/receives"
    sa.Column("key", sa.String(255), primary_key=True),
    sa.Column("fingerprint", sa.String(128), nullable=False),
    # Held by the request in flight until it completes or its lease runs out.
    sa.Column("locked_until", UtcDateTime()),
    # The stored response (NULL while the first request is in flight).
    sa.Column("response_status", sa.Integer),
    sa.Column("response_body", sa.LargeBinary),
    sa.Column("response_headers", sa.Text),  # a JSON object of strings
    sa.Column("created_at", UtcDateTime(), nullable=False),
    sa.Column("completed_at", UtcDateTime()),
    sa.Index("ix_idempotency_keys_created_at", "created_at"),  # purge
)

payment_refunds = sa.Table(
    "payment_refunds", metadata,
    sa.Column("id", ID, primary_key=True),
    sa.Column("refund_order_id", ORDER_ID, nullable=False),
    sa.Column("transaction_id", ID, _fk("membership_transactions.id"), nullable=False),
    sa.Column("session_id", ID, _fk("payment_sessions.id"), nullable=False),
    sa.Column("user_id", USER_ID, nullable=False),
    sa.Column("provider", NAME, nullable=False),
    sa.Column("payment_order_id", ORDER_ID, nullable=False),
    sa.Column("currency", CURRENCY, nullable=False),
    sa.Column("amount_minor", MINOR, nullable=False),
    sa.Column("reason", NAME, nullable=False),  # `domain.refund.RefundReason`
    sa.Column("status", NAME, nullable=False),
    sa.Column("provider_reference", sa.String(255)),
    *_audit(),
    sa.Column("completed_at", UtcDateTime()),
    sa.Column("next_attempt_at", UtcDateTime()),  # the next follow-up of a processing refund
    sa.Column("version", sa.Integer, nullable=False),
    # Refunds with admin approval (revision 0009); the rows stored before are `automatic`.
    sa.Column("kind", NAME, nullable=False, server_default="automatic"),
    sa.Column("request_reason", sa.Text),  # the requester's own words (kinds `requested` and `admin`)
    sa.Column("receives", sa.Integer),
    sa.Column("ends_plan", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("requested_by", USER_ID),
    sa.Column("reviewed_by", USER_ID),
    sa.Column("review_note", sa.Text),
    sa.Column("reviewed_at", UtcDateTime()),
    sa.Column("failure_reason", sa.Text),
    sa.Column("submitted_at", UtcDateTime()),
    sa.UniqueConstraint("refund_order_id"),
    sa.CheckConstraint("amount_minor > 0", name="amount_positive"),
    sa.Index("ix_payment_refunds_transaction", "transaction_id", "created_at", "id"),
    sa.Index("ix_payment_refunds_user", "user_id", "created_at", "id"),
    sa.Index("ix_payment_refunds_status", "status", "created_at", "id"),
    sa.Index("ix_payment_refunds_pending", "created_at", "id", postgresql_where=sa.text("status = 'processing'"),
             sqlite_where=sa.text("status = 'processing'")),
    sa.Index("ix_payment_refunds_follow_up", "next_attempt_at", "id",
             postgresql_where=sa.text("status = 'processing'"), sqlite_where=sa.text("status = 'processing'")),
)

# Every admin action on money (and every automatic refund), appended in the unit of work of the
# change it records. Append-only: on PostgreSQL a trigger refuses UPDATE and DELETE (revision 0009).
audit_log = sa.Table(
    "audit_log", metadata,
    sa.Column("id", ID, primary_key=True),
    sa.Column("actor", USER_ID, nullable=False),
    sa.Column("action", sa.String(64), nullable=False),
    sa.Column("object_type", NAME, nullable=False),
    sa.Column("object_id", ID, nullable=False),
    sa.Column("details", sa.Text, nullable=False),  # a JSON object
    sa.Column("request_id", sa.String(255)),
    sa.Column("created_at", UtcDateTime(), nullable=False),
    sa.Index("ix_audit_log_created", "created_at", "id"),
    sa.Index("ix_audit_log_actor", "actor", "created_at", "id"),
    sa.Index("ix_audit_log_object", "object_id", "created_at", "id"),
)

# Saved (tokenized) payment methods, for the features to come: only the provider's token and
# display fields are kept, never a card number. Soft-deleted (`deleted_at`), at most one default
# per user among the live ones.
payment_methods = sa.Table(
    "payment_methods", metadata,
    sa.Column("id", ID, primary_key=True),
    sa.Column("user_id", USER_ID, nullable=False),
    sa.Column("provider", NAME, nullable=False),
    sa.Column("method_type", NAME, nullable=False),  # credit_card, wechat_pay, alipay, …
    sa.Column("provider_token", sa.String(255), nullable=False),  # the provider's reference (pm_…, agreement no)
    sa.Column("brand", sa.String(32)),
    sa.Column("last4", sa.String(4)),
    sa.Column("exp_month", sa.SmallInteger),
    sa.Column("exp_year", sa.SmallInteger),
    sa.Column("label", sa.String(255)),
    sa.Column("is_default", sa.Boolean, nullable=False),
    *_audit(),
    sa.Column("deleted_at", UtcDateTime()),
    sa.Column("version", sa.Integer, nullable=False),
    sa.UniqueConstraint("provider", "provider_token"),
    sa.Index("ix_payment_methods_user", "user_id", "created_at",
             postgresql_where=sa.text("deleted_at IS NULL"), sqlite_where=sa.text("deleted_at IS NULL")),
    sa.Index("ux_payment_methods_one_default", "user_id", unique=True,
             postgresql_where=sa.text("is_default AND deleted_at IS NULL"),
             sqlite_where=sa.text("is_default AND deleted_at IS NULL")),
)

# A paid session whose method is still to be stored (the heal step of docs/saved-methods.md, 0015).
sa.Index("ix_payment_sessions_awaiting_method", payment_sessions.c.completed_at, payment_sessions.c.id,
         postgresql_where=sa.text("save_method AND method_saved_at IS NULL AND status = 'completed'"),
         sqlite_where=sa.text("save_method AND method_saved_at IS NULL AND status = 'completed'"))

# Each user's customer at a provider that keeps saved methods (Stripe `cus_…`), made once (0015).
provider_customers = sa.Table(
    "provider_customers", metadata,
    sa.Column("user_id", USER_ID, primary_key=True),
    sa.Column("provider", NAME, primary_key=True),
    sa.Column("customer_reference", sa.String(255), nullable=False),
    sa.Column("created_at", UtcDateTime(), nullable=False),
)

# The test clock (development and tests only, revision 0010): how many seconds business time runs
# ahead of real time, for every process. One row at most (`id = 1`); the offset never goes back.
test_clock = sa.Table(
    "test_clock", metadata,
    sa.Column("id", sa.SmallInteger, primary_key=True, autoincrement=False),
    sa.Column("offset_seconds", sa.BigInteger, nullable=False),
    sa.CheckConstraint("id = 1", name="one_row"),
    sa.CheckConstraint("offset_seconds >= 0", name="offset_not_negative"),
)

# Events to the main backend (docs/events.md, revision 0011): written in the transaction of the
# change they report, delivered by the dispatchers of every process. `sequence` is the order of
# writing (order per user); `claim_token`/`claimed_until` are a dispatcher's lease on a pending row.
outbox_events = sa.Table(
    "outbox_events", metadata,
    sa.Column("sequence", BigIntegerPrimaryKey, primary_key=True, autoincrement=True),
    sa.Column("id", ID, nullable=False),
    sa.Column("user_id", USER_ID, nullable=False),
    sa.Column("type", ID, nullable=False),
    sa.Column("body", sa.Text, nullable=False),  # the JSON sent, byte for byte, on every attempt
    sa.Column("status", NAME, nullable=False),
    sa.Column("attempts", sa.Integer, nullable=False),
    sa.Column("created_at", UtcDateTime(), nullable=False),
    sa.Column("next_attempt_at", UtcDateTime(), nullable=False),
    sa.Column("give_up_at", UtcDateTime(), nullable=False),
    sa.Column("delivered_at", UtcDateTime()),
    sa.Column("last_error", sa.Text),
    sa.Column("claim_token", ID),
    sa.Column("claimed_until", UtcDateTime()),
    sa.UniqueConstraint("id"),
    sa.Index("ix_outbox_events_due", "next_attempt_at", "sequence",
             postgresql_where=sa.text("status = 'pending'"), sqlite_where=sa.text("status = 'pending'")),
    sa.Index("ix_outbox_events_user_pending", "user_id", "sequence",
             postgresql_where=sa.text("status = 'pending'"), sqlite_where=sa.text("status = 'pending'")),
    sa.Index("ix_outbox_events_status", "status", "sequence"),
    sa.Index("ix_outbox_events_delivered", "delivered_at",  # the retention's purge (revision 0017)
             postgresql_where=sa.text("status = 'delivered'"), sqlite_where=sa.text("status = 'delivered'")),
)

# Risk (docs/risk.md, revision 0012). A flag per user and rule while unresolved (the partial
# unique index: a rule firing again adds nothing); details a JSON object.
risk_flags = sa.Table(
    "risk_flags", metadata,
    sa.Column("id", ID, primary_key=True),
    sa.Column("user_id", USER_ID, nullable=False),
    sa.Column("rule", NAME, nullable=False),
    sa.Column("details", sa.Text, nullable=False),
    sa.Column("created_at", UtcDateTime(), nullable=False),
    sa.Column("resolved_at", UtcDateTime()),
    sa.Column("resolved_by", USER_ID),
    sa.Column("note", sa.Text),
    sa.Index("ix_risk_flags_created", "created_at", "id"),
    sa.Index("ix_risk_flags_user", "user_id", "created_at"),
    sa.Index("ux_risk_flags_open", "user_id", "rule", unique=True,
             postgresql_where=sa.text("resolved_at IS NULL"), sqlite_where=sa.text("resolved_at IS NULL")),
)

# Users an admin blocked: every new payment of theirs is refused.
risk_blocks = sa.Table(
    "risk_blocks", metadata,
    sa.Column("user_id", USER_ID, primary_key=True),
    sa.Column("reason", sa.Text),
    sa.Column("blocked_by", USER_ID, nullable=False),
    sa.Column("blocked_at", UtcDateTime(), nullable=False),
)

# Which payer (an HMAC of the id its provider reported, never the id) paid for which user, last when.
risk_payers = sa.Table(
    "risk_payers", metadata,
    sa.Column("payer_hash", sa.String(64), primary_key=True),
    sa.Column("user_id", USER_ID, primary_key=True),
    sa.Column("last_paid_at", UtcDateTime(), nullable=False),
)

# The risk gate's one statement on the purchase path: a user's paid transactions of the last 24 h
# (on PostgreSQL an index-only scan: status and total carried) and failed or expired attempts of
# the last hour, however long their history.
sa.Index("ix_membership_transactions_paid_by_user", transactions.c.user_id, transactions.c.completed_at,
         postgresql_include=["status", "total_minor"],
         postgresql_where=sa.text("completed_at IS NOT NULL"), sqlite_where=sa.text("completed_at IS NOT NULL"))
sa.Index("ix_payment_sessions_unpaid_ends", payment_sessions.c.user_id, payment_sessions.c.updated_at,
         postgresql_where=sa.text("status IN ('failed', 'expired')"),
         sqlite_where=sa.text("status IN ('failed', 'expired')"))

# The operators' analytics (adapters/sql/analytics.py, revision 0013). Each condition below is
# written into the analytics' statements word for word, so that both databases see that the partial
# index applies. Paid sales by completion time, covering what revenue groups and sums (on
# PostgreSQL an index-only scan); succeeded refunds by completion time; sessions by the instant
# they ended, one index per way of ending (paid: completed_at; lapsed: expires_at; failed or
# cancelled: updated_at); every user's transactions newest first; renewals.
PAID_SALE = "status IN ('succeeded', 'partially_refunded', 'refunded')"
SUCCEEDED_REFUND = "status = 'succeeded'"
RENEWAL = "type = 'plan_renewal'"
FAILED_RENEWAL = "type = 'plan_renewal' AND status = 'failed'"
SESSION_PAID = "status IN ('completed', 'refunded')"
SESSION_LAPSED = "status IN ('expired', 'open')"
SESSION_STOPPED = "status IN ('failed', 'cancelled')"
sa.Index("ix_membership_transactions_sales", transactions.c.completed_at,
         postgresql_include=["total_minor", "currency", "type", "plan_to", "provider", "payment_method"],
         postgresql_where=sa.text(PAID_SALE), sqlite_where=sa.text(PAID_SALE))
sa.Index("ix_membership_transactions_created", transactions.c.created_at.desc(), transactions.c.id.desc())
sa.Index("ix_membership_transactions_renewals", transactions.c.completed_at, postgresql_include=["status"],
         postgresql_where=sa.text(RENEWAL), sqlite_where=sa.text(RENEWAL))
sa.Index("ix_membership_transactions_failed_renewals", transactions.c.updated_at,
         postgresql_where=sa.text(FAILED_RENEWAL), sqlite_where=sa.text(FAILED_RENEWAL))
sa.Index("ix_payment_refunds_succeeded", payment_refunds.c.completed_at,
         postgresql_include=["amount_minor", "currency", "kind", "transaction_id"],
         postgresql_where=sa.text(SUCCEEDED_REFUND), sqlite_where=sa.text(SUCCEEDED_REFUND))
_SESSION_LABELS = ["provider", "payment_method", "status", "created_at"]
sa.Index("ix_payment_sessions_paid_at", payment_sessions.c.completed_at, postgresql_include=_SESSION_LABELS,
         postgresql_where=sa.text(SESSION_PAID), sqlite_where=sa.text(SESSION_PAID))
sa.Index("ix_payment_sessions_lapsed_at", payment_sessions.c.expires_at, postgresql_include=_SESSION_LABELS,
         postgresql_where=sa.text(SESSION_LAPSED), sqlite_where=sa.text(SESSION_LAPSED))
sa.Index("ix_payment_sessions_stopped_at", payment_sessions.c.updated_at, postgresql_include=_SESSION_LABELS,
         postgresql_where=sa.text(SESSION_STOPPED), sqlite_where=sa.text(SESSION_STOPPED))

# Price experiments (docs/experiments.md, revision 0014). An experiment's variants are a JSON array
# (never changed once created). At most one experiment is `running`: the partial unique index
# refuses a second, whatever processes start them at once.
price_experiments = sa.Table(
    "price_experiments", metadata,
    sa.Column("id", ID, primary_key=True),
    sa.Column("status", NAME, nullable=False),
    sa.Column("variants", sa.Text, nullable=False),
    sa.Column("created_at", UtcDateTime(), nullable=False),
    sa.Column("started_at", UtcDateTime()),
    sa.Column("stopped_at", UtcDateTime()),
    sa.Index("ux_price_experiments_running", "status", unique=True,
             postgresql_where=sa.text("status = 'running'"), sqlite_where=sa.text("status = 'running'")),
)

# Each user's variant, stored at first exposure, once (the primary key; INSERT … ON CONFLICT DO
# NOTHING), kept after the experiment stops.
price_assignments = sa.Table(
    "price_assignments", metadata,
    sa.Column("experiment_id", ID, _fk("price_experiments.id"), primary_key=True),
    sa.Column("user_id", USER_ID, primary_key=True),
    sa.Column("variant_id", sa.String(32), nullable=False),
    sa.Column("exposed_at", UtcDateTime(), nullable=False),
)

ALL_TABLES = tuple(metadata.sorted_tables)
