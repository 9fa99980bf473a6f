"""Read models the use cases return: frozen snapshots of aggregates as a caller should see them
at one instant (a session past its `expires_at` reads `expired` even before the sweeper runs)."""
from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import attrs

from domain.catalog import Catalog
from domain.errors import DomainValidationError
from domain.ledger import LedgerKind
from domain.membership import Membership, Proration
from domain.money import Money
from domain.session import PaymentSession
from domain.transaction import Transaction
from ports.queries import LedgerLine


@attrs.frozen
class TransactionView:
    id: str
    order_id: str
    type: str
    status: str
    receives: int | None
    plan_from: str | None
    plan_to: str | None
    subtotal: Money
    discount: Money
    total: Money
    payment_method: str | None
    provider: str | None
    refunded_amount: Money
    cancel_reason: str | None
    failure_reason: str | None
    created_at: datetime
    updated_at: datetime
    completed_at: datetime | None
    price_variant: str | None = None  # "<experiment>/<variant>" that priced it (docs/experiments.md)

    @classmethod
    def of(cls, t: Transaction) -> TransactionView:
        return cls(
            id=t.id, order_id=t.order_id, type=t.type.value, status=t.status.value, receives=t.receives,
            plan_from=t.plan_from.value if t.plan_from else None, plan_to=t.plan_to.value if t.plan_to else None,
            subtotal=t.subtotal, discount=t.discount, total=t.total, payment_method=t.payment_method,
            provider=t.provider, refunded_amount=t.refunded_amount, cancel_reason=t.cancel_reason,
            failure_reason=t.failure_reason, created_at=t.created_at, updated_at=t.updated_at,
            completed_at=t.completed_at, price_variant=t.price_variant,
        )


@attrs.frozen
class SessionView:
    id: str
    transaction_id: str
    order_id: str
    status: str
    payment_method: str
    provider: str
    amount: Money
    payment_url: str | None
    qr_code: str | None
    expires_at: datetime
    created_at: datetime
    completed_at: datetime | None

    @classmethod
    def of(cls, s: PaymentSession, now: datetime) -> SessionView:
        return cls(
            id=s.id, transaction_id=s.transaction_id, order_id=s.order_id, status=s.status_at(now).value,
            payment_method=s.payment_method, provider=s.provider, amount=s.amount, payment_url=s.payment_url,
            qr_code=s.qr_code, expires_at=s.expires_at, created_at=s.created_at, completed_at=s.completed_at,
        )


@attrs.frozen
class ScheduledChangeView:
    plan: str
    effective_at: datetime


@attrs.frozen
class MembershipView:
    plan: str
    status: str
    current_period_start: datetime
    current_period_end: datetime
    scheduled_change: ScheduledChangeView | None
    balance: int
    allowance_remaining: int
    purchased_remaining: int
    monthly_allowance: int
    auto_renew: bool = False
    renewal_method_id: str | None = None
    next_renewal_at: datetime | None = None
    grace_until: datetime | None = None

    @classmethod
    def of(cls, m: Membership) -> MembershipView:
        change = m.scheduled_change
        return cls(
            plan=m.plan.value, status=m.status.value, current_period_start=m.current_period_start,
            current_period_end=m.current_period_end,
            scheduled_change=ScheduledChangeView(change.plan.value, change.effective_at) if change else None,
            balance=m.balance.total, allowance_remaining=m.allowance_remaining,
            purchased_remaining=m.purchased_remaining, monthly_allowance=m.monthly_allowance,
            auto_renew=m.auto_renew, renewal_method_id=m.renewal_method_id, next_renewal_at=m.next_renewal_at,
            grace_until=m.grace_until,
        )


@attrs.frozen
class ProrationView:
    credit: Money
    debit: Money
    charge: Money
    period_end: datetime | None

    @classmethod
    def of(cls, p: Proration) -> ProrationView:
        return cls(p.credit, p.debit, p.charge, p.period_end)


@attrs.frozen
class PaymentView:
    """A transaction with the session opened to pay it."""

    transaction: TransactionView
    session: SessionView


MAX_LIMIT = 100  # items of a list per call


def bounded(value: int, field: str, low: int, high: int | None) -> int:
    """`value` when it is a whole number from `low` to `high` (None: no upper bound)."""
    if type(value) is not int or value < low or (high is not None and value > high):
        bound = f"between {low} and {high}" if high is not None else f"at least {low}"
        raise DomainValidationError(f"Must be {bound}.", field=field)
    return value


def checked_cursor(starting_after: str | None, page: int | None) -> str | None:
    """`starting_after` when it may be used: not beside `page`, and a plausible id (a NUL never
    reaches storage); an impossible one is refused like an unknown one."""
    if starting_after is None:
        return None
    if page is not None:
        raise DomainValidationError("Cannot be combined with page.", field="starting_after")
    if not starting_after or "\x00" in starting_after or len(starting_after) > 255:
        raise unknown_cursor()
    return starting_after


def unknown_cursor() -> DomainValidationError:
    """A cursor that is not one of the caller's items of the list (unknown, or someone else's)."""
    return DomainValidationError("Must be the id of one of your items in this list.", field="starting_after")


@attrs.frozen
class Page:
    """A numbered page of a list (a caller may go on by cursor from its last item)."""

    items: Sequence
    page: int
    limit: int
    total: int

    @property
    def has_more(self) -> bool:
        return self.page * self.limit < self.total


@attrs.frozen
class CursorPage:
    """The items after a cursor (`starting_after`), and whether more follow: no page, no total."""

    items: Sequence
    has_more: bool

    @property
    def next_cursor(self) -> str | None:
        """The last item's id when more follow (the next call's `starting_after`), else None."""
        return self.items[-1].id if self.has_more and self.items else None


@attrs.frozen
class LedgerLineView:
    """A line of the receives ledger as the contract names it: `kind` is the contract's (the
    domain's `refund`, receives taken back from a refunded purchase, is `refund_hold`);
    `transaction_id` is set for the entries a transaction caused (a purchase and its refund,
    whose `reference` is that transaction), `reference` is the entry's cause as stored (the
    consumer's reference, `period:…` for an allowance, the transaction id)."""

    id: str
    kind: str
    delta: int
    balance_after: int
    transaction_id: str | None
    reference: str
    created_at: datetime

    @classmethod
    def of(cls, line: LedgerLine) -> LedgerLineView:
        entry = line.entry
        return cls(id=line.id, kind=LEDGER_KINDS[entry.kind], delta=entry.delta, balance_after=line.balance_after,
                   transaction_id=entry.reference if entry.kind in _FROM_A_TRANSACTION else None,
                   reference=entry.reference, created_at=entry.created_at)


LEDGER_KINDS = {
    LedgerKind.ALLOWANCE_GRANT: "allowance_grant",
    LedgerKind.ALLOWANCE_EXPIRY: "allowance_expiry",
    LedgerKind.PURCHASE: "purchase",
    LedgerKind.CONSUMPTION: "consumption",
    LedgerKind.REFUND: "refund_hold",
    LedgerKind.REFUND_RELEASE: "refund_release",
}
_FROM_A_TRANSACTION = frozenset({LedgerKind.PURCHASE, LedgerKind.REFUND, LedgerKind.REFUND_RELEASE})


@attrs.frozen
class CatalogView:
    catalog: Catalog
