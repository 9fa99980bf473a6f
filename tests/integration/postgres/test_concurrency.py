"""Concurrency on PostgreSQL: 50 asyncio tasks at once, each unit of work on a connection of its
own (a pool of 50), driving the real use cases over the SQL adapter, built by the service's own
composition root (`entrypoints.container`). Row locks, unique keys and version checks must make
every race come out exactly as a serial run would.
"""
from __future__ import annotations

import asyncio
import inspect
from collections import Counter
from collections.abc import AsyncIterator
from datetime import datetime, timedelta, timezone
from pathlib import Path

import attrs
import pytest
from databases import Database
from dependency_injector import providers

from adapters.clock import FixedClock
from adapters.sql.database import create_database
from domain.catalog import DEFAULT_CATALOG
from domain.errors import (IdempotencyRequestInProgressError, InsufficientReceivesError, InvalidTransitionError,
                           TooManyPendingError)
from domain.ledger import Balance, LedgerKind
from domain.membership import Membership
from domain.transaction import TransactionStatus
from entrypoints.config import load_config
from entrypoints.container import build_container
from plugins.mock import MockProvider
from ports.idempotency import IdempotencyClaim, IdempotencyScope, IdempotencyStore
from ports.queries import PaymentQueries, TransactionQuery
from ports.unit_of_work import UnitOfWorkFactory
from ports.use_cases.notifications.handle_notification import HandleNotification, HandleNotificationCommand
from ports.use_cases.payments.purchase_receives import PurchaseReceives, PurchaseReceivesCommand
from ports.use_cases.plans.change_plan import ChangePlan, ChangePlanCommand
from ports.use_cases.plans.consume_receives import ConsumeReceives, ConsumeReceivesCommand
from ports.use_cases.sessions.open_session import OpenSession, OpenSessionCommand

pytestmark = pytest.mark.postgres

TASKS = 50
NOW = datetime(2026, 5, 20, 9, 30, tzinfo=timezone.utc)


@attrs.define
class App:
    """The use cases under test and the adapters they run on, from the composition root."""

    uow: UnitOfWorkFactory
    queries: PaymentQueries
    idempotency: IdempotencyStore
    clock: FixedClock
    mock: MockProvider
    consume: ConsumeReceives
    purchase: PurchaseReceives
    notify: HandleNotification
    change_plan: ChangePlan
    open_session: OpenSession


async def pool_of(url: str, size: int) -> AsyncIterator[Database]:
    """The composition root's database resource with a pool of `size` connections."""
    database = create_database(url, min_size=size, max_size=size)
    await database.connect()
    try:
        yield database
    finally:
        await database.disconnect()


@pytest.fixture
async def app(clean_postgres_url: str, tmp_path: Path) -> AsyncIterator[App]:
    config = load_config({
        "PAYMENTS_DATABASE_URL": clean_postgres_url, "PAYMENTS_PUBLIC_URL": "http://payments.test",
        "PAYMENTS_MOCK_WEBHOOK_SECRET": "concurrency-secret",
        "PAYMENTS_MOCK_STATE_PATH": str(tmp_path / "mock-remote.sqlite3")})
    container = build_container(config)
    clock = FixedClock(NOW)
    container.adapters.clock.override(providers.Object(clock))
    container.adapters.database.override(providers.Resource(pool_of, clean_postgres_url, TASKS))
    await container.init_resources()
    try:
        adapters, use_cases = container.adapters, container.use_cases
        yield App(uow=await made(adapters.uow), queries=await made(adapters.queries),
                  idempotency=await made(adapters.idempotency), clock=clock,
                  mock=(await made(adapters.payment_providers))["mock"],
                  consume=await made(use_cases.consume_receives), purchase=await made(use_cases.purchase_receives),
                  notify=await made(use_cases.handle_notification),
                  change_plan=await made(use_cases.change_plan), open_session=await made(use_cases.open_session))
    finally:
        await container.shutdown_resources()


async def made(provider):
    """What a provider makes; those that depend on an async resource hand out an awaitable."""
    value = provider()
    return await value if inspect.isawaitable(value) else value


async def all_at_once(*calls) -> list:
    """Run the coroutines concurrently; results and exceptions in order."""
    return await asyncio.gather(*calls, return_exceptions=True)


async def given_membership(app: App, user: str, purchased: int) -> None:
    membership = Membership.start(user, DEFAULT_CATALOG.free_plan, NOW)  # basic: 3 a month
    membership.credit_purchase(purchased, "txn_seed", NOW)
    async with app.uow() as uow:
        assert await uow.memberships.add(membership)
        await uow.commit()


async def stored(app: App, user: str) -> tuple[Membership, list]:
    return await app.queries.membership(user), await app.queries.ledger(user)


def outcomes(results: list) -> Counter:
    return Counter(type(r).__name__ for r in results)


async def test_concurrent_consumes_never_overdraw_and_exactly_the_balance_succeeds(app: App) -> None:
    await given_membership(app, "alice", purchased=30)  # balance 33
    results = await all_at_once(*(app.consume(ConsumeReceivesCommand("alice", 1, f"match-{n}"))
                                  for n in range(TASKS)))
    assert outcomes(results) == {"MembershipView": 33, "InsufficientReceivesError": TASKS - 33}
    membership, ledger = await stored(app, "alice")
    assert membership.balance == Balance(0, 0)
    assert Balance.of(ledger) == membership.balance
    consumed = {e.reference for e in ledger if e.kind is LedgerKind.CONSUMPTION}
    assert len(consumed) == 33
    assert all(r.balance == 0 for r in results if isinstance(r, InsufficientReceivesError))  # refused only when empty


async def test_concurrent_consumes_with_one_reference_consume_once(app: App) -> None:
    await given_membership(app, "alice", purchased=30)
    results = await all_at_once(*(app.consume(ConsumeReceivesCommand("alice", 2, "match-1")) for _ in range(TASKS)))
    assert outcomes(results) == {"MembershipView": TASKS}  # the repeats answer the current state
    membership, ledger = await stored(app, "alice")
    assert membership.balance.total == 31
    assert Balance.of(ledger) == membership.balance


async def test_concurrent_first_uses_create_one_membership_and_spend_its_allowance_once(app: App) -> None:
    results = await all_at_once(*(app.consume(ConsumeReceivesCommand("newcomer", 1, f"match-{n}"))
                                  for n in range(TASKS)))
    assert outcomes(results) == {"MembershipView": 3, "InsufficientReceivesError": TASKS - 3}
    membership, ledger = await stored(app, "newcomer")
    assert membership.balance.total == 0
    assert [e.kind for e in ledger].count(LedgerKind.ALLOWANCE_GRANT) == 1


async def _bought(app: App, user: str = "alice"):
    bought = await app.purchase(PurchaseReceivesCommand(user, 10, "wechat_pay"))
    return bought.transaction.id, bought.session.order_id


async def test_a_notification_delivered_many_times_at_once_credits_once(app: App) -> None:
    transaction_id, order_id = await _bought(app)
    headers, body = app.mock.settle(order_id, succeeded=True)
    results = await all_at_once(*(app.notify(HandleNotificationCommand("mock", headers, body))
                                  for _ in range(TASKS)))
    assert Counter(r.effect for r in results) == {"applied": 1, "duplicate": TASKS - 1}
    membership, ledger = await stored(app, "alice")
    assert membership.purchased_remaining == 10
    assert [e.reference for e in ledger if e.kind is LedgerKind.PURCHASE] == [transaction_id]
    assert (await app.queries.transaction(transaction_id)).status is TransactionStatus.SUCCEEDED


async def test_one_payment_notified_under_many_event_ids_at_once_credits_once(app: App) -> None:
    transaction_id, order_id = await _bought(app)
    deliveries = [app.mock.settle(order_id, succeeded=True) for _ in range(TASKS)]  # each a new event id
    results = await all_at_once(*(app.notify(HandleNotificationCommand("mock", h, b)) for h, b in deliveries))
    assert Counter(r.effect for r in results) == {"applied": 1, "duplicate": TASKS - 1}
    membership, ledger = await stored(app, "alice")
    assert membership.purchased_remaining == 10
    assert sum(1 for e in ledger if e.kind is LedgerKind.PURCHASE) == 1
    assert await app.queries.refunds_of(transaction_id) == []


async def test_confirmations_purchases_and_plan_changes_of_one_user_at_once_never_deadlock(app: App) -> None:
    # Each takes the user's locks in the order membership -> transaction -> session (a
    # confirmation in one statement): PostgreSQL would break a deadlock by failing one of them,
    # which a confirmation answers with "retry".
    bought = [await _bought(app) for _ in range(4)]
    deliveries = [app.mock.settle(order_id, succeeded=True) for _, order_id in bought for _ in range(2)]
    results = await asyncio.wait_for(all_at_once(
        *(app.notify(HandleNotificationCommand("mock", h, b)) for h, b in deliveries),
        app.open_session(OpenSessionCommand("alice", bought[0][0], "wechat_pay")),
        app.change_plan(ChangePlanCommand("alice", "pro", "wechat_pay")),
        *(app.purchase(PurchaseReceivesCommand("alice", 1, "wechat_pay")) for _ in range(2)),
        *(app.consume(ConsumeReceivesCommand("alice", 1, f"match-{n}")) for n in range(5))), 60)
    confirmations, others = results[:len(deliveries)], results[len(deliveries):]
    assert Counter(r.effect for r in confirmations) == {"applied": 4, "duplicate": 4}
    expected = (InvalidTransitionError, TooManyPendingError, InsufficientReceivesError)  # lost a race, as serially
    assert not [r for r in others if isinstance(r, Exception) and not isinstance(r, expected)], others
    for transaction_id, _ in bought:
        assert (await app.queries.transaction(transaction_id)).status is TransactionStatus.SUCCEEDED
    membership, ledger = await stored(app, "alice")
    assert sorted(e.reference for e in ledger if e.kind is LedgerKind.PURCHASE) == sorted(t for t, _ in bought)
    assert Balance.of(ledger) == membership.balance


async def test_concurrent_purchases_respect_the_pending_limit(app: App) -> None:
    results = await all_at_once(*(app.purchase(PurchaseReceivesCommand("alice", 1, "mock")) for _ in range(TASKS)))
    assert outcomes(results) == {"PaymentView": 5, "TooManyPendingError": TASKS - 5}
    pending = TransactionQuery(statuses=(TransactionStatus.PENDING,))
    assert (await app.queries.history("alice", pending))[1] == 5


async def test_concurrent_claims_of_one_idempotency_key_have_exactly_one_winner(app: App) -> None:
    scope = IdempotencyScope("alice", "POST /api/v1/payments/receives", "key-1")
    results = await all_at_once(*(app.idempotency.begin(scope, "fp", NOW, timedelta(seconds=30))
                                  for _ in range(TASKS)))
    claims = [r for r in results if isinstance(r, IdempotencyClaim)]
    assert len(claims) == 1
    assert all(isinstance(r, IdempotencyRequestInProgressError) for r in results if r not in claims)


async def test_concurrent_takeovers_of_an_abandoned_key_have_exactly_one_winner(app: App) -> None:
    scope = IdempotencyScope("alice", "POST /api/v1/payments/receives", "key-1")
    first = await app.idempotency.begin(scope, "fp", NOW, timedelta(seconds=30))  # then its process died
    assert isinstance(first, IdempotencyClaim)
    later = NOW + timedelta(minutes=1)
    results = await all_at_once(*(app.idempotency.begin(scope, "fp", later, timedelta(seconds=30))
                                  for _ in range(TASKS)))
    claims = [r for r in results if isinstance(r, IdempotencyClaim)]
    assert len(claims) == 1
    assert all(isinstance(r, IdempotencyRequestInProgressError) for r in results if r not in claims)
