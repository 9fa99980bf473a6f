"""The contract of the other repositories (`ports.repositories`): memberships stored with their
receives ledger (entries appended in order, in the unit of work that changed the membership), a
provider order's owner found with the membership locked, provider events and consumptions
recorded once by their unique keys, and refunds.
"""
from __future__ import annotations

import asyncio

import pytest

from contract_support import (
    HOUR,
    MINUTE,
    T0,
    WAIT,
    Backend,
    a_membership,
    a_paid_purchase,
    a_purchase,
    a_refund,
    ids,
    not_finished_while_blocked,
    open_on,
    state,
    store,
)
from domain.errors import InvalidTransitionError
from domain.ledger import Balance, LedgerKind
from domain.refund import RefundStatus
from ports.repositories import ConcurrentUpdateError, DuplicateEventError, DuplicateKeyError


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
    stored = await backend.queries.membership("alice")
    assert (stored.anchor, stored.purchased_remaining) == (T0, 0)
    assert [e.kind for e in await backend.queries.ledger("alice")] == [LedgerKind.ALLOWANCE_GRANT]


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
        assert len(await backend.queries.ledger("alice")) == 1  # not before commit
        await uow.commit()
    async with backend.uow() as uow:
        membership = await uow.memberships.get("alice", for_update=True)
        membership.consume(1, "match-2", T0 + 3 * HOUR)
        await uow.memberships.update(membership)
        # rolled back: neither the change nor its entry stays
    stored = await backend.queries.membership("alice")
    ledger = await backend.queries.ledger("alice")
    assert await backend.queries.ledger("bob") == []
    assert [(e.kind, e.bucket.value, e.delta, e.reference) for e in ledger] == [
        (LedgerKind.ALLOWANCE_GRANT, "allowance", 3, ledger[0].reference),
        (LedgerKind.PURCHASE, "purchased", 10, "txn_1"),
        (LedgerKind.CONSUMPTION, "allowance", -3, "match-1"),
        (LedgerKind.CONSUMPTION, "purchased", -2, "match-1"),
    ]
    assert Balance.of(ledger) == stored.balance == Balance(0, 8)
    assert ledger[1].created_at == T0 + HOUR
    assert stored.version == 1


async def test_a_stale_membership_update_is_refused(backend: Backend) -> None:
    await store(backend, a_membership())
    async with backend.uow() as uow:
        stale = await uow.memberships.get("alice")
    async with backend.uow() as uow:
        fresh = await uow.memberships.get("alice", for_update=True)
        fresh.credit_purchase(1, "txn_1", T0)
        await uow.memberships.update(fresh)
        await uow.commit()
    stale.credit_purchase(100, "txn_2", T0)
    async with backend.uow() as uow:
        with pytest.raises(ConcurrentUpdateError):
            await uow.memberships.update(stale)
    assert (await backend.queries.membership("alice")).purchased_remaining == 1
    assert [e.reference for e in await backend.queries.ledger("alice")][1:] == ["txn_1"]


# ====================================================================== a provider order's owner
async def test_lock_for_order_finds_the_orders_transaction_and_user_with_the_membership_locked(
        backend: Backend) -> None:
    t, membership = a_purchase(), a_membership()
    await store(backend, t, membership, a_purchase("bob"))
    async with backend.uow() as uow:
        owner = await uow.memberships.lock_for_order(t.sessions[0].order_id)
        assert (owner.transaction_id, owner.user_id) == (t.id, "alice")
        assert state(owner.membership) == state(membership)

        async def credit_elsewhere() -> None:
            async with backend.uow() as other:
                locked = await other.memberships.get("alice", for_update=True)
                locked.credit_purchase(1, "txn_later", T0 + HOUR)
                await other.memberships.update(locked)
                await other.commit()
        crediting = asyncio.create_task(credit_elsewhere())
        assert await not_finished_while_blocked(crediting)
        owner.membership.credit_purchase(10, t.id, T0 + MINUTE)
        await uow.memberships.update(owner.membership)  # a held row: would raise had the other gone first
        await uow.commit()
    await asyncio.wait_for(crediting, WAIT)
    stored = await backend.queries.membership("alice")
    assert (stored.purchased_remaining, stored.version) == (11, 2)
    assert [e.reference for e in await backend.queries.ledger("alice")][1:] == [t.id, "txn_later"]


async def test_lock_for_order_serialises_read_modify_write_so_no_update_is_lost(backend: Backend) -> None:
    t = a_purchase()
    await store(backend, t, a_membership())

    async def credit(n: int) -> None:
        async with backend.uow() as uow:
            owner = await uow.memberships.lock_for_order(t.sessions[0].order_id)
            owner.membership.credit_purchase(1, f"txn_{n}", T0)
            await uow.memberships.update(owner.membership)
            await uow.commit()

    await asyncio.wait_for(asyncio.gather(*(credit(n) for n in range(20))), WAIT * 3)
    stored = await backend.queries.membership("alice")
    assert (stored.purchased_remaining, stored.version) == (20, 20)


async def test_lock_for_order_of_a_user_without_a_membership_or_of_an_unknown_order(backend: Backend) -> None:
    t = a_purchase()
    await store(backend, t)
    async with backend.uow() as uow:
        owner = await uow.memberships.lock_for_order(t.sessions[0].order_id)
        assert (owner.transaction_id, owner.user_id, owner.membership) == (t.id, "alice", None)
        assert await uow.memberships.lock_for_order("S20260301NOSUCHORDER") is None


async def test_lock_for_order_with_its_transaction_locks_the_transaction_after_the_membership(
        backend: Backend) -> None:
    t = a_purchase()
    await store(backend, t, a_membership())
    async with backend.uow() as uow:
        owner = await uow.memberships.lock_for_order(t.sessions[0].order_id, with_transaction=True)
        assert owner.membership is not None and state(owner.transaction) == state(t)

        async def pay_elsewhere() -> None:
            async with backend.uow() as other:
                locked = await other.transactions.get(t.id, for_update=True)
                locked.cancel("changed my mind", T0 + HOUR)
                await other.transactions.update(locked)
                await other.commit()
        paying = asyncio.create_task(pay_elsewhere())
        assert await not_finished_while_blocked(paying)
        owner.transaction.confirm_payment(t.sessions[0].id, T0 + MINUTE)
        await uow.transactions.update(owner.transaction)  # held rows: would raise had the other gone first
        await uow.commit()
    with pytest.raises(InvalidTransitionError):  # the other saw it paid: a paid one cannot be cancelled
        await asyncio.wait_for(paying, WAIT)
    async with backend.uow() as uow:
        stored = await uow.transactions.get(t.id)
    assert (stored.is_paid, stored.version) == (True, 1)


async def test_lock_for_order_with_its_transaction_sees_a_session_added_while_it_waited(backend: Backend) -> None:
    t = a_purchase()
    await store(backend, t, a_membership())
    async with backend.uow() as first:
        await first.memberships.get("alice", for_update=True)
        locked = await first.transactions.get(t.id, for_update=True)

        async def owner_later():
            async with backend.uow() as uow:
                return await uow.memberships.lock_for_order(t.sessions[0].order_id, with_transaction=True)
        waiting = asyncio.create_task(owner_later())
        assert await not_finished_while_blocked(waiting)  # its read began before the new session
        added = open_on(locked, at=T0 + MINUTE)
        await first.transactions.update(locked)
        await first.commit()
    owner = await asyncio.wait_for(waiting, WAIT)
    assert [s.id for s in owner.transaction.sessions] == [t.sessions[0].id, added.id]
    assert state(owner.transaction) == state(locked)


async def test_lock_for_order_with_its_transaction_of_a_user_without_a_membership(backend: Backend) -> None:
    t = a_purchase()
    await store(backend, t)
    async with backend.uow() as uow:
        owner = await uow.memberships.lock_for_order(t.sessions[0].order_id, with_transaction=True)
        assert (owner.transaction_id, owner.membership, owner.transaction) == (t.id, None, None)
        assert await uow.memberships.lock_for_order("S20260301NOSUCHORDER", with_transaction=True) is None


# ====================================================================== unique keys
async def test_a_provider_event_is_recorded_once_per_provider(backend: Backend) -> None:
    async with backend.uow() as uow:
        assert await uow.processed_events.add("mock", "evt_1", T0) is True
        assert await uow.processed_events.add("mock", "evt_1", T0) is False
        assert await uow.processed_events.add("alipay", "evt_1", T0) is True
        await uow.commit()
    async with backend.uow() as uow:
        assert await uow.processed_events.add("mock", "evt_1", T0 + HOUR) is False
        assert await uow.processed_events.add("mock", "evt_2", T0 + HOUR) is True


async def _credit(uow, user: str, reference: str) -> None:
    membership = await uow.memberships.get(user, for_update=True)
    membership.credit_purchase(5, reference, T0 + HOUR)
    await uow.memberships.update(membership)


async def test_a_provider_event_recorded_before_fails_the_commit_and_nothing_of_it_is_stored(
        backend: Backend) -> None:
    await store(backend, a_membership())
    async with backend.uow() as uow:
        await _credit(uow, "alice", "txn_1")
        await uow.processed_events.record("mock", "evt_1", T0)
        await uow.commit()
    with pytest.raises(DuplicateEventError):  # from `record` or, at the latest, from `commit`
        async with backend.uow() as uow:
            await _credit(uow, "alice", "txn_2")
            await uow.processed_events.record("mock", "evt_1", T0 + HOUR)
            await uow.commit()
    async with backend.uow() as uow:  # the same id from another provider is another event
        await uow.processed_events.record("alipay", "evt_1", T0 + HOUR)
        assert await uow.processed_events.add("mock", "evt_1", T0 + HOUR) is False
        await uow.commit()
    assert [e.reference for e in await backend.queries.ledger("alice")][1:] == ["txn_1"]
    assert (await backend.queries.membership("alice")).purchased_remaining == 5


async def test_of_two_units_of_work_recording_one_provider_event_the_second_to_commit_stores_nothing(
        backend: Backend) -> None:
    await store(backend, a_membership(), a_membership("bob"))

    async def bob_records_it() -> None:
        async with backend.uow() as uow:
            await _credit(uow, "bob", "txn_b")
            await uow.processed_events.record("mock", "evt_1", T0)
            await uow.commit()

    async with backend.uow() as first:
        await _credit(first, "alice", "txn_a")
        await first.processed_events.record("mock", "evt_1", T0)
        if backend.serialises_units_of_work:  # SQLite: bob's starts once this one has ended
            bobs = asyncio.create_task(bob_records_it())
            await first.commit()
        else:
            await asyncio.wait_for(bob_records_it(), WAIT)  # commits before this one
            with pytest.raises(DuplicateEventError):
                await first.commit()
    if backend.serialises_units_of_work:
        with pytest.raises(DuplicateEventError):
            await asyncio.wait_for(bobs, WAIT)
    winner, loser = ("alice", "bob") if backend.serialises_units_of_work else ("bob", "alice")
    assert (await backend.queries.membership(winner)).purchased_remaining == 5
    assert (await backend.queries.membership(loser)).purchased_remaining == 0
    assert [e.kind for e in await backend.queries.ledger(loser)] == [LedgerKind.ALLOWANCE_GRANT]
    async with backend.uow() as uow:
        assert await uow.processed_events.add("mock", "evt_1", T0) is False


async def test_a_consumption_reference_is_unique_per_user(backend: Backend) -> None:
    async with backend.uow() as uow:
        assert await uow.consumptions.add("alice", "match-1", 2, T0) is True
        assert await uow.consumptions.add("alice", "match-1", 2, T0) is False
        assert await uow.consumptions.add("bob", "match-1", 1, T0) is True
        await uow.commit()
    async with backend.uow() as uow:
        assert await uow.consumptions.add("alice", "match-1", 5, T0) is False
        assert await uow.consumptions.add("alice", "match-2", 5, T0) is True


# ====================================================================== refunds
async def test_refunds_are_stored_updated_and_found_by_their_refund_order_id(backend: Backend) -> None:
    t = a_paid_purchase()
    r1, r2 = a_refund(t.sessions[0], T0), a_refund(t.sessions[0], T0 + HOUR)
    await store(backend, t, r2, r1)
    async with backend.uow() as uow:
        refund = await uow.refunds.get(r1.id, for_update=True)
        assert state(refund) == state(r1)
        refund.succeed("provider-refund-1", T0 + 2 * HOUR)
        await uow.refunds.update(refund)
        assert refund.version == 1
        await uow.commit()
    async with backend.uow() as uow:
        by_order = await uow.refunds.get_by_refund_order_id(r2.refund_order_id)
        locked = await uow.refunds.get_by_refund_order_id(r2.refund_order_id, for_update=True)
        assert await uow.refunds.get_by_refund_order_id("R0000MISSING") is None
        assert await uow.refunds.get_by_refund_order_id("R0000MISSING", for_update=True) is None
        assert await uow.refunds.get("rf_missing") is None
        updated = await uow.refunds.get(r1.id)
    assert state(by_order) == state(locked) == state(r2)
    assert (updated.status, updated.provider_reference, updated.completed_at, updated.version) == (
        RefundStatus.SUCCEEDED, "provider-refund-1", T0 + 2 * HOUR, 1)
    assert ids(await backend.queries.refunds_of(t.id)) == [r1.id, r2.id]


async def test_a_taken_refund_id_or_refund_order_id_raises_duplicate_key(backend: Backend) -> None:
    t = a_paid_purchase()
    refund = a_refund(t.sessions[0])
    await store(backend, t, refund)
    async with backend.uow() as uow:
        with pytest.raises(DuplicateKeyError):
            await uow.refunds.add(a_refund(t.sessions[0], refund_order_id=refund.refund_order_id))
        same_id = a_refund(t.sessions[0])
        same_id.id = refund.id
        with pytest.raises(DuplicateKeyError):
            await uow.refunds.add(same_id)
        fine = a_refund(t.sessions[0], T0 + MINUTE)  # the unit of work is still usable
        await uow.refunds.add(fine)
        await uow.commit()
    assert ids(await backend.queries.refunds_of(t.id)) == [refund.id, fine.id]


async def test_a_stale_refund_update_is_refused(backend: Backend) -> None:
    t = a_paid_purchase()
    refund = a_refund(t.sessions[0])
    await store(backend, t, refund)
    async with backend.uow() as uow:
        stale = await uow.refunds.get(refund.id)
    async with backend.uow() as uow:
        fresh = await uow.refunds.get(refund.id, for_update=True)
        fresh.succeed("provider-refund-1", T0 + HOUR)
        await uow.refunds.update(fresh)
        await uow.commit()
    stale.fail(T0 + HOUR)
    async with backend.uow() as uow:
        with pytest.raises(ConcurrentUpdateError):
            await uow.refunds.update(stale)
    assert (await backend.queries.refunds_of(t.id))[0].status is RefundStatus.SUCCEEDED
