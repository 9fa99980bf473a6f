"""The refund aggregate: money going back to the payer of a transaction.

Transition table (`TRANSITIONS`):

    requested ──► processing ──► succeeded
        │             │  ▲
        │             ▼  │ (retry, same order id)
        │           failed
        ├──► rejected        (an admin said no, with a note)
        └──► cancelled       (the requester withdrew it)

Kinds: `requested` (a user asked; an admin approves or rejects it), `admin` (an admin issued it:
`processing` at once, or `requested` for a second admin above the two-person threshold) and
`automatic` (a duplicate or stale payment the service sends back by itself, `processing` at once).

A refund's `refund_order_id` is our refund number at the provider (WeChat Pay's `out_refund_no`,
Alipay's `out_request_no`, Stripe's idempotency key), so sending it again can never refund twice;
a retried refund keeps it.

A `processing` refund is followed up (the provider is asked, `ports.use_cases.refunds`) at
`next_attempt_at`: first a minute after it was sent, then waiting as long again as it has been
processing (1, 2, 4, 8 … minutes, at most an hour). One still processing `FOLLOW_UP_LIMIT` (72
hours) after it was sent is marked `failed`, for an admin to retry or settle by hand.

What a refund may be for, and how much, is `domain.refund_terms`.
"""
from __future__ import annotations

import enum
from datetime import datetime, timedelta

import attrs

from domain import events
from domain.errors import DomainValidationError, InvalidTransitionError, PaymentsError
from domain.money import Money
from domain.session import PaymentSession
from domain.transitions import check_transition


class RefundStatus(str, enum.Enum):
    REQUESTED = "requested"
    PROCESSING = "processing"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    REJECTED = "rejected"
    CANCELLED = "cancelled"
    PENDING = "processing"  # noqa: PIE796 (the old name of `processing`: an alias, the same member)


class RefundKind(str, enum.Enum):
    REQUESTED = "requested"   # the user asked
    ADMIN = "admin"           # an admin issued it
    AUTOMATIC = "automatic"   # the service sent a duplicate or stale payment back by itself


class RefundReason(str, enum.Enum):
    """The reasons of automatic refunds (the others carry the requester's own words)."""

    DUPLICATE_PAYMENT = "duplicate_payment"
    STALE_PLAN_CHANGE = "stale_plan_change"
    REQUESTED_BY_CUSTOMER = "requested_by_customer"


class SelfApprovalError(PaymentsError):
    """An admin approving a refund they asked for themselves (the two-person rule)."""

    code = "forbidden"

    def __init__(self) -> None:
        super().__init__("A refund must be approved by another admin than the one who asked for it.")


FIRST_FOLLOW_UP = timedelta(minutes=1)
MAX_FOLLOW_UP_WAIT = timedelta(hours=1)
FOLLOW_UP_LIMIT = timedelta(hours=72)  # then the refund is `failed`, for an admin
GAVE_UP = "no_final_answer_from_provider"  # the failure reason of a refund given up on

R = RefundStatus
TRANSITIONS: dict[RefundStatus, frozenset[RefundStatus]] = {
    R.REQUESTED: frozenset({R.PROCESSING, R.REJECTED, R.CANCELLED}),
    R.PROCESSING: frozenset({R.SUCCEEDED, R.FAILED}),
    R.FAILED: frozenset({R.PROCESSING}),
    R.SUCCEEDED: frozenset(),
    R.REJECTED: frozenset(),
    R.CANCELLED: frozenset(),
}
OPEN_STATES = frozenset({R.REQUESTED, R.PROCESSING})
# A refund in one of these has let go of what it asked for (its held receives went back).
WITHDRAWN_STATES = frozenset({R.REJECTED, R.CANCELLED})


@attrs.define(eq=False)
class Refund:
    id: str
    refund_order_id: str
    transaction_id: str
    session_id: str          # the paid session whose payment goes back
    user_id: str             # the payer
    provider: str
    payment_order_id: str    # that session's order id at the provider
    amount: Money
    reason: str
    _status: RefundStatus
    created_at: datetime
    updated_at: datetime
    completed_at: datetime | None = None
    provider_reference: str | None = None
    next_attempt_at: datetime | None = None  # the next follow-up while processing
    kind: RefundKind = RefundKind.AUTOMATIC
    receives: int | None = None          # purchased receives it takes back (held from the request on)
    ends_plan: bool = False              # approval returns the membership to basic
    requested_by: str | None = None      # the user or admin who asked (None: the service itself)
    reviewed_by: str | None = None
    review_note: str | None = None
    reviewed_at: datetime | None = None
    failure_reason: str | None = None
    submitted_at: datetime | None = None  # when it last became `processing`
    version: int = 0
    events: list[events.Event] = attrs.field(factory=list)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Refund) and other.id == self.id

    def __hash__(self) -> int:
        return hash(self.id)

    # ------------------------------------------------------------------ named constructors
    @classmethod
    def for_duplicate_payment(cls, *, id: str, refund_order_id: str, session: PaymentSession,
                              now: datetime) -> Refund:
        """The whole amount of a session that paid an already-paid transaction."""
        refund = cls._automatic(id, refund_order_id, session, RefundReason.DUPLICATE_PAYMENT, now)
        refund.events.append(events.DuplicatePaymentRefunded(now, session.transaction_id, session.id, id))
        return refund

    @classmethod
    def for_stale_plan_change(cls, *, id: str, refund_order_id: str, session: PaymentSession,
                              now: datetime) -> Refund:
        """The whole amount of a plan change paid after the membership moved on from the state it
        was priced for (the plan changed meanwhile, or the period it was prorated over ended)."""
        return cls._automatic(id, refund_order_id, session, RefundReason.STALE_PLAN_CHANGE, now)

    @classmethod
    def _automatic(cls, id: str, refund_order_id: str, session: PaymentSession, reason: RefundReason,
                   now: datetime) -> Refund:
        return cls(id=id, refund_order_id=refund_order_id, transaction_id=session.transaction_id,
                   session_id=session.id, user_id=session.user_id, provider=session.provider,
                   payment_order_id=session.order_id, amount=session.amount, reason=reason.value,
                   status=R.PROCESSING, created_at=now, updated_at=now, kind=RefundKind.AUTOMATIC,
                   submitted_at=now, next_attempt_at=now + FIRST_FOLLOW_UP)

    @classmethod
    def request(cls, *, id: str, refund_order_id: str, session: PaymentSession, amount: Money,
                receives: int | None, ends_plan: bool, reason: str, requested_by: str, kind: RefundKind,
                now: datetime) -> Refund:
        """A refund of (part of) the payment `session` made, waiting for an admin's approval."""
        if amount.amount <= 0:
            raise DomainValidationError("A refund must be of a positive amount.", field="amount")
        if receives is not None and receives < 1:
            raise DomainValidationError("Must be at least 1.", field="receives")
        if kind is RefundKind.AUTOMATIC:
            raise ValueError("automatic refunds are made by for_duplicate_payment / for_stale_plan_change")
        refund = cls(id=id, refund_order_id=refund_order_id, transaction_id=session.transaction_id,
                     session_id=session.id, user_id=session.user_id, provider=session.provider,
                     payment_order_id=session.order_id, amount=amount, reason=reason, status=R.REQUESTED,
                     created_at=now, updated_at=now, kind=kind, receives=receives, ends_plan=ends_plan,
                     requested_by=requested_by)
        refund.events.append(events.RefundStatusChanged(now, id, refund.transaction_id, refund.user_id,
                                                        R.REQUESTED.value))
        return refund

    # ------------------------------------------------------------------ reading
    @property
    def status(self) -> RefundStatus:
        return self._status

    @property
    def is_open(self) -> bool:
        return self._status in OPEN_STATES

    @property
    def holds_receives(self) -> int:
        """How many purchased receives it keeps out of the user's balance (0 once withdrawn)."""
        return 0 if self._status in WITHDRAWN_STATES else (self.receives or 0)

    @property
    def counts_against_transaction(self) -> bool:
        """Whether its amount and receives are spoken for in its transaction: every refund of the
        sale (not an automatic one, which returns another session's payment) that was not
        withdrawn. A failed one still counts: it may be retried and never gives receives back."""
        return self.kind is not RefundKind.AUTOMATIC and self._status not in WITHDRAWN_STATES

    # ------------------------------------------------------------------ transitions
    def _move(self, target: RefundStatus, now: datetime) -> None:
        check_transition(TRANSITIONS, "refund", self._status, target)
        self._status = target
        self.updated_at = now
        self.events.append(events.RefundStatusChanged(now, self.id, self.transaction_id, self.user_id, target.value))

    def approve(self, reviewer: str, note: str | None, now: datetime) -> None:
        """An admin approves it: `processing`, to be sent to the provider. Nobody approves a
        refund they asked for themselves."""
        self._require(R.REQUESTED, "approved")
        if self.requested_by is not None and reviewer == self.requested_by:
            raise SelfApprovalError()
        self._review(reviewer, note, now)
        self._submit(now)

    def start_processing(self, now: datetime) -> None:
        """An admin's refund at or under the two-person threshold: sent at once, no review."""
        self._require(R.REQUESTED, "sent")
        self._submit(now)

    def reject(self, reviewer: str, note: str, now: datetime) -> None:
        self._require(R.REQUESTED, "rejected")
        if not note or not note.strip():
            raise DomainValidationError("A rejection needs a note.", field="note")
        self._move(R.REJECTED, now)
        self._review(reviewer, note, now)
        self.completed_at = now

    def cancel(self, now: datetime) -> None:
        self._require(R.REQUESTED, "cancelled")
        self._move(R.CANCELLED, now)
        self.completed_at = now

    def retry(self, now: datetime) -> None:
        """A failed refund is sent again, with the same refund number."""
        self._require(R.FAILED, "retried")
        self.failure_reason = None
        self.completed_at = None
        self._submit(now)

    def succeed(self, provider_reference: str | None, now: datetime) -> None:
        self._move(R.SUCCEEDED, now)
        self.provider_reference = provider_reference or self.provider_reference
        self.completed_at = now
        self.next_attempt_at = None

    def fail(self, now: datetime, reason: str | None = None) -> None:
        self._move(R.FAILED, now)
        self.failure_reason = reason or "refund_failed"
        self.completed_at = now
        self.next_attempt_at = None

    def _require(self, status: RefundStatus, verb: str) -> None:
        if self._status is not status:
            raise InvalidTransitionError(
                "refund", self._status.value, verb,
                f"Only a {status.value} refund can be {verb}; this one is {self._status.value}.")

    def _review(self, reviewer: str, note: str | None, now: datetime) -> None:
        self.reviewed_by, self.review_note, self.reviewed_at = reviewer, note, now

    def _submit(self, now: datetime) -> None:
        self._move(R.PROCESSING, now)
        self.submitted_at = now
        self.next_attempt_at = now + FIRST_FOLLOW_UP

    def take_follow_up(self, now: datetime, last_provider_reason: str | None = None) -> bool:
        """Take the follow-up due at `now`: True, and the next one is scheduled (backing off), if
        the provider is to be asked now; False if the refund ended, or (still processing
        `FOLLOW_UP_LIMIT` after it was sent) is given up: `failed`, for an admin."""
        if self._status is not R.PROCESSING:
            return False
        if self.next_attempt_at is None or self.next_attempt_at > now:
            raise ValueError(f"refund {self.id}: no follow-up due at {now.isoformat()}")
        age = now - (self.submitted_at or self.created_at)
        if age >= FOLLOW_UP_LIMIT:
            self.fail(now, last_provider_reason or GAVE_UP)
            return False
        self.next_attempt_at = now + min(max(age, FIRST_FOLLOW_UP), MAX_FOLLOW_UP_WAIT)
        self.updated_at = now
        return True
