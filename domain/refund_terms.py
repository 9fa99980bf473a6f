"""What can be refunded, and exactly how much: the terms of a new refund of a transaction.

- Only a `succeeded` or `partially_refunded` transaction of type `purchase_receives`,
  `plan_upgrade` or `plan_renewal` is refundable, with at most one open (`requested` or
  `processing`) refund at a time; a user asks within the refund window after `completed_at`
  (admins are not bound by it).
- Receives: n receives, from 1 to those of the purchase not yet refunded and at most the user's
  `purchased_remaining` (receives already used are not refundable); by default as many as that
  allows. Amount = round_half_up(total × n ÷ the purchase's receives), except that the refund that
  brings the purchase's refunded receives to all of them takes exactly what is left (total − what
  earlier refunds took), so the refunds of a purchase add up to its total. (No refund ever takes
  more than what is left: with the service's catalogs the rounding never reaches that bound.)
- Plans: a paid plan transaction of the current period (the member's plan is still the one it
  paid for): round_half_up(total × (period_end − now) ÷ (period_end − completed_at)), in whole
  seconds, fixed at the request; the refund ends the plan.
- Admin refunds: any amount from 1 fen to what is left (default: all of it), and optionally
  receives to take back (within the same bounds as above); they never end a plan.

"What earlier refunds took" counts every refund of the sale that was not rejected or cancelled
(`Refund.counts_against_transaction`): a failed refund may still be retried. Automatic refunds
return another session's payment and are not counted.
"""
from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta
from fractions import Fraction

import attrs

from domain.errors import ConflictError, DomainValidationError
from domain.membership import Membership
from domain.money import Money, round_half_up
from domain.period import whole_seconds
from domain.refund import Refund
from domain.transaction import Transaction, TransactionStatus, TransactionType

REFUNDABLE_TYPES = frozenset({TransactionType.PURCHASE_RECEIVES, TransactionType.PLAN_UPGRADE,
                              TransactionType.PLAN_RENEWAL})
REFUNDABLE_STATES = frozenset({TransactionStatus.SUCCEEDED, TransactionStatus.PARTIALLY_REFUNDED})


class NotRefundableError(ConflictError):
    """Nothing of this transaction can be refunded as asked; the message says why."""

    code = "not_refundable"


class RefundInProgressError(ConflictError):
    code = "refund_in_progress"

    def __init__(self, refund_id: str) -> None:
        super().__init__(f"Refund {refund_id} of this transaction is still open; wait until it ends.")
        self.refund_id = refund_id


@attrs.frozen
class RefundTerms:
    transaction_id: str
    amount: Money
    receives: int | None
    ends_plan: bool


@attrs.frozen
class Refunded:
    """What the refunds of a transaction have taken so far."""

    amount: Money
    receives: int

    @classmethod
    def of(cls, transaction: Transaction, refunds: Iterable[Refund]) -> Refunded:
        counted = [r for r in refunds if r.transaction_id == transaction.id and r.counts_against_transaction]
        amount = Money.zero(transaction.total.currency)
        for refund in counted:
            amount = amount + refund.amount
        return cls(amount, sum(r.receives or 0 for r in counted))


def user_refund_terms(transaction: Transaction, refunds: Iterable[Refund], membership: Membership,
                      now: datetime, *, window: timedelta, receives: int | None = None) -> RefundTerms:
    """The refund a user asking now would get (`membership` rolled forward to `now`)."""
    refunds = list(refunds)
    _check_refundable(transaction, refunds)
    if transaction.completed_at is None or now > transaction.completed_at + window:
        raise NotRefundableError(f"The refund window of {window.days} days after the payment has passed.")
    taken = Refunded.of(transaction, refunds)
    left = _left(transaction, taken)
    if transaction.type is TransactionType.PURCHASE_RECEIVES:
        count = _receives_to_refund(transaction, taken, membership, receives, default=True)
        return RefundTerms(transaction.id, _receives_amount(transaction, taken, count, left), count, False)
    if receives is not None:
        raise DomainValidationError("Only a purchase of receives refunds receives.", field="receives")
    return RefundTerms(transaction.id, _unused_share(transaction, taken, membership, now), None, True)


def admin_refund_terms(transaction: Transaction, refunds: Iterable[Refund], membership: Membership, *,
                       amount: int | None = None, receives: int | None = None) -> RefundTerms:
    """An admin's refund: `amount` fen (default all that is left), taking back `receives`
    purchased receives when given (none otherwise). Not bound by the window; never ends a plan."""
    refunds = list(refunds)
    _check_refundable(transaction, refunds)
    taken = Refunded.of(transaction, refunds)
    left = _left(transaction, taken)
    if amount is not None and amount < 1:
        raise DomainValidationError("Must be at least 1.", field="amount")
    if amount is not None and amount > left.amount:
        raise NotRefundableError(f"At most {left.amount} fen of this transaction is left to refund.")
    count = None
    if receives is not None:
        if transaction.type is not TransactionType.PURCHASE_RECEIVES:
            raise DomainValidationError("Only a purchase of receives refunds receives.", field="receives")
        count = _receives_to_refund(transaction, taken, membership, receives, default=False)
    return RefundTerms(transaction.id, left if amount is None else Money(amount, left.currency), count, False)


def _check_refundable(transaction: Transaction, refunds: list[Refund]) -> None:
    if transaction.type not in REFUNDABLE_TYPES:
        raise NotRefundableError(f"A {transaction.type.value} transaction cannot be refunded.")
    if transaction.status not in REFUNDABLE_STATES:
        raise NotRefundableError(
            f"Only a succeeded or partially refunded transaction can be refunded; this one is "
            f"{transaction.status.value}.")
    open_refund = next((r for r in refunds if r.transaction_id == transaction.id and r.is_open
                        and r.counts_against_transaction), None)
    if open_refund is not None:
        raise RefundInProgressError(open_refund.id)


def _left(transaction: Transaction, taken: Refunded) -> Money:
    left = transaction.total - taken.amount
    if left.amount <= 0:
        raise NotRefundableError("Nothing is left to refund: this transaction has been refunded in full.")
    return left


def _receives_to_refund(transaction: Transaction, taken: Refunded, membership: Membership,
                        receives: int | None, *, default: bool) -> int:
    bought = transaction.receives or 0
    not_refunded = bought - taken.receives
    if not_refunded <= 0:
        raise NotRefundableError("Every receive of this purchase has been refunded already.")
    available = min(not_refunded, membership.purchased_remaining)
    if receives is None and default:
        if available <= 0:
            raise NotRefundableError("The receives of this purchase have been used: none is left to refund.")
        return available
    assert receives is not None
    if receives < 1:
        raise DomainValidationError("Must be at least 1.", field="receives")
    if receives > not_refunded:
        raise NotRefundableError(f"Only {not_refunded} receives of this purchase are left to refund.")
    if receives > membership.purchased_remaining:
        raise NotRefundableError(
            f"Receives already used are not refundable: only {membership.purchased_remaining} of your "
            "purchased receives are left.")
    return receives


def _receives_amount(transaction: Transaction, taken: Refunded, count: int, left: Money) -> Money:
    bought = transaction.receives or 0
    if taken.receives + count == bought:
        return left  # the last refund of the purchase takes exactly what is left
    amount = min(round_half_up(Fraction(transaction.total.amount * count, bought)), left.amount)
    if amount <= 0:
        raise NotRefundableError("Nothing is left to refund for these receives.")
    return Money(amount, left.currency)


def check_plan_still_current(transaction: Transaction, membership: Membership, now: datetime) -> None:
    """A plan refund is for the member's current plan and period: refused once they have left it
    (another plan change, a new period), at the request and again at approval."""
    completed = transaction.completed_at
    end = membership.current_period_end
    current = (completed is not None and transaction.plan_to is not None and membership.plan == transaction.plan_to
               and membership.current_period_start <= completed < end and now < end)
    if not current:
        raise NotRefundableError("Only the payment of your current plan and period can be refunded.")


def _unused_share(transaction: Transaction, taken: Refunded, membership: Membership, now: datetime) -> Money:
    completed = transaction.completed_at
    assert completed is not None
    end = membership.current_period_end
    check_plan_still_current(transaction, membership, now)
    if taken.amount.amount > 0:
        raise NotRefundableError("This plan payment has been refunded already.")
    amount = round_half_up(Fraction(transaction.total.amount * whole_seconds(end - now),
                                    max(whole_seconds(end - completed), 1)))
    if amount <= 0:
        raise NotRefundableError("Nothing is left to refund: the period is over or nothing was paid.")
    return Money(min(amount, transaction.total.amount), transaction.total.currency)
