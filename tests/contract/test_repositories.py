"""The contract of the repositories, the unit of work and the idempotency store
(`ports.repositories`, `ports.unit_of_work`, `ports.idempotency`), one suite run over every
adapter: the in-memory fakes, SQLite (a migrated temp file) and PostgreSQL (a migrated database
of the test session). Whatever passes here may be relied on by the use cases, whichever adapter
runs them; so the fakes stay honest.

Where the adapters legitimately differ, the test says so: SQLite serialises units of work (each
holds the write lock from its start), so a second unit of work opened beside a first waits for
it instead of running beside it.
"""
from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator, Callable
from datetime import datetime, timedelta, timezone
from typing import Any

import attrs
import pytest

from adapters.memory import InMemoryIdempotencyStore, in_memory_uow_factory
from adapters.sql import SqlIdempotencyStore, create_database, sql_uow_factory
from domain.catalog import DEFAULT_CATALOG
from domain.errors import IdempotencyKeyReusedError, IdempotencyRequestInProgressError
from domain.ledger import Balance, LedgerKind
from domain.membership import Membership, Proration
from domain.money import CNY, Money
from domain.refund import Refund, RefundStatus
from domain.session import PaymentSession, SessionStatus
from domain.transaction import Transaction, TransactionStatus, TransactionType
from ports.idempotency import IdempotencyClaim, IdempotencyScope, IdempotencyStore, StoredResponse
from ports.repositories import ConcurrentUpdateError, DuplicateKeyError, TransactionQuery
from ports.unit_of_work import UnitOfWork

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=timezone.utc)
HOUR = timedelta(hours=1)
TYPES = TransactionType
STATUS = TransactionStatus


# ---------------------------------------------------------------------- the adapters under test
@attrs.frozen
class Backend:
    kind: str
    uow: Callable[[], UnitOfWork]
    idempotency: IdempotencyStore

    @property
    def serialises_units_of_work(self) -> bool:
        """SQLite: a unit of work opened beside another waits until that one ends."""
        return self.kind == "sqlite"

    @property
    def is_sql(self) -> bool:
        return self.kind != "memory"


@pytest.fixture(params=["memory", "sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def backend(request: pytest.FixtureRequest) -> AsyncIterator[Backend]:
    if request.param == "memory":
        yield Backend("memory", in_memory_uow_factory(), InMemoryIdempotencyStore())
        return
    if request.param == "sqlite":
        database = create_database(request.getfixturevalue("fresh_sqlite_url"))
    else:
        database = create_database(request.getfixturevalue("clean_postgres_url"), min_size=1, max_size=6)
    await database.connect()
    try:
        yield Backend(request.param, sql_uow_factory(database), SqlIdempotencyStore(database))
    finally:
        await database.disconnect()


# ---------------------------------------------------------------------- builders
def new_id(prefix: str) -> str:
    return f"{prefix}_{secrets.token_hex(8)}"


def new_order_id(kind: str) -> str:
    return f"{kind}{secrets.token_hex(8).upper()}"


def a_transaction(user: str = "alice", *, at: datetime = T0, type: TransactionType = TYPES.PURCHASE_RECEIVES,
                  status: TransactionStatus | None = None, id: str | None = None,
                  order_id: str | None = None) -> Transaction:
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


def a_session(transaction: Transaction, *, at: datetime | None = None, ttl: timedelta = HOUR,
              status: SessionStatus = SessionStatus.OPEN) -> PaymentSession:
    at = at or transaction.created_at
    s = PaymentSession.open(id=new_id("ps"), transaction_id=transaction.id, user_id=transaction.user_id,
                            order_id=new_order_id("S"), payment_method="wechat_pay", provider="mock",
                            amount=transaction.total, return_url="http://localhost/back", expires_at=at + ttl, now=at)
    return s if status is SessionStatus.OPEN else attrs.evolve(s, status=status)


def a_membership(user: str = "alice", at: datetime = T0) -> Membership:
    return Membership.start(user, DEFAULT_CATALOG.free_plan, at)


def state(aggregate: Any) -> dict[str, Any]:
    """Everything an aggregate stores (not its pending events)."""
    return {k: v for k, v in attrs.asdict(aggregate, recurse=False).items() if k not in ("events", "new_entries")}


async def store(backend: Backend, *aggregates: Any) -> None:
    """Add aggregates (parents first) in one committed unit of work."""
    async with backend.uow() as uow:
        for aggregate in aggregates:
            if isinstance(aggregate, Transaction):
                await uow.transactions.add(aggregate)
            elif isinstance(aggregate, PaymentSession):
                await uow.sessions.add(aggregate)
            elif isinstance(aggregate, Membership):
                assert await uow.memberships.add(aggregate)
            elif isinstance(aggregate, Refund):
                await uow.refunds.add(aggregate)
            else:
                raise TypeError(aggregate)
        await uow.commit()


async def read_transaction(backend: Backend, transaction_id: str) -> Transaction | None:
    async with backend.uow() as uow:
        return await uow.transactions.get(transaction_id)


# ====================================================================== unit of work
async def test_nothing_is_stored_unless_committed(backend: Backend) -> None:
    t = a_transaction()
    async with backend.uow() as uow:
        await uow.transactions.add(t)
        assert (await uow.transactions.get(t.id)) is not None  # its own writes are visible to it
    assert await read_transaction(backend, t.id) is None


async def test_an_exception_rolls_back_every_write_of_the_block(backend: Backend) -> None:
    t = a_transaction()
    with pytest.raises(RuntimeError, match="boom"):
        async with backend.uow() as uow:
            await uow.transactions.add(t)
            await uow.sessions.add(a_session(t))
            assert await uow.memberships.add(a_membership())
            assert await uow.processed_events.add("mock", "evt_1", T0)
            assert await uow.consumptions.add("alice", "match-1", 1, T0)
            raise RuntimeError("boom")
    async with backend.uow() as uow:
        assert await uow.transactions.get(t.id) is None
        assert await uow.sessions.list_for_transaction(t.id) == []
        assert await uow.memberships.get("alice") is None
        assert await uow.memberships.ledger("alice") == []
        assert await uow.processed_events.add("mock", "evt_1", T0) is True
        assert await uow.consumptions.add("alice", "match-1", 1, T0) is True


async def test_explicit_rollback_discards_and_ends_the_block(backend: Backend) -> None:
    t = a_transaction()
    async with backend.uow() as uow:
        await uow.transactions.add(t)
        await uow.rollback()
    assert await read_transaction(backend, t.id) is None


async def test_a_committed_aggregate_reads_back_field_for_field(backend: Backend) -> None:
    upgrade = a_transaction(type=TYPES.PLAN_UPGRADE)
    cancelled = a_transaction(status=STATUS.CANCELLED)
    cancelled.cancel_reason, cancelled.failure_reason, cancelled.paid_session_id = "changed my mind", "declined", "ps_x"
    cancelled.completed_at = T0 + HOUR
    session = a_session(upgrade)
    session.attach_instructions("https://pay.example/x", "weixin://wxpay/bizpayurl?pr=abc", "ref-1", T0)
    membership = a_membership()
    membership.credit_purchase(7, upgrade.id, T0)
    membership.schedule_change(DEFAULT_CATALOG.free_plan, T0)
    refund = Refund.for_duplicate_payment(id=new_id("rf"), refund_order_id=new_order_id("R"), session=session, now=T0)
    expected = [state(a) for a in (upgrade, cancelled, session, membership, refund)]
    await store(backend, upgrade, cancelled, session, membership, refund)
    async with backend.uow() as uow:
        loaded = [await uow.transactions.get(upgrade.id), await uow.transactions.get(cancelled.id),
                  await uow.sessions.get(session.id), await uow.memberships.get("alice"),
                  await uow.refunds.get(refund.id)]
    assert [state(a) for a in loaded] == expected
    assert all(a.events == [] for a in loaded)


async def test_timestamps_read_back_as_the_same_aware_instants(backend: Backend) -> None:
    shanghai = timezone(timedelta(hours=8))
    t = a_transaction(at=datetime(2026, 3, 1, 20, 30, 15, 123456, tzinfo=shanghai))
    await store(backend, t)
    loaded = await read_transaction(backend, t.id)
    assert loaded.created_at == datetime(2026, 3, 1, 12, 30, 15, 123456, tzinfo=timezone.utc)
    assert loaded.created_at.utcoffset() is not None
    if backend.is_sql:
        assert loaded.created_at.utcoffset() == timedelta(0)


async def test_events_are_collected_once_after_commit_and_never_after_rollback(backend: Backend) -> None:
    t = a_transaction()
    uow = backend.uow()
    async with uow:
        await uow.transactions.add(t)
        await uow.memberships.add(a_membership())
        await uow.commit()
    events = uow.collect_events()
    assert {type(e).__name__ for e in events} >= {"TransactionCreated", "PeriodStarted"}
    assert uow.collect_events() == []

    uow = backend.uow()
    async with uow:
        loaded = await uow.transactions.get(t.id, for_update=True)
        loaded.cancel("no", T0)
        await uow.transactions.update(loaded)
    assert uow.collect_events() == []


async def test_a_unit_of_work_object_serves_one_block_at_a_time(backend: Backend) -> None:
    uow = backend.uow()
    async with uow:
        with pytest.raises(RuntimeError):
            await uow.__aenter__()
    async with uow:  # and can be used again afterwards
        assert await uow.transactions.get("txn_missing") is None


async def test_uncommitted_writes_are_invisible_to_other_units_of_work(backend: Backend) -> None:
    t = a_transaction()
    async with backend.uow() as writer:
        await writer.transactions.add(t)
        if backend.serialises_units_of_work:
            reader = asyncio.create_task(read_transaction(backend, t.id))  # waits for the writer to end
        else:
            assert await asyncio.wait_for(read_transaction(backend, t.id), timeout=10) is None
        await writer.commit()
    if backend.serialises_units_of_work:
        assert (await reader) is not None  # it could only read once the writer had committed
    assert await read_transaction(backend, t.id) is not None


# ====================================================================== versions and locking
async def test_add_keeps_the_version_and_update_bumps_it(backend: Backend) -> None:
    t = a_transaction()
    await store(backend, t)
    async with backend.uow() as uow:
        loaded = await uow.transactions.get(t.id, for_update=True)
        assert loaded.version == 0
        loaded.cancel("no", T0)
        await uow.transactions.update(loaded)
        assert loaded.version == 1
        loaded.failure_reason = "updated twice in one unit of work"
        await uow.transactions.update(loaded)
        await uow.commit()
    stored = await read_transaction(backend, t.id)
    assert (stored.version, stored.status, stored.failure_reason) == (
        2, STATUS.CANCELLED, "updated twice in one unit of work")


async def test_a_stored_aggregate_can_be_updated_in_the_unit_of_work_that_added_it(backend: Backend) -> None:
    async with backend.uow() as uow:
        membership = a_membership()
        assert await uow.memberships.add(membership)
        membership.consume(1, "match-1", T0)
        await uow.memberships.update(membership)
        await uow.commit()
    async with backend.uow() as uow:
        assert (await uow.memberships.get("alice")).allowance_remaining == 2


async def test_writes_to_held_rows_are_read_back_in_the_same_unit_of_work_and_committed_together(
        backend: Backend) -> None:
    # On PostgreSQL these updates are queued and sent in one statement (adapters.sql.batch):
    # reads in between must still see them, and they commit or roll back as one.
    t = a_transaction()
    s = a_session(t)
    await store(backend, t, s, a_membership())
    async with backend.uow() as uow:
        granted = await uow.memberships.ledger("alice")  # the first period's allowance
    async with backend.uow() as uow:
        membership = await uow.memberships.get("alice", for_update=True)
        transaction, sessions = await uow.transactions.get_with_sessions(t.id, for_update=True)
        membership.credit_purchase(10, t.id, T0)
        await uow.memberships.update(membership)
        sessions[0].complete(T0)
        transaction.mark_paid(sessions[0].id, T0)
        await uow.sessions.update(sessions[0])
        await uow.transactions.update(transaction)
        assert (await uow.transactions.get(t.id)).status is STATUS.SUCCEEDED
        membership.consume(1, "match-1", T0)
        await uow.memberships.update(membership)  # the same row again, in the same unit of work
        assert (await uow.memberships.get("alice")).balance == membership.balance
        await uow.rollback()
    async with backend.uow() as uow:
        assert (await uow.transactions.get(t.id)).status is STATUS.PENDING
        assert (await uow.memberships.get("alice")).purchased_remaining == 0
        assert await uow.memberships.ledger("alice") == granted
        membership = await uow.memberships.get("alice", for_update=True)
        membership.credit_purchase(10, t.id, T0)
        await uow.memberships.update(membership)
        await uow.commit()
    async with backend.uow() as uow:
        stored = await uow.memberships.get("alice")
        ledger = await uow.memberships.ledger("alice")
    assert stored.purchased_remaining == 10 and stored.version == 1
    assert Balance.of(ledger) == stored.balance


async def test_for_update_serialises_read_modify_write_so_no_update_is_lost(backend: Backend) -> None:
    await store(backend, a_membership())

    async def credit(n: int) -> None:
        async with backend.uow() as uow:
            membership = await uow.memberships.get("alice", for_update=True)
            membership.credit_purchase(1, f"txn_{n}", T0)
            await uow.memberships.update(membership)
            await uow.commit()

    await asyncio.gather(*(credit(n) for n in range(20)))
    async with backend.uow() as uow:
        membership = await uow.memberships.get("alice")
        ledger = await uow.memberships.ledger("alice")
    assert membership.purchased_remaining == 20
    assert membership.version == 20
    assert Balance.of(ledger) == membership.balance


async def test_a_stale_update_is_refused_instead_of_lost(backend: Backend) -> None:
    t = a_transaction()
    await store(backend, t)
    async with backend.uow() as uow:
        stale = await uow.transactions.get(t.id)  # read without a lock
    async with backend.uow() as uow:
        fresh = await uow.transactions.get(t.id, for_update=True)
        fresh.cancel("first", T0)
        await uow.transactions.update(fresh)
        await uow.commit()
    stale.expire(T0 + HOUR)
    async with backend.uow() as uow:
        with pytest.raises(ConcurrentUpdateError, match="changed"):
            await uow.transactions.update(stale)
        with pytest.raises(ConcurrentUpdateError, match="never stored"):
            await uow.transactions.update(a_transaction())
    assert (await read_transaction(backend, t.id)).status is STATUS.CANCELLED


# ====================================================================== unique keys
async def test_a_taken_transaction_id_or_order_id_raises_duplicate_key(backend: Backend) -> None:
    t = a_transaction()
    await store(backend, t)
    async with backend.uow() as uow:
        with pytest.raises(DuplicateKeyError):
            await uow.transactions.add(a_transaction(id=t.id))
        with pytest.raises(DuplicateKeyError):
            await uow.transactions.add(a_transaction(order_id=t.order_id))
        # the unit of work is still usable after a refused insert
        other = a_transaction()
        await uow.transactions.add(other)
        await uow.commit()
    assert await read_transaction(backend, other.id) is not None


async def test_unique_keys_hold_within_one_unit_of_work_too(backend: Backend) -> None:
    t = a_transaction()
    s = a_session(t)
    async with backend.uow() as uow:
        await uow.transactions.add(t)
        await uow.sessions.add(s)
        with pytest.raises(DuplicateKeyError):
            await uow.transactions.add(a_transaction(order_id=t.order_id))
        with pytest.raises(DuplicateKeyError):
            await uow.sessions.add(attrs.evolve(a_session(t), order_id=s.order_id))
        with pytest.raises(DuplicateKeyError):
            await uow.sessions.add(attrs.evolve(a_session(t), id=s.id))
        await uow.commit()


async def test_a_taken_refund_order_id_raises_duplicate_key(backend: Backend) -> None:
    t = a_transaction()
    s = a_session(t)
    refund = Refund.for_duplicate_payment(id=new_id("rf"), refund_order_id=new_order_id("R"), session=s, now=T0)
    await store(backend, t, s, refund)
    async with backend.uow() as uow:
        with pytest.raises(DuplicateKeyError):
            await uow.refunds.add(Refund.for_duplicate_payment(
                id=new_id("rf"), refund_order_id=refund.refund_order_id, session=s, now=T0))


async def test_a_provider_event_is_recorded_once_per_provider(backend: Backend) -> None:
    async with backend.uow() as uow:
        assert await uow.processed_events.add("mock", "evt_1", T0) is True
        assert await uow.processed_events.add("mock", "evt_1", T0) is False
        assert await uow.processed_events.add("alipay", "evt_1", T0) is True
        await uow.commit()
    async with backend.uow() as uow:
        assert await uow.processed_events.add("mock", "evt_1", T0 + HOUR) is False
        assert await uow.processed_events.add("mock", "evt_2", T0 + HOUR) is True


async def test_a_consumption_reference_is_unique_per_user(backend: Backend) -> None:
    async with backend.uow() as uow:
        assert await uow.consumptions.add("alice", "match-1", 2, T0) is True
        assert await uow.consumptions.add("alice", "match-1", 2, T0) is False
        assert await uow.consumptions.add("bob", "match-1", 1, T0) is True
        await uow.commit()
    async with backend.uow() as uow:
        assert await uow.consumptions.add("alice", "match-1", 5, T0) is False
        assert await uow.consumptions.add("alice", "match-2", 5, T0) is True


# ====================================================================== transactions: reads
async def test_get_scoped_to_a_user_reads_someone_elses_transaction_as_none(backend: Backend) -> None:
    t = a_transaction("alice")
    await store(backend, t)
    async with backend.uow() as uow:
        assert (await uow.transactions.get(t.id, user_id="alice")).id == t.id
        assert await uow.transactions.get(t.id, user_id="mallory") is None
        assert await uow.transactions.get(t.id, user_id="mallory", for_update=True) is None
        assert await uow.transactions.get("txn_missing") is None


async def test_pending_counts_and_pending_plan_changes_are_the_users_own(backend: Backend) -> None:
    upgrade = a_transaction(type=TYPES.PLAN_UPGRADE, at=T0 + 2 * HOUR)
    older_upgrade = a_transaction(type=TYPES.PLAN_UPGRADE, at=T0 + HOUR)
    await store(backend,
                a_transaction(), a_transaction(status=STATUS.SUCCEEDED), upgrade, older_upgrade,
                a_transaction(type=TYPES.PLAN_UPGRADE, status=STATUS.CANCELLED),
                a_transaction(type=TYPES.PLAN_DOWNGRADE),  # succeeded at once
                a_transaction("bob"), a_transaction("bob", type=TYPES.PLAN_UPGRADE))
    async with backend.uow() as uow:
        assert await uow.transactions.count_pending("alice") == 3
        assert await uow.transactions.count_pending("carol") == 0
        plain = await uow.transactions.list_pending_plan_changes("alice")
        locked = await uow.transactions.list_pending_plan_changes("alice", for_update=True)
    assert [t.id for t in plain] == [t.id for t in locked] == [older_upgrade.id, upgrade.id]


@pytest.fixture
async def history(backend: Backend) -> dict[str, Transaction]:
    """Alice's seven transactions (and one of Bob's), created an hour apart, two at the same instant."""
    h = {
        "p1": a_transaction(at=T0, id="txn_a1"),
        "p2": a_transaction(at=T0 + HOUR, status=STATUS.SUCCEEDED, id="txn_a2"),
        "up": a_transaction(at=T0 + 2 * HOUR, type=TYPES.PLAN_UPGRADE, status=STATUS.CANCELLED, id="txn_a3"),
        "down": a_transaction(at=T0 + 3 * HOUR, type=TYPES.PLAN_DOWNGRADE, id="txn_a4"),  # succeeded
        "same_b": a_transaction(at=T0 + 4 * HOUR, status=STATUS.EXPIRED, id="txn_b5"),
        "same_a": a_transaction(at=T0 + 4 * HOUR, status=STATUS.REFUNDED, id="txn_a5"),
        "renewal": a_transaction(at=T0 + 5 * HOUR, type=TYPES.PLAN_RENEWAL, status=STATUS.FAILED, id="txn_a6"),
        "bob": a_transaction("bob", at=T0 + 2 * HOUR, id="txn_bob"),
    }
    await store(backend, *h.values())
    return h


async def page(backend: Backend, **query: Any) -> tuple[list[str], int]:
    async with backend.uow() as uow:
        items, total = await uow.transactions.list_for_user("alice", TransactionQuery(**query))
    return [t.id for t in items], total


async def test_history_is_newest_first_with_ties_broken_by_id_descending(
        backend: Backend, history: dict[str, Transaction]) -> None:
    ids, total = await page(backend)
    assert ids == ["txn_a6", "txn_b5", "txn_a5", "txn_a4", "txn_a3", "txn_a2", "txn_a1"]
    assert total == 7


async def test_history_pages_report_the_total_of_all_matches(backend: Backend, history: dict) -> None:
    assert await page(backend, limit=3, page=1) == (["txn_a6", "txn_b5", "txn_a5"], 7)
    assert await page(backend, limit=3, page=2) == (["txn_a4", "txn_a3", "txn_a2"], 7)
    assert await page(backend, limit=3, page=3) == (["txn_a1"], 7)
    assert await page(backend, limit=3, page=4) == ([], 7)


async def test_history_filters_by_types_and_statuses(backend: Backend, history: dict) -> None:
    assert await page(backend, types=(TYPES.PLAN_UPGRADE, TYPES.PLAN_DOWNGRADE)) == (["txn_a4", "txn_a3"], 2)
    assert await page(backend, statuses=(STATUS.SUCCEEDED,)) == (["txn_a4", "txn_a2"], 2)
    assert await page(backend, types=(TYPES.PURCHASE_RECEIVES,),
                      statuses=(STATUS.PENDING, STATUS.EXPIRED, STATUS.REFUNDED)) == (
        ["txn_b5", "txn_a5", "txn_a1"], 3)
    assert await page(backend, statuses=(STATUS.PARTIALLY_REFUNDED,)) == ([], 0)


async def test_history_date_range_is_inclusive_on_created_at(backend: Backend, history: dict) -> None:
    assert await page(backend, date_from=T0 + HOUR, date_to=T0 + 3 * HOUR) == (["txn_a4", "txn_a3", "txn_a2"], 3)
    assert await page(backend, date_from=T0 + 4 * HOUR) == (["txn_a6", "txn_b5", "txn_a5"], 3)
    assert await page(backend, date_to=T0) == (["txn_a1"], 1)
    assert await page(backend, date_from=T0 + HOUR + timedelta(microseconds=1), date_to=T0 + 2 * HOUR,
                      limit=1) == (["txn_a3"], 1)


async def test_history_combines_every_filter_with_pagination(backend: Backend, history: dict) -> None:
    query = dict(types=(TYPES.PURCHASE_RECEIVES, TYPES.PLAN_RENEWAL), date_from=T0 + HOUR, limit=2)
    assert await page(backend, page=1, **query) == (["txn_a6", "txn_b5"], 4)
    assert await page(backend, page=2, **query) == (["txn_a5", "txn_a2"], 4)


# ====================================================================== sessions
async def test_sessions_of_a_transaction_are_listed_oldest_first(backend: Backend) -> None:
    t = a_transaction()
    second, first = a_session(t, at=T0 + HOUR), a_session(t, at=T0)
    other = a_transaction()
    await store(backend, t, second, first, other, a_session(other))
    async with backend.uow() as uow:
        listed = await uow.sessions.list_for_transaction(t.id)
        locked = await uow.sessions.list_for_transaction(t.id, for_update=True)
        by_order = await uow.sessions.get_by_order_id(second.order_id)
        by_order_locked = await uow.sessions.get_by_order_id(second.order_id, for_update=True)
        assert await uow.sessions.get_by_order_id("S0000MISSING") is None
        assert (await uow.sessions.get(first.id, user_id="alice")).id == first.id
        assert await uow.sessions.get(first.id, user_id="mallory") is None
    assert [s.id for s in listed] == [s.id for s in locked] == [first.id, second.id]
    assert by_order.id == by_order_locked.id == second.id


async def test_a_transaction_added_with_its_session_reports_the_pending_ones_before_it(backend: Backend) -> None:
    earlier = a_transaction()
    await store(backend, earlier, a_session(earlier), a_transaction("bob"))
    t = a_transaction(at=T0 + HOUR)
    s = a_session(t)
    fresh = a_transaction(at=T0 + HOUR)  # its own keys are free, its session's id is taken: all or none
    async with backend.uow() as uow:
        assert await uow.transactions.add_with_session(t, s) == 1  # alice's earlier one; not bob's, not t
        assert await uow.transactions.count_pending("alice") == 2
        with pytest.raises(DuplicateKeyError):
            await uow.transactions.add_with_session(fresh, attrs.evolve(a_session(fresh), id=s.id))
        with pytest.raises(DuplicateKeyError):
            await uow.transactions.add_with_session(a_transaction(id=t.id), a_session(fresh))
        await uow.commit()
    events = uow.collect_events()
    async with backend.uow() as uow:
        stored, sessions = await uow.transactions.get_with_sessions(t.id)
        assert await uow.transactions.get(fresh.id) is None
    assert state(stored) == state(t) and [state(x) for x in sessions] == [state(s)]
    assert len(events) == 2  # t's and s's creation; nothing of the refused pairs


async def test_a_transaction_is_read_with_its_sessions_oldest_first_and_scoped_to_its_owner(
        backend: Backend) -> None:
    t = a_transaction()
    second, first = a_session(t, at=T0 + HOUR), a_session(t, at=T0)
    lonely = a_transaction()  # stored without a session, like a plan change settled at once
    await store(backend, t, second, first, lonely)
    async with backend.uow() as uow:
        read = await uow.transactions.get_with_sessions(t.id)
        locked = await uow.transactions.get_with_sessions(t.id, user_id="alice", for_update=True)
        assert await uow.transactions.get_with_sessions(t.id, user_id="mallory") is None
        assert await uow.transactions.get_with_sessions("txn_missing", for_update=True) is None
        alone = await uow.transactions.get_with_sessions(lonely.id, for_update=True)
    for transaction, sessions in (read, locked):
        assert state(transaction) == state(t)
        assert [state(x) for x in sessions] == [state(first), state(second)]
    assert alone is not None and alone[0].id == lonely.id and alone[1] == []


async def test_sessions_due_for_expiry_are_the_open_ones_past_expires_at_soonest_first(backend: Backend) -> None:
    t = a_transaction()
    late = a_session(t, at=T0, ttl=2 * HOUR)
    soon = a_session(t, at=T0, ttl=HOUR)
    future = a_session(t, at=T0, ttl=5 * HOUR)
    cancelled = a_session(t, at=T0, ttl=HOUR, status=SessionStatus.CANCELLED)
    await store(backend, t, late, soon, future, cancelled)
    async with backend.uow() as uow:
        assert [s.id for s in await uow.sessions.list_due_for_expiry(T0 + 3 * HOUR, 10)] == [soon.id, late.id]
    async with backend.uow() as uow:
        assert [s.id for s in await uow.sessions.list_due_for_expiry(T0 + 3 * HOUR, 1)] == [soon.id]
    async with backend.uow() as uow:
        assert [s.id for s in await uow.sessions.list_due_for_expiry(T0 + HOUR, 10)] == [soon.id]  # expires_at <= now
        assert await uow.sessions.list_due_for_expiry(T0, 10) == []


async def test_sessions_due_for_a_check_are_those_whose_next_check_has_come_earliest_first(
        backend: Backend) -> None:
    t = a_transaction()
    first = a_session(t, at=T0)  # a new session is first checked a minute after it opens
    second = a_session(t, at=T0 + timedelta(minutes=2))
    never = attrs.evolve(a_session(t, at=T0), next_check_at=None)
    later = a_session(t, at=T0 + HOUR)
    await store(backend, t, later, never, second, first)
    due = first.next_check_at + timedelta(minutes=2)
    assert due == second.next_check_at  # next_check_at <= now
    async with backend.uow() as uow:
        assert [s.id for s in await uow.sessions.list_due_for_check(due, 10)] == [first.id, second.id]
    async with backend.uow() as uow:
        assert [s.id for s in await uow.sessions.list_due_for_check(due, 1)] == [first.id]
    async with backend.uow() as uow:
        assert await uow.sessions.list_due_for_check(T0, 10) == []


async def test_concurrent_reconcilers_never_take_the_same_session(backend: Backend) -> None:
    t = a_transaction()
    sessions = [a_session(t, at=T0 + timedelta(seconds=n)) for n in range(4)]
    await store(backend, t, *sessions)
    now = T0 + HOUR

    async def reconcile() -> list[str]:
        async with backend.uow() as uow:
            batch = await uow.sessions.list_due_for_check(now, 10)
            for s in batch:
                s.schedule_next_check(now + 2 * HOUR)  # past every check: nothing more to ask
                await uow.sessions.update(s)
            await uow.commit()
        return [s.id for s in batch]

    async with backend.uow() as first:
        mine = await first.sessions.list_due_for_check(now, 2)
        if backend.serialises_units_of_work:
            other = asyncio.create_task(reconcile())
        else:
            theirs = await asyncio.wait_for(reconcile(), timeout=10)
        for s in mine:
            s.schedule_next_check(now + 2 * HOUR)
            await first.sessions.update(s)
        await first.commit()
    if backend.serialises_units_of_work:
        theirs = await other
    assert [s.id for s in mine] == [s.id for s in sessions[:2]]
    assert theirs == [s.id for s in sessions[2:]]


# ====================================================================== the expiry sweep of transactions
async def test_expirable_transactions_are_pending_with_nothing_open_and_the_last_session_expired(
        backend: Backend) -> None:
    now = T0 + 3 * HOUR
    no_session = a_transaction(at=T0)  # never got a session: expirable from its creation
    expired = a_transaction(at=T0 + timedelta(minutes=1))
    expired_s = a_session(expired, ttl=HOUR)  # still stored open, but past expires_at
    failed = a_transaction(at=T0 + timedelta(minutes=2))
    failed_s = a_session(failed, ttl=HOUR, status=SessionStatus.FAILED)
    still_open = a_transaction(at=T0 + timedelta(minutes=3))
    old_s, open_s = a_session(still_open, ttl=HOUR), a_session(still_open, at=T0 + 2 * HOUR, ttl=HOUR + HOUR)
    cancelled_late = a_transaction(at=T0 + timedelta(minutes=4))  # its last session ends after now
    cancelled_s = a_session(cancelled_late, at=T0, ttl=4 * HOUR, status=SessionStatus.CANCELLED)
    paid = a_transaction(at=T0, status=STATUS.SUCCEEDED)
    too_new = a_transaction(at=now + timedelta(seconds=1))
    await store(backend, no_session, expired, expired_s, failed, failed_s, still_open, old_s, open_s,
                cancelled_late, cancelled_s, paid, too_new)
    async with backend.uow() as uow:
        found = await uow.transactions.list_expirable(now, 10)
    assert [t.id for t in found] == [no_session.id, expired.id, failed.id]
    async with backend.uow() as uow:
        assert [t.id for t in await uow.transactions.list_expirable(now, 2)] == [no_session.id, expired.id]
    async with backend.uow() as uow:
        assert [t.id for t in await uow.transactions.list_expirable(T0 + timedelta(minutes=1), 10)] == [no_session.id]


async def sweep(backend: Backend, now: datetime, limit: int) -> list[str]:
    """One sweeper: lock a batch of expirable transactions, expire them, commit."""
    async with backend.uow() as uow:
        batch = await uow.transactions.list_expirable(now, limit)
        for t in batch:
            t.expire(now)
            await uow.transactions.update(t)
        await uow.commit()
    return [t.id for t in batch]


async def test_concurrent_sweepers_never_take_the_same_transaction(backend: Backend) -> None:
    transactions = [a_transaction(at=T0 + timedelta(seconds=n)) for n in range(6)]
    await store(backend, *transactions)
    now = T0 + HOUR
    async with backend.uow() as first:
        mine = await first.transactions.list_expirable(now, 2)
        if backend.serialises_units_of_work:
            other = asyncio.create_task(sweep(backend, now, 10))  # waits for `first` to end
        else:
            # skips the rows `first` holds (SKIP LOCKED); it would wait for them (and time out) otherwise
            theirs = await asyncio.wait_for(sweep(backend, now, 10), timeout=10)
        for t in mine:
            t.expire(now)
            await first.transactions.update(t)
        await first.commit()
    if backend.serialises_units_of_work:
        theirs = await other
    assert [t.id for t in mine] == [t.id for t in transactions[:2]]
    assert theirs == [t.id for t in transactions[2:]]
    async with backend.uow() as uow:
        assert await uow.transactions.count_pending("alice") == 0


async def test_concurrent_session_sweepers_never_take_the_same_session(backend: Backend) -> None:
    t = a_transaction()
    sessions = [a_session(t, at=T0 + timedelta(seconds=n)) for n in range(4)]
    await store(backend, t, *sessions)
    now = T0 + 2 * HOUR

    async def sweep_sessions() -> list[str]:
        async with backend.uow() as uow:
            batch = await uow.sessions.list_due_for_expiry(now, 10)
            for s in batch:
                s.expire(now)
                await uow.sessions.update(s)
            await uow.commit()
        return [s.id for s in batch]

    async with backend.uow() as first:
        mine = await first.sessions.list_due_for_expiry(now, 1)
        if backend.serialises_units_of_work:
            other = asyncio.create_task(sweep_sessions())
        else:
            theirs = await asyncio.wait_for(sweep_sessions(), timeout=10)
        mine[0].expire(now)
        await first.sessions.update(mine[0])
        await first.commit()
    if backend.serialises_units_of_work:
        theirs = await other
    assert [s.id for s in mine] == [sessions[0].id]
    assert theirs == [s.id for s in sessions[1:]]


# ====================================================================== memberships and the ledger
async def test_adding_a_second_membership_for_a_user_changes_nothing(backend: Backend) -> None:
    first = a_membership()
    await store(backend, first)
    second = a_membership(at=T0 + HOUR)
    second.credit_purchase(5, "txn_x", T0 + HOUR)
    async with backend.uow() as uow:
        assert await uow.memberships.add(second) is False
        await uow.commit()
    assert second.new_entries  # not stored, so not cleared
    async with backend.uow() as uow:
        stored = await uow.memberships.get("alice")
        ledger = await uow.memberships.ledger("alice")
    assert (stored.anchor, stored.purchased_remaining) == (T0, 0)
    assert [e.kind for e in ledger] == [LedgerKind.ALLOWANCE_GRANT]


async def test_membership_changes_append_their_entries_to_the_ledger_in_order(backend: Backend) -> None:
    membership = a_membership()
    async with backend.uow() as uow:
        assert await uow.memberships.add(membership)
        assert membership.new_entries == []
        await uow.commit()
    async with backend.uow() as uow:
        membership = await uow.memberships.get("alice", for_update=True)
        membership.credit_purchase(10, "txn_1", T0 + HOUR)
        membership.consume(5, "match-1", T0 + 2 * HOUR)  # 3 from the allowance, 2 purchased
        await uow.memberships.update(membership)
        assert membership.new_entries == []
        assert len(await uow.memberships.ledger("alice")) == 4  # its own entries, before commit
        await uow.commit()
    async with backend.uow() as uow:
        membership = await uow.memberships.get("alice", for_update=True)
        membership.consume(1, "match-2", T0 + 3 * HOUR)
        await uow.memberships.update(membership)
        # rolled back: neither the change nor its entry stays
    async with backend.uow() as uow:
        stored = await uow.memberships.get("alice")
        ledger = await uow.memberships.ledger("alice")
        assert await uow.memberships.ledger("bob") == []
    assert [(e.kind, e.bucket.value, e.delta, e.reference) for e in ledger] == [
        (LedgerKind.ALLOWANCE_GRANT, "allowance", 3, ledger[0].reference),
        (LedgerKind.PURCHASE, "purchased", 10, "txn_1"),
        (LedgerKind.CONSUMPTION, "allowance", -3, "match-1"),
        (LedgerKind.CONSUMPTION, "purchased", -2, "match-1"),
    ]
    assert Balance.of(ledger) == stored.balance == Balance(0, 8)
    assert ledger[1].created_at == T0 + HOUR


# ====================================================================== refunds
async def test_refunds_are_stored_updated_and_listed_per_transaction(backend: Backend) -> None:
    t = a_transaction()
    s1, s2 = a_session(t), a_session(t, at=T0 + HOUR)
    r1 = Refund.for_duplicate_payment(id=new_id("rf"), refund_order_id=new_order_id("R"), session=s1, now=T0)
    r2 = Refund.for_duplicate_payment(id=new_id("rf"), refund_order_id=new_order_id("R"), session=s2, now=T0 + HOUR)
    await store(backend, t, s1, s2, r2, r1)
    async with backend.uow() as uow:
        refund = await uow.refunds.get(r1.id, for_update=True)
        refund.succeed("provider-refund-1", T0 + 2 * HOUR)
        await uow.refunds.update(refund)
        await uow.commit()
    async with backend.uow() as uow:
        listed = await uow.refunds.list_for_transaction(t.id)
        assert await uow.refunds.get("rf_missing") is None
        assert await uow.refunds.list_for_transaction("txn_missing") == []
    assert [r.id for r in listed] == [r1.id, r2.id]
    assert (listed[0].status, listed[0].provider_reference, listed[0].version) == (
        RefundStatus.SUCCEEDED, "provider-refund-1", 1)


# ====================================================================== the idempotency store
SCOPE = IdempotencyScope("alice", "POST /api/v1/payments/receives", "key-1")
LEASE = timedelta(seconds=30)
RESPONSE = StoredResponse(201, b'{"transaction": {"id": "txn_1"}}\xff', {"Content-Type": "application/json"})


async def claim(backend: Backend, scope=SCOPE, fingerprint="fp-1", now=T0) -> IdempotencyClaim:
    claimed = await backend.idempotency.begin(scope, fingerprint, now, LEASE)
    assert isinstance(claimed, IdempotencyClaim) and claimed.scope == scope
    return claimed


async def test_the_first_request_claims_its_key(backend: Backend) -> None:
    await claim(backend)


async def test_a_repeat_while_the_first_runs_is_in_progress(backend: Backend) -> None:
    await claim(backend)
    with pytest.raises(IdempotencyRequestInProgressError):
        await backend.idempotency.begin(SCOPE, "fp-1", T0 + LEASE - timedelta(microseconds=1), LEASE)


async def test_the_same_key_with_another_body_is_reused(backend: Backend) -> None:
    first = await claim(backend)
    with pytest.raises(IdempotencyKeyReusedError):
        await backend.idempotency.begin(SCOPE, "fp-2", T0, LEASE)
    assert await backend.idempotency.complete(first, RESPONSE, T0)
    with pytest.raises(IdempotencyKeyReusedError):
        await backend.idempotency.begin(SCOPE, "fp-2", T0 + HOUR, LEASE)


async def test_a_completed_request_is_replayed_byte_for_byte(backend: Backend) -> None:
    first = await claim(backend)
    assert await backend.idempotency.complete(first, RESPONSE, T0 + timedelta(seconds=1))
    replayed = await backend.idempotency.begin(SCOPE, "fp-1", T0 + HOUR, LEASE)
    assert replayed == RESPONSE
    assert isinstance(replayed.body, bytes)


async def test_a_claim_whose_lease_ran_out_is_taken_over(backend: Backend) -> None:
    await claim(backend)
    await claim(backend, now=T0 + LEASE)  # taken over
    with pytest.raises(IdempotencyRequestInProgressError):  # and held again by the new owner
        await backend.idempotency.begin(SCOPE, "fp-1", T0 + LEASE + timedelta(seconds=1), LEASE)


async def test_a_claim_taken_over_can_no_longer_complete_or_release(backend: Backend) -> None:
    original = await claim(backend)
    successor = await claim(backend, now=T0 + LEASE)
    assert not await backend.idempotency.complete(original, RESPONSE, T0 + LEASE)  # the slow original
    await backend.idempotency.release(original)
    with pytest.raises(IdempotencyRequestInProgressError):  # the successor still holds it
        await backend.idempotency.begin(SCOPE, "fp-1", T0 + LEASE + timedelta(seconds=1), LEASE)
    assert await backend.idempotency.complete(successor, RESPONSE, T0 + LEASE)
    assert await backend.idempotency.begin(SCOPE, "fp-1", T0 + HOUR, LEASE) == RESPONSE


async def test_keys_are_scoped_to_user_and_endpoint(backend: Backend) -> None:
    await claim(backend)
    for scope in (attrs.evolve(SCOPE, user_id="bob"), attrs.evolve(SCOPE, endpoint="POST /api/v1/payments/plan"),
                  attrs.evolve(SCOPE, key="key-2")):
        await claim(backend, scope, "fp-other")


async def test_a_released_key_can_be_used_again_even_with_another_body(backend: Backend) -> None:
    first = await claim(backend)
    await backend.idempotency.release(first)
    await backend.idempotency.release(first)  # releasing twice is harmless
    await claim(backend, fingerprint="fp-2")


async def test_completing_a_claim_nobody_holds_stores_nothing(backend: Backend) -> None:
    assert not await backend.idempotency.complete(IdempotencyClaim(SCOPE, T0 + LEASE), RESPONSE, T0)
    await claim(backend)  # the scope is still free


async def test_purge_deletes_keys_created_before_the_cutoff(backend: Backend) -> None:
    old = [attrs.evolve(SCOPE, key=f"old-{n}") for n in range(3)]
    claims = [await claim(backend, scope, "fp") for scope in old]
    assert await backend.idempotency.complete(claims[0], RESPONSE, T0)
    await claim(backend, now=T0 + 24 * HOUR)
    assert await backend.idempotency.purge(T0 + 24 * HOUR) == 3
    assert await backend.idempotency.purge(T0 + 24 * HOUR) == 0
    await claim(backend, old[0], "fp-new", now=T0 + 25 * HOUR)  # forgotten
    with pytest.raises(IdempotencyRequestInProgressError):  # kept
        await backend.idempotency.begin(SCOPE, "fp-1", T0 + 24 * HOUR, LEASE)


async def test_a_takeover_keeps_the_original_creation_time_for_purging(backend: Backend) -> None:
    await claim(backend)
    await claim(backend, now=T0 + HOUR)  # lease ran out: taken over
    assert await backend.idempotency.purge(T0 + timedelta(minutes=1)) == 1


# ====================================================================== read-only units of work
async def test_a_read_only_unit_of_work_reads_committed_data_and_cannot_commit(backend: Backend) -> None:
    t = a_transaction()
    await store(backend, t)
    async with backend.uow(read_only=True) as uow:
        assert (await uow.transactions.get(t.id)).id == t.id
        with pytest.raises(RuntimeError):
            await uow.commit()
    async with backend.uow(read_only=True) as uow:  # and leaves nothing open behind it
        assert (await uow.transactions.get(t.id)).status is STATUS.PENDING


# ====================================================================== provider instructions
async def test_instructions_are_attached_to_an_open_session_only(backend: Backend) -> None:
    t = a_transaction()
    open_one, ended = a_session(t), a_session(t)
    ended.cancel(T0)
    await store(backend, t, open_one, ended)
    for session in (open_one, ended):
        session.attach_instructions("https://pay.example/1", "weixin://pay/1", "ref_1", T0 + timedelta(seconds=1))

    async with backend.uow(single_statement=True) as uow:
        attached = [await uow.sessions.attach_instructions(s) for s in (open_one, ended)]
        await uow.commit()

    assert attached == [True, False]
    async with backend.uow(read_only=True) as uow:
        stored_open = await uow.sessions.get(open_one.id)
        stored_ended = await uow.sessions.get(ended.id)
    assert (stored_open.payment_url, stored_open.qr_code, stored_open.provider_reference) == (
        "https://pay.example/1", "weixin://pay/1", "ref_1")
    assert stored_open.version == open_one.version + 1  # a reader holding the old version cannot overwrite it
    assert (stored_ended.payment_url, stored_ended.status) == (None, ended.status)
