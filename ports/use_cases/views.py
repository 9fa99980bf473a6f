"""Read models the use cases return: frozen snapshots of aggregates as a caller should see them
at one instant (a session past its `expires_at` reads `expired` even before the sweeper runs)."""
from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import attrs

from domain.catalog import Catalog
from domain.membership import Membership, Proration
from domain.money import Money
from domain.session import PaymentSession
from domain.transaction import Transaction


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

    @classmethod
    def of(cls, t: Transaction) -> TransactionView:
        return cls(
            id=t.id, order_id=t.order_id, type=t.type.value, status=t.status.value, receives=t.receives,
            plan_from=t.plan_from.value if t.plan_from else None, plan_to=t.plan_to.value if t.plan_to else None,
            subtotal=t.subtotal, discount=t.discount, total=t.total, payment_method=t.payment_method,
            provider=t.provider, refunded_amount=t.refunded_amount, cancel_reason=t.cancel_reason,
            failure_reason=t.failure_reason, created_at=t.created_at, updated_at=t.updated_at,
            completed_at=t.completed_at,
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

    @classmethod
    def of(cls, m: Membership) -> MembershipView:
        change = m.scheduled_change
        return cls(
            plan=m.plan.value, status=m.status.value, current_period_start=m.current_period_start,
            current_period_end=m.current_period_end,
            scheduled_change=ScheduledChangeView(change.plan.value, change.effective_at) if change else None,
            balance=m.balance.total, allowance_remaining=m.allowance_remaining,
            purchased_remaining=m.purchased_remaining, monthly_allowance=m.monthly_allowance,
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


@attrs.frozen
class Page:
    items: Sequence
    page: int
    limit: int
    total: int

    @property
    def has_more(self) -> bool:
        return self.page * self.limit < self.total


@attrs.frozen
class CatalogView:
    catalog: Catalog
