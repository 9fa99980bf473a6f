"""The refund aggregate: money going back to the payer for one paid session.

Refunds are asynchronous at every provider: a refund is `pending` until the provider reports
`succeeded` or `failed`. Its `refund_order_id` is our refund number at the provider (WeChat Pay's
`out_refund_no`, Alipay's `out_request_no`, Stripe's idempotency key), so retrying a refund can
never refund twice.

A pending refund is followed up (the provider is asked, `ports.use_cases.refunds`) at
`next_attempt_at`: first a minute after it was made, then waiting as long again as the refund is
old (1, 2, 4, 8 … minutes, at most an hour). One still pending `FOLLOW_UP_LIMIT` (72 hours) after
it was made is marked `failed`, for an admin to settle by hand.
"""
from __future__ import annotations

import enum
from datetime import datetime, timedelta

import attrs

from domain import events
from domain.money import Money
from domain.session import PaymentSession
from domain.transitions import check_transition


class RefundStatus(str, enum.Enum):
    PENDING = "pending"
    SUCCEEDED = "succeeded"
    FAILED = "failed"


class RefundReason(str, enum.Enum):
    DUPLICATE_PAYMENT = "duplicate_payment"
    STALE_PLAN_CHANGE = "stale_plan_change"
    REQUESTED_BY_CUSTOMER = "requested_by_customer"


FIRST_FOLLOW_UP = timedelta(minutes=1)
MAX_FOLLOW_UP_WAIT = timedelta(hours=1)
FOLLOW_UP_LIMIT = timedelta(hours=72)  # then the refund is `failed`, for an admin

R = RefundStatus
TRANSITIONS: dict[RefundStatus, frozenset[RefundStatus]] = {
    R.PENDING: frozenset({R.SUCCEEDED, R.FAILED}),
    R.SUCCEEDED: frozenset(),
    R.FAILED: frozenset(),
}


@attrs.define(eq=False)
class Refund:
    id: str
    refund_order_id: str
    transaction_id: str
    session_id: str
    user_id: str
    provider: str
    payment_order_id: str
    amount: Money
    reason: RefundReason
    _status: RefundStatus
    created_at: datetime
    updated_at: datetime
    completed_at: datetime | None = None
    provider_reference: str | None = None
    next_attempt_at: datetime | None = None  # the next follow-up while pending
    version: int = 0
    events: list[events.Event] = attrs.field(factory=list)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Refund) and other.id == self.id

    def __hash__(self) -> int:
        return hash(self.id)

    @classmethod
    def for_duplicate_payment(cls, *, id: str, refund_order_id: str, session: PaymentSession,
                              now: datetime) -> Refund:
        """The whole amount of a session that paid an already-paid transaction."""
        refund = cls(id=id, refund_order_id=refund_order_id, transaction_id=session.transaction_id,
                     session_id=session.id, user_id=session.user_id, provider=session.provider,
                     payment_order_id=session.order_id, amount=session.amount,
                     reason=RefundReason.DUPLICATE_PAYMENT, status=R.PENDING, created_at=now, updated_at=now,
                     next_attempt_at=now + FIRST_FOLLOW_UP)
        refund.events.append(events.DuplicatePaymentRefunded(now, session.transaction_id, session.id, id))
        return refund

    @classmethod
    def for_stale_plan_change(cls, *, id: str, refund_order_id: str, session: PaymentSession,
                              now: datetime) -> Refund:
        """The whole amount of a plan change paid after the membership moved on from the state it
        was priced for (the plan changed meanwhile, or the period it was prorated over ended)."""
        return cls(id=id, refund_order_id=refund_order_id, transaction_id=session.transaction_id,
                   session_id=session.id, user_id=session.user_id, provider=session.provider,
                   payment_order_id=session.order_id, amount=session.amount,
                   reason=RefundReason.STALE_PLAN_CHANGE, status=R.PENDING, created_at=now, updated_at=now,
                   next_attempt_at=now + FIRST_FOLLOW_UP)

    @property
    def status(self) -> RefundStatus:
        return self._status

    def succeed(self, provider_reference: str | None, now: datetime) -> None:
        check_transition(TRANSITIONS, "refund", self._status, R.SUCCEEDED)
        self._status, self.provider_reference = R.SUCCEEDED, provider_reference
        self.updated_at = self.completed_at = now
        self.next_attempt_at = None

    def fail(self, now: datetime) -> None:
        check_transition(TRANSITIONS, "refund", self._status, R.FAILED)
        self._status = R.FAILED
        self.updated_at = self.completed_at = now
        self.next_attempt_at = None

    def take_follow_up(self, now: datetime) -> bool:
        """Take the follow-up due at `now`: True, and the next one is scheduled (backing off), if
        the provider is to be asked now; False if the refund ended, or (still pending
        `FOLLOW_UP_LIMIT` after it was made) is given up: `failed`, for an admin."""
        if self._status is not R.PENDING:
            return False
        if self.next_attempt_at is None or self.next_attempt_at > now:
            raise ValueError(f"refund {self.id}: no follow-up due at {now.isoformat()}")
        age = now - self.created_at
        if age >= FOLLOW_UP_LIMIT:
            self.fail(now)
            return False
        self.next_attempt_at = now + min(max(age, FIRST_FOLLOW_UP), MAX_FOLLOW_UP_WAIT)
        self.updated_at = now
        return True
