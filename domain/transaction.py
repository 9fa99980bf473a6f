"""The transaction aggregate: one purchase or plan change, paid through one or more sessions.

Transition table (`TRANSITIONS`):

    pending ──► succeeded ──► partially_refunded ──► refunded
       │            ▲   └────────────────────────────▲
       ├──► cancelled ─┤ (late payment: a confirmed payment is never lost)
       ├──► expired ───┘
       └──► failed       (charges made without the payer present, e.g. renewals)

Only `pending` moves on its own. A failed payment *attempt* does not fail the transaction: it
records `failure_reason` and the transaction stays pending, so the payer can retry. A
transaction is paid at most once: `paid_session_id` names the session that paid it.
"""
from __future__ import annotations

import enum
from datetime import datetime

import attrs

from domain import events
from domain.catalog import PlanId, ReceivesQuote
from domain.membership import Proration
from domain.money import Money
from domain.transitions import check_transition


class TransactionType(str, enum.Enum):
    PURCHASE_RECEIVES = "purchase_receives"
    PLAN_UPGRADE = "plan_upgrade"
    PLAN_DOWNGRADE = "plan_downgrade"
    PLAN_RENEWAL = "plan_renewal"


class TransactionStatus(str, enum.Enum):
    PENDING = "pending"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"
    EXPIRED = "expired"
    REFUNDED = "refunded"
    PARTIALLY_REFUNDED = "partially_refunded"


S = TransactionStatus
TRANSITIONS: dict[TransactionStatus, frozenset[TransactionStatus]] = {
    S.PENDING: frozenset({S.SUCCEEDED, S.FAILED, S.CANCELLED, S.EXPIRED}),
    S.CANCELLED: frozenset({S.SUCCEEDED}),
    S.EXPIRED: frozenset({S.SUCCEEDED}),
    S.SUCCEEDED: frozenset({S.PARTIALLY_REFUNDED, S.REFUNDED}),
    S.PARTIALLY_REFUNDED: frozenset({S.PARTIALLY_REFUNDED, S.REFUNDED}),
    S.FAILED: frozenset(),
    S.REFUNDED: frozenset(),
}
# Payment can still arrive for these; every other move out of them is refused.
LATE_PAYMENT_STATES = frozenset({S.CANCELLED, S.EXPIRED})
PAID_STATES = frozenset({S.SUCCEEDED, S.PARTIALLY_REFUNDED, S.REFUNDED})
PLAN_CHANGE_TYPES = frozenset({TransactionType.PLAN_UPGRADE, TransactionType.PLAN_DOWNGRADE})


@attrs.define(eq=False)
class Transaction:
    id: str
    order_id: str
    user_id: str
    type: TransactionType
    _status: TransactionStatus
    payment_method: str | None
    provider: str | None
    subtotal: Money
    discount: Money
    total: Money
    receives: int | None
    plan_from: PlanId | None
    plan_to: PlanId | None
    proration: Proration | None
    refunded_amount: Money
    cancel_reason: str | None
    failure_reason: str | None
    created_at: datetime
    updated_at: datetime
    completed_at: datetime | None
    paid_session_id: str | None = None
    version: int = 0
    events: list[events.Event] = attrs.field(factory=list)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Transaction) and other.id == self.id

    def __hash__(self) -> int:
        return hash(self.id)

    # ------------------------------------------------------------------ named constructors
    @classmethod
    def purchase_receives(cls, *, id: str, order_id: str, user_id: str, quote: ReceivesQuote,
                          payment_method: str, provider: str, now: datetime) -> Transaction:
        return cls._create(id=id, order_id=order_id, user_id=user_id, type=TransactionType.PURCHASE_RECEIVES,
                           status=S.PENDING, payment_method=payment_method, provider=provider,
                           subtotal=quote.subtotal, discount=quote.discount, total=quote.total,
                           receives=quote.quantity, now=now)

    @classmethod
    def plan_upgrade(cls, *, id: str, order_id: str, user_id: str, plan_from: PlanId, plan_to: PlanId,
                     proration: Proration, payment_method: str, provider: str | None, now: datetime) -> Transaction:
        return cls._create(id=id, order_id=order_id, user_id=user_id, type=TransactionType.PLAN_UPGRADE,
                           status=S.PENDING, payment_method=payment_method, provider=provider,
                           subtotal=proration.debit, discount=proration.credit, total=proration.charge,
                           plan_from=plan_from, plan_to=plan_to, proration=proration, now=now)

    @classmethod
    def plan_downgrade(cls, *, id: str, order_id: str, user_id: str, plan_from: PlanId, plan_to: PlanId,
                       zero: Money, now: datetime) -> Transaction:
        """A downgrade costs nothing and is settled at once (it takes effect at the period end)."""
        return cls._create(id=id, order_id=order_id, user_id=user_id, type=TransactionType.PLAN_DOWNGRADE,
                           status=S.SUCCEEDED, payment_method=None, provider=None, subtotal=zero,
                           discount=zero, total=zero, plan_from=plan_from, plan_to=plan_to, now=now,
                           completed_at=now)

    @classmethod
    def _create(cls, *, now: datetime, status: TransactionStatus, receives: int | None = None,
                plan_from: PlanId | None = None, plan_to: PlanId | None = None,
                proration: Proration | None = None, completed_at: datetime | None = None,
                **fields) -> Transaction:
        total: Money = fields["total"]
        transaction = cls(status=status, receives=receives, plan_from=plan_from, plan_to=plan_to,
                          proration=proration, refunded_amount=Money.zero(total.currency),
                          cancel_reason=None, failure_reason=None, created_at=now, updated_at=now,
                          completed_at=completed_at, **fields)
        transaction.events.append(events.TransactionCreated(
            now, *transaction._event_identity(), total.amount, total.currency.code))
        return transaction

    def _event_identity(self) -> tuple[str, str, str, str | None]:
        return self.id, self.user_id, self.type.value, self.provider

    # ------------------------------------------------------------------ reading
    @property
    def status(self) -> TransactionStatus:
        return self._status

    @property
    def is_pending(self) -> bool:
        return self._status is S.PENDING

    @property
    def is_paid(self) -> bool:
        return self.paid_session_id is not None or self._status in PAID_STATES

    # ------------------------------------------------------------------ transitions
    def _move(self, target: TransactionStatus, now: datetime) -> None:
        check_transition(TRANSITIONS, "transaction", self._status, target)
        self._status = target
        self.updated_at = now

    def mark_paid(self, session_id: str | None, now: datetime) -> None:
        """A payment for this transaction was confirmed by session `session_id` (None: nothing
        was due, a zero charge). Allowed from pending and, as a late payment, from cancelled or
        expired; never a second time."""
        late = self._status in LATE_PAYMENT_STATES
        self._move(S.SUCCEEDED, now)
        self.paid_session_id = session_id
        self.completed_at = now
        self.events.append(events.TransactionSucceeded(now, *self._event_identity(), session_id, late))

    def record_refund(self, amount: Money, now: datetime) -> None:
        """`amount` of what was paid goes back: `refunded` once all of it has, else
        `partially_refunded`. Never more than was paid."""
        refunded = self.refunded_amount + amount
        if amount.amount <= 0 or refunded > self.total:
            raise ValueError(f"cannot refund {amount.format()} of {self.total.format()} "
                             f"({self.refunded_amount.format()} refunded already)")
        self._move(S.REFUNDED if refunded == self.total else S.PARTIALLY_REFUNDED, now)
        self.refunded_amount = refunded

    def cancel(self, reason: str | None, now: datetime) -> None:
        self._move(S.CANCELLED, now)
        self.cancel_reason = reason
        self.events.append(events.TransactionCancelled(now, *self._event_identity(), reason))

    def expire(self, now: datetime) -> None:
        self._move(S.EXPIRED, now)
        self.events.append(events.TransactionExpired(now, *self._event_identity()))

    def fail(self, reason: str, now: datetime) -> None:
        """A charge made without the payer present (a renewal) failed for good."""
        self._move(S.FAILED, now)
        self.failure_reason = reason
        self.completed_at = now
        self.events.append(events.TransactionFailed(now, *self._event_identity(), reason))

    def record_failed_attempt(self, session_id: str, reason: str, now: datetime) -> None:
        """One payment attempt failed: remember why; the transaction stays as it is."""
        self.failure_reason = reason
        self.updated_at = now
        self.events.append(events.PaymentAttemptFailed(now, self.id, session_id, reason))
