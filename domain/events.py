"""Domain events: facts that aggregates record as they change (past tense, immutable).

Aggregates append them to their `events` list; the unit of work collects them after commit, so
an event is only ever published for a change that was stored.
"""
from __future__ import annotations

from datetime import datetime

import attrs


@attrs.frozen
class Event:
    occurred_at: datetime


@attrs.frozen
class TransactionEvent(Event):
    transaction_id: str
    user_id: str
    type: str
    provider: str | None


@attrs.frozen
class TransactionCreated(TransactionEvent):
    total: int
    currency: str


@attrs.frozen
class TransactionSucceeded(TransactionEvent):
    session_id: str | None
    late: bool  # paid after it had been cancelled or had expired


@attrs.frozen
class TransactionCancelled(TransactionEvent):
    reason: str | None


@attrs.frozen
class TransactionExpired(TransactionEvent):
    pass


@attrs.frozen
class TransactionFailed(TransactionEvent):
    reason: str


@attrs.frozen
class TransactionRefunded(TransactionEvent):
    amount: int  # what went back this time, in the transaction's minor units


@attrs.frozen
class RefundStatusChanged(Event):
    refund_id: str
    transaction_id: str
    user_id: str
    status: str  # the refund's new status (`requested` when it is made)


@attrs.frozen
class PaymentAttemptFailed(Event):
    transaction_id: str
    session_id: str
    reason: str


@attrs.frozen
class SessionStatusChanged(Event):
    session_id: str
    transaction_id: str
    status: str
    # Labels of the sessions metric (payments_sessions_total); not part of the fact's identity.
    provider: str | None = attrs.field(default=None, eq=False, kw_only=True)
    payment_method: str | None = attrs.field(default=None, eq=False, kw_only=True)


@attrs.frozen
class DuplicatePaymentRefunded(Event):
    transaction_id: str
    session_id: str
    refund_id: str


@attrs.frozen
class ReceivesCredited(Event):
    user_id: str
    count: int
    reference: str


@attrs.frozen
class ReceivesConsumed(Event):
    user_id: str
    count: int
    reference: str


@attrs.frozen
class ReceivesAdjusted(Event):
    """Purchased receives held for a refund (negative), given back (positive) or taken back."""

    user_id: str
    delta: int
    reference: str


@attrs.frozen
class PlanChanged(Event):
    user_id: str
    plan_from: str
    plan_to: str
    reason: str  # "upgrade", "scheduled_change", "lapsed"


@attrs.frozen
class PlanChangeScheduled(Event):
    user_id: str
    plan_to: str
    effective_at: datetime


@attrs.frozen
class ScheduledChangeCancelled(Event):
    user_id: str
    plan_to: str


@attrs.frozen
class PeriodStarted(Event):
    user_id: str
    plan: str
    period_start: datetime
    period_end: datetime


@attrs.frozen
class AutoRenewChanged(Event):
    user_id: str
    auto_renew: bool
    renewal_method_id: str | None


@attrs.frozen
class RenewalDue(Event):
    """A renewal to be paid by the payer was opened (`membership.renewal_due`)."""

    user_id: str


@attrs.frozen
class MembershipPastDue(Event):
    """A renewal was not paid at the period end (`membership.past_due`)."""

    user_id: str
    grace_until: datetime | None


@attrs.frozen
class RenewalPaid(Event):
    user_id: str
    plan: str
    period_start: datetime
