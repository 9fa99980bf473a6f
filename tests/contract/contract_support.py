"""What the contract tests share: the `Backend` under test (built by `conftest.backend`) and
builders of aggregates in the states the tests need, made through the domain's own methods.

`Backend` bundles what a use case gets from the composition root: the unit-of-work factory,
the read side (`queries`), the one write outside a unit of work (`instructions`), the
idempotency store, and the post-commit `dispatcher` with a subscriber that appends every event
it hears to `events`.
"""
from __future__ import annotations

import asyncio
import secrets
from datetime import datetime, timedelta, timezone
from typing import Any

import attrs

from domain.catalog import DEFAULT_CATALOG
from domain.events import Event
from domain.membership import Membership, Proration
from domain.money import CNY, Money
from domain.refund import Refund
from domain.session import PaymentSession
from domain.transaction import Transaction, TransactionStatus, TransactionType
from ports.events import EventDispatcher
from ports.idempotency import IdempotencyStore
from ports.queries import PaymentQueries
from ports.repositories import InstructionsRepository
from ports.unit_of_work import UnitOfWorkFactory

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=timezone.utc)
HOUR = timedelta(hours=1)
MINUTE = timedelta(minutes=1)
TYPES = TransactionType
STATUS = TransactionStatus
WAIT = 10.0  # seconds: the bound of every wait for something that must happen
# How long a task that must be blocked is given to (wrongly) finish. Only ever used to show that
# something does NOT happen: a slow machine can make such a check weaker, never make it fail.
BLOCKED_WINDOW = 0.3


@attrs.frozen
class Backend:
    kind: str
    uow: UnitOfWorkFactory
    queries: PaymentQueries
    instructions: InstructionsRepository
    idempotency: IdempotencyStore
    dispatcher: EventDispatcher
    events: list[Event]  # every event the dispatcher delivered, in order

    @property
    def serialises_units_of_work(self) -> bool:
        """SQLite: a unit of work opened beside another waits until that one ends."""
        return self.kind == "sqlite"

    @property
    def is_sql(self) -> bool:
        return self.kind != "memory"


# ---------------------------------------------------------------------- builders
def new_id(prefix: str) -> str:
    return f"{prefix}_{secrets.token_hex(8)}"


def new_order_id(kind: str) -> str:
    return f"{kind}{secrets.token_hex(8).upper()}"


def a_transaction(user: str = "alice", *, at: datetime = T0, type: TransactionType = TYPES.PURCHASE_RECEIVES,
                  status: TransactionStatus | None = None, id: str | None = None,
                  order_id: str | None = None) -> Transaction:
    """A transaction without sessions (`status` forced when given, for history fixtures)."""
    common = dict(id=id or new_id("txn"), order_id=order_id or new_order_id("P"), user_id=user, now=at)
    if type is TYPES.PLAN_UPGRADE:
        proration = Proration(Money(967, CNY), Money(1967, CNY), Money(1000, CNY), at + timedelta(days=20))
        t = Transaction.plan_upgrade(plan_from=DEFAULT_CATALOG.plans[1].id, plan_to=DEFAULT_CATALOG.plans[2].id,
                                     proration=proration, payment_method="alipay", provider="mock", **common)
    elif type is TYPES.PLAN_DOWNGRADE:
        t = Transaction.plan_downgrade(plan_from=DEFAULT_CATALOG.plans[1].id, plan_to=DEFAULT_CATALOG.plans[0].id,
                                       zero=Money(0, CNY), **common)
    else:
        t = Transaction.purchase_receives(quote=DEFAULT_CATALOG.receives.quote(10), payment_method="wechat_pay",
                                          provider="mock", **common)
        if type is not TYPES.PURCHASE_RECEIVES:
            t = attrs.evolve(t, type=type)
    return t if status is None or t.status is status else attrs.evolve(t, status=status)


def open_on(transaction: Transaction, *, at: datetime | None = None, ttl: timedelta = HOUR,
            id: str | None = None, order_id: str | None = None) -> PaymentSession:
    """`transaction.open_session(…)` at `at` (default: its creation); the new session."""
    return transaction.open_session(
        id=id or new_id("ps"), order_id=order_id or new_order_id("S"), payment_method="wechat_pay",
        provider="mock", return_url="http://localhost/back", ttl=ttl, now=at or transaction.created_at).session


def a_purchase(user: str = "alice", *, at: datetime = T0, ttl: timedelta = HOUR) -> Transaction:
    """A pending purchase with one session opened at its creation, as `PurchaseReceives` adds it."""
    t = a_transaction(user, at=at)
    open_on(t, ttl=ttl)
    return t


def a_paid_purchase(user: str = "alice", *, at: datetime = T0) -> Transaction:
    t = a_purchase(user, at=at)
    t.confirm_payment(t.sessions[0].id, at + MINUTE)
    return t


def a_membership(user: str = "alice", at: datetime = T0) -> Membership:
    return Membership.start(user, DEFAULT_CATALOG.free_plan, at)


def a_refund(session: PaymentSession, at: datetime = T0, *, refund_order_id: str | None = None) -> Refund:
    return Refund.for_duplicate_payment(id=new_id("rf"), refund_order_id=refund_order_id or new_order_id("R"),
                                        session=session, now=at)


def state(aggregate: Any) -> dict[str, Any]:
    """Everything an aggregate stores (not its pending events); a transaction's sessions included,
    field for field (sessions compare by id only)."""
    found = {k: v for k, v in attrs.asdict(aggregate, recurse=False).items()
             if k not in ("events", "new_entries", "sessions")}
    if isinstance(aggregate, Transaction):
        found["sessions"] = [state(s) for s in aggregate.sessions]
    return found


def ids(aggregates: Any) -> list[str]:
    return [a.id for a in aggregates]


# ---------------------------------------------------------------------- storing and reading
async def store(backend: Backend, *aggregates: Any) -> None:
    """Add aggregates in one committed unit of work."""
    async with backend.uow() as uow:
        for aggregate in aggregates:
            if isinstance(aggregate, Transaction):
                await uow.transactions.add(aggregate)
            elif isinstance(aggregate, Membership):
                assert await uow.memberships.add(aggregate)
            elif isinstance(aggregate, Refund):
                await uow.refunds.add(aggregate)
            else:
                raise TypeError(aggregate)
        await uow.commit()


async def load(backend: Backend, transaction_id: str) -> Transaction | None:
    """The transaction as a unit of work reads it (not locked)."""
    async with backend.uow() as uow:
        return await uow.transactions.get(transaction_id)


async def not_finished_while_blocked(task: asyncio.Task) -> bool:
    """True when `task` is still running after `BLOCKED_WINDOW` (it waits, as it must)."""
    done, _ = await asyncio.wait({task}, timeout=BLOCKED_WINDOW)
    return not done
