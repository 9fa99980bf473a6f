"""The contract of the unit of work (`ports.unit_of_work`): nothing is stored unless committed,
an exception or a rollback discards every write of the block, committed aggregates read back
field for field, row locks serialise read-modify-write, and a block's own writes are visible to
it before commit.

Where the adapters legitimately differ, the test says so: SQLite serialises units of work (each
holds the write lock from its start), so a second unit of work opened beside a first waits for
it instead of running beside it.
"""
from __future__ import annotations

import asyncio
from datetime import datetime, timedelta, timezone

import pytest

from contract_support import (
    HOUR,
    MINUTE,
    STATUS,
    T0,
    TYPES,
    WAIT,
    Backend,
    a_membership,
    a_paid_purchase,
    a_purchase,
    a_refund,
    a_transaction,
    load,
    open_on,
    state,
    store,
)
from domain.catalog import DEFAULT_CATALOG
from domain.ledger import Balance, LedgerKind
from domain.money import Money


async def test_nothing_is_stored_unless_committed(backend: Backend) -> None:
    t = a_purchase()
    async with backend.uow() as uow:
        assert await uow.transactions.add(t) == 0
        assert (await uow.transactions.get(t.id)).sessions[0].id == t.sessions[0].id  # its own writes
    assert await load(backend, t.id) is None
    assert await backend.queries.session(t.sessions[0].id) is None


async def test_an_exception_rolls_back_every_write_of_the_block(backend: Backend) -> None:
    t = a_purchase()
    with pytest.raises(RuntimeError, match="boom"):
        async with backend.uow() as uow:
            await uow.transactions.add(t)
            membership = a_membership()
            membership.credit_purchase(3, t.id, T0)
            assert await uow.memberships.add(membership)
            await uow.refunds.add(a_refund(t.sessions[0]))
            assert await uow.processed_events.add("mock", "evt_1", T0)
            assert await uow.consumptions.add("alice", "match-1", 1, T0)
            raise RuntimeError("boom")
    async with backend.uow() as uow:
        assert await uow.transactions.get(t.id) is None
        assert await uow.transactions.get_by_session_order_id(t.sessions[0].order_id) is None
        assert await uow.memberships.get("alice") is None
        assert await uow.processed_events.add("mock", "evt_1", T0) is True
        assert await uow.consumptions.add("alice", "match-1", 1, T0) is True
    assert await backend.queries.session(t.sessions[0].id) is None
    assert await backend.queries.ledger("alice") == []
    assert await backend.queries.refunds_of(t.id) == []


async def test_explicit_rollback_discards_and_ends_the_block(backend: Backend) -> None:
    t = a_purchase()
    async with backend.uow() as uow:
        await uow.transactions.add(t)
        await uow.rollback()
    assert await load(backend, t.id) is None


async def test_leaving_a_block_without_commit_discards_an_update(backend: Backend) -> None:
    t = a_purchase()
    await store(backend, t)
    async with backend.uow() as uow:
        loaded = await uow.transactions.get(t.id, for_update=True)
        loaded.cancel("no", T0 + MINUTE)
        await uow.transactions.update(loaded)
    again = await load(backend, t.id)
    assert (again.status, again.version, again.sessions[0].status.value, again.sessions[0].version) == (
        STATUS.PENDING, 0, "open", 0)


async def test_a_committed_aggregate_reads_back_field_for_field(backend: Backend) -> None:
    upgrade = a_transaction(type=TYPES.PLAN_UPGRADE)
    first = open_on(upgrade)
    upgrade.end_attempt(first.id, closed=False, reason="declined", now=T0 + MINUTE)
    second = open_on(upgrade, at=T0 + 2 * MINUTE)
    second.attach_instructions("https://pay.example/x", "weixin://wxpay/bizpayurl?pr=abc", "ref-1", T0 + 3 * MINUTE)
    upgrade.confirm_payment(second.id, T0 + 4 * MINUTE)  # paid: completed_at, paid_session_id, next_check_at None
    cancelled = a_transaction(at=T0 + HOUR, status=STATUS.CANCELLED)
    cancelled.cancel_reason, cancelled.failure_reason = "changed my mind", "declined"
    cancelled.completed_at = T0 + 2 * HOUR
    downgrade = a_transaction(type=TYPES.PLAN_DOWNGRADE)  # settled at once, without a session
    membership = a_membership()
    membership.credit_purchase(7, upgrade.id, T0)
    membership.schedule_change(DEFAULT_CATALOG.free_plan, T0)
    refund = a_refund(second)
    expected = [state(a) for a in (upgrade, cancelled, downgrade, membership, refund)]
    await store(backend, upgrade, cancelled, downgrade, membership, refund)
    async with backend.uow() as uow:
        loaded = [await uow.transactions.get(upgrade.id), await uow.transactions.get(cancelled.id),
                  await uow.transactions.get(downgrade.id), await uow.memberships.get("alice"),
                  await uow.refunds.get(refund.id)]
    assert [state(a) for a in loaded] == expected
    assert all(a.events == [] for a in loaded)
    assert all(s.events == [] for s in loaded[0].sessions)


async def test_timestamps_read_back_as_the_same_aware_instants(backend: Backend) -> None:
    shanghai = timezone(timedelta(hours=8))
    t = a_purchase(at=datetime(2026, 3, 1, 20, 30, 15, 123456, tzinfo=shanghai))
    await store(backend, t)
    loaded = await load(backend, t.id)
    session = loaded.sessions[0]
    assert loaded.created_at == session.created_at == datetime(2026, 3, 1, 12, 30, 15, 123456, tzinfo=timezone.utc)
    assert session.expires_at == datetime(2026, 3, 1, 13, 30, 15, 123456, tzinfo=timezone.utc)
    for moment in (loaded.created_at, loaded.updated_at, session.expires_at, session.next_check_at):
        assert moment.utcoffset() is not None
        if backend.is_sql:
            assert moment.utcoffset() == timedelta(0)


async def test_a_unit_of_work_object_serves_one_block_at_a_time(backend: Backend) -> None:
    uow = backend.uow()
    async with uow:
        with pytest.raises(RuntimeError):
            await uow.__aenter__()
    async with uow:  # and can be used again afterwards
        assert await uow.transactions.get("txn_missing") is None


async def test_uncommitted_writes_are_invisible_to_other_units_of_work(backend: Backend) -> None:
    t = a_purchase()
    async with backend.uow() as writer:
        await writer.transactions.add(t)
        if backend.serialises_units_of_work:
            reader = asyncio.create_task(load(backend, t.id))  # waits for the writer to end
        else:
            assert await asyncio.wait_for(load(backend, t.id), timeout=WAIT) is None
        await writer.commit()
    if backend.serialises_units_of_work:
        assert (await asyncio.wait_for(reader, WAIT)) is not None  # it could only read once the writer committed
    assert (await load(backend, t.id)).sessions[0].id == t.sessions[0].id


async def test_a_stored_aggregate_can_be_updated_in_the_unit_of_work_that_added_it(backend: Backend) -> None:
    t = a_purchase()
    async with backend.uow() as uow:
        membership = a_membership()
        assert await uow.memberships.add(membership)
        membership.consume(1, "match-1", T0)
        await uow.memberships.update(membership)
        await uow.transactions.add(t)
        t.confirm_payment(t.sessions[0].id, T0 + MINUTE)
        await uow.transactions.update(t)
        await uow.commit()
    async with backend.uow() as uow:
        assert (await uow.memberships.get("alice")).allowance_remaining == 2
        stored = await uow.transactions.get(t.id)
    assert (stored.status, stored.sessions[0].status.value) == (STATUS.SUCCEEDED, "completed")


async def test_writes_to_held_rows_are_read_back_in_the_same_unit_of_work_and_committed_together(
        backend: Backend) -> None:
    # On PostgreSQL these updates are queued and sent in one statement (adapters.sql.batch):
    # reads in between must still see them, and they commit or roll back as one.
    t = a_purchase()
    await store(backend, t, a_membership())
    granted = await backend.queries.ledger("alice")  # the first period's allowance
    async with backend.uow() as uow:
        membership = await uow.memberships.get("alice", for_update=True)
        transaction = await uow.transactions.get(t.id, for_update=True)
        membership.credit_purchase(10, t.id, T0)
        await uow.memberships.update(membership)
        transaction.confirm_payment(transaction.sessions[0].id, T0 + MINUTE)
        await uow.transactions.update(transaction)
        read_back = await uow.transactions.get(t.id)
        assert (read_back.status, read_back.sessions[0].status.value) == (STATUS.SUCCEEDED, "completed")
        assert (await uow.transactions.get_by_session_order_id(t.sessions[0].order_id)).status is STATUS.SUCCEEDED
        membership.consume(1, "match-1", T0)
        await uow.memberships.update(membership)  # the same row again, in the same unit of work
        assert (await uow.memberships.get("alice")).balance == membership.balance
        await uow.rollback()
    async with backend.uow() as uow:
        stored = await uow.transactions.get(t.id)
        assert (stored.status, stored.sessions[0].status.value) == (STATUS.PENDING, "open")
        assert (await uow.memberships.get("alice")).purchased_remaining == 0
        membership = await uow.memberships.get("alice", for_update=True)
        membership.credit_purchase(10, t.id, T0)
        await uow.memberships.update(membership)
        await uow.commit()
    ledger = await backend.queries.ledger("alice")
    assert ledger[:len(granted)] == granted
    assert [(e.kind, e.delta, e.reference) for e in ledger[len(granted):]] == [(LedgerKind.PURCHASE, 10, t.id)]
    stored = await backend.queries.membership("alice")
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

    await asyncio.wait_for(asyncio.gather(*(credit(n) for n in range(20))), WAIT * 3)
    membership = await backend.queries.membership("alice")
    assert membership.purchased_remaining == 20
    assert membership.version == 20
    assert Balance.of(await backend.queries.ledger("alice")) == membership.balance


async def test_for_update_serialises_read_modify_write_of_a_transaction_and_its_sessions(backend: Backend) -> None:
    t = a_paid_purchase()
    await store(backend, t)
    unit = Money(1, t.total.currency)

    async def refund_one_unit() -> None:
        async with backend.uow() as uow:
            loaded = await uow.transactions.get(t.id, for_update=True)
            loaded.record_refund(unit, T0 + HOUR)  # a stale read would raise ConcurrentUpdateError
            await uow.transactions.update(loaded)
            await uow.commit()

    await asyncio.wait_for(asyncio.gather(*(refund_one_unit() for _ in range(10))), WAIT * 3)
    stored = await load(backend, t.id)
    assert (stored.refunded_amount, stored.status, stored.version) == (
        Money(10, t.total.currency), STATUS.PARTIALLY_REFUNDED, 10)
    assert stored.sessions[0].version == t.sessions[0].version  # never changed, never written
