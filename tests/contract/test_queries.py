"""The contract of the read side (`ports.queries.PaymentQueries`): each read sees committed data
only (never a unit of work's writes before its commit, and without waiting for it), is scoped to
its owner when given a `user_id`, and returns snapshots (changing them changes nothing stored).
The history is newest first (ties by id, descending), filtered, paged, with the total.
"""
from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

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
    ids,
    open_on,
    state,
    store,
)
from domain.refund import RefundStatus
from domain.transaction import Transaction
from ports.queries import TransactionQuery


async def everything_alice_can_read(backend: Backend, t: Transaction) -> tuple:
    q = backend.queries
    return tuple(await asyncio.wait_for(asyncio.gather(
        q.transaction(t.id), q.session(t.sessions[0].id), q.history("alice", TransactionQuery()),
        q.membership("alice"), q.ledger("alice"), q.refunds_of(t.id), q.refunds_pending(T0 + HOUR, 10)),
        WAIT))  # a read never waits for a unit of work


async def test_reads_see_committed_data_only_and_never_wait_for_a_writer(backend: Backend) -> None:
    t = a_purchase()
    nothing = (None, None, ([], 0), None, [], [], [])
    async with backend.uow() as uow:
        await uow.transactions.add(t)
        membership = a_membership()
        membership.credit_purchase(5, t.id, T0)
        assert await uow.memberships.add(membership)
        await uow.refunds.add(a_refund(t.sessions[0]))
        assert await everything_alice_can_read(backend, t) == nothing
        await uow.commit()
    transaction, session, (history, total), membership, ledger, refunds, pending = (
        await everything_alice_can_read(backend, t))
    assert state(transaction) == state(t) and state(session) == state(t.sessions[0])
    assert (ids(history), total) == ([t.id], 1)
    assert (membership.purchased_remaining, len(ledger), len(refunds), len(pending)) == (5, 2, 1, 1)


async def test_reads_do_not_see_an_update_before_its_commit(backend: Backend) -> None:
    t = a_purchase()
    await store(backend, t, a_membership())
    before = await everything_alice_can_read(backend, t)
    async with backend.uow() as uow:
        loaded = await uow.transactions.get(t.id, for_update=True)
        loaded.confirm_payment(t.sessions[0].id, T0 + MINUTE)
        await uow.transactions.update(loaded)
        membership = await uow.memberships.get("alice", for_update=True)
        membership.credit_purchase(10, t.id, T0 + MINUTE)
        await uow.memberships.update(membership)
        during = await everything_alice_can_read(backend, t)
        await uow.commit()
    assert [state(before[0]), state(before[1]), before[3].version, before[4]] == [
        state(during[0]), state(during[1]), during[3].version, during[4]]
    after = await everything_alice_can_read(backend, t)
    assert (after[0].status, after[1].status.value, after[3].purchased_remaining) == (
        STATUS.SUCCEEDED, "completed", 10)


async def test_a_transaction_is_read_with_its_sessions_oldest_first_and_scoped_to_its_owner(
        backend: Backend) -> None:
    t = a_purchase()
    second = open_on(t, at=T0 + MINUTE)
    lonely = a_transaction(type=TYPES.PLAN_DOWNGRADE)  # stored without a session
    await store(backend, t, lonely, a_purchase("bob"))
    q = backend.queries
    for found in (await q.transaction(t.id), await q.transaction(t.id, user_id="alice")):
        assert state(found) == state(t)
        assert ids(found.sessions) == [t.sessions[0].id, second.id]
    assert await q.transaction(t.id, user_id="mallory") is None
    assert await q.transaction("txn_missing") is None
    assert (await q.transaction(lonely.id)).sessions == []


async def test_a_session_is_read_alone_and_scoped_to_its_owner(backend: Backend) -> None:
    t = a_purchase()
    await store(backend, t)
    session = t.sessions[0]
    q = backend.queries
    assert state(await q.session(session.id)) == state(session)
    assert state(await q.session(session.id, user_id="alice")) == state(session)
    assert await q.session(session.id, user_id="mallory") is None
    assert await q.session("ps_missing") is None


async def test_what_a_read_returns_is_a_snapshot(backend: Backend) -> None:
    t = a_purchase()
    await store(backend, t)
    found = await backend.queries.transaction(t.id)
    found.cancel("only in this copy", T0 + MINUTE)
    session = await backend.queries.session(t.sessions[0].id)
    session.attach_instructions("https://pay.example/x", None, None, T0 + MINUTE)
    again = await backend.queries.transaction(t.id)
    assert state(again) == state(t)


async def test_membership_and_ledger_are_each_users_own(backend: Backend) -> None:
    alice, bob = a_membership("alice"), a_membership("bob", at=T0 + HOUR)
    alice.credit_purchase(4, "txn_1", T0 + MINUTE)
    await store(backend, alice, bob)
    q = backend.queries
    assert (await q.membership("alice")).purchased_remaining == 4
    assert (await q.membership("bob")).anchor == T0 + HOUR
    assert await q.membership("carol") is None
    assert {e.user_id for e in await q.ledger("alice")} == {"alice"}
    assert [e.reference for e in await q.ledger("alice")][-1] == "txn_1"
    assert len(await q.ledger("bob")) == 1
    assert await q.ledger("carol") == []


async def test_refunds_of_a_transaction_and_the_pending_ones_oldest_first(backend: Backend) -> None:
    t, other = a_transaction(), a_paid_purchase("bob")
    s1, s2 = open_on(t), open_on(t, at=T0 + MINUTE)
    t.confirm_payment(s1.id, T0 + 2 * MINUTE)  # paid twice: both payments are refunded
    t.confirm_payment(s2.id, T0 + 2 * MINUTE)
    r_new = a_refund(s1, T0 + 2 * HOUR)
    r_old = a_refund(s2, T0 + HOUR)
    r_done = a_refund(s1, T0)
    r_done.succeed("provider-refund-0", T0 + MINUTE)
    r_bob = a_refund(other.sessions[0], T0 + 3 * HOUR)
    await store(backend, t, other, r_new, r_bob, r_done, r_old)
    q = backend.queries
    assert ids(await q.refunds_of(t.id)) == [r_done.id, r_old.id, r_new.id]
    assert await q.refunds_of("txn_missing") == []
    assert ids(await q.refunds_pending(T0 + 3 * HOUR, 10)) == [r_old.id, r_new.id, r_bob.id]
    assert ids(await q.refunds_pending(T0 + 3 * HOUR, 2)) == [r_old.id, r_new.id]
    assert ids(await q.refunds_pending(T0 + 2 * HOUR, 10)) == [r_old.id, r_new.id]  # created at or before
    assert await q.refunds_pending(T0 + HOUR - MINUTE, 10) == []
    assert all(r.status is RefundStatus.PENDING for r in await q.refunds_pending(T0 + 3 * HOUR, 10))


# ====================================================================== the history
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
    open_on(h["p1"])  # the history reads transactions without their sessions
    await store(backend, *h.values())
    return h


async def page(backend: Backend, **query: Any) -> tuple[list[str], int]:
    items, total = await backend.queries.history("alice", TransactionQuery(**query))
    return ids(items), total


async def test_history_is_newest_first_with_ties_broken_by_id_descending(
        backend: Backend, history: dict[str, Transaction]) -> None:
    ids_, total = await page(backend)
    assert ids_ == ["txn_a6", "txn_b5", "txn_a5", "txn_a4", "txn_a3", "txn_a2", "txn_a1"]
    assert total == 7


async def test_history_items_are_the_stored_transactions_without_their_sessions(
        backend: Backend, history: dict[str, Transaction]) -> None:
    items, _ = await backend.queries.history("alice", TransactionQuery())
    by_id = {t.id: t for t in items}
    for t in history.values():
        if t.user_id == "alice":
            assert by_id[t.id].sessions == []
            assert {k: v for k, v in state(by_id[t.id]).items() if k != "sessions"} == {
                k: v for k, v in state(t).items() if k != "sessions"}
    assert (await backend.queries.history("carol", TransactionQuery())) == ([], 0)


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
