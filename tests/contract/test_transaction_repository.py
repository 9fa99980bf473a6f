"""The contract of `ports.repositories.TransactionRepository`: the transaction is the aggregate
root of its payment sessions, added, loaded, locked and stored whole.

- `add` stores a transaction with its sessions all or none, refuses taken keys, and returns the
  user's pending count before it;
- `get`/`get_by_session_order_id` load it with its sessions, oldest first;
- `update` inserts the sessions `open_session` added, writes the changed ones (each
  version-checked) and leaves the others untouched;
- `claim_expirable`/`claim_due_for_check` lock what they return and skip what another unit of
  work holds (`FOR UPDATE SKIP LOCKED`), so concurrent sweepers and reconcilers split the work.

SQLite serialises units of work: where a second one is opened beside a first, it waits for the
first to end instead of skipping its rows.
"""
from __future__ import annotations

import asyncio
from datetime import datetime, timedelta

import attrs
import pytest

from contract_support import (
    HOUR,
    MINUTE,
    STATUS,
    T0,
    TYPES,
    WAIT,
    Backend,
    a_paid_purchase,
    a_purchase,
    a_transaction,
    ids,
    load,
    new_id,
    new_order_id,
    open_on,
    state,
    store,
)
from domain.session import SessionStatus
from ports.repositories import ConcurrentUpdateError, DuplicateKeyError

OPEN, CANCELLED, COMPLETED = SessionStatus.OPEN, SessionStatus.CANCELLED, SessionStatus.COMPLETED


# ====================================================================== stored and loaded whole
async def test_a_transaction_is_stored_and_loaded_whole_with_its_sessions_oldest_first(backend: Backend) -> None:
    t = a_transaction()
    first = open_on(t, at=T0)
    second = open_on(t, at=T0 + 10 * MINUTE)  # replaces the first: cancelled
    second.attach_instructions("https://pay.example/2", "weixin://pay/2", "ref-2", T0 + 11 * MINUTE)
    downgrade = a_transaction(type=TYPES.PLAN_DOWNGRADE)  # settled at once, without a session
    expected = state(t)
    await store(backend, t, downgrade)
    async with backend.uow() as uow:
        loaded = [await uow.transactions.get(t.id), await uow.transactions.get(t.id, user_id="alice"),
                  await uow.transactions.get_by_session_order_id(first.order_id),
                  await uow.transactions.get_by_session_order_id(second.order_id)]
        locked = await uow.transactions.get(t.id, for_update=True)
        alone = await uow.transactions.get(downgrade.id, for_update=True)
    for transaction in (*loaded, locked):
        assert state(transaction) == expected
        assert ids(transaction.sessions) == [first.id, second.id]
        assert [s.status for s in transaction.sessions] == [CANCELLED, OPEN]
        assert transaction.events == [] and all(s.events == [] for s in transaction.sessions)
    assert alone.id == downgrade.id and alone.sessions == []


async def test_sessions_load_oldest_first_whatever_order_they_were_written_in(backend: Backend) -> None:
    t = a_purchase()
    first = t.sessions[0]
    await store(backend, t)
    for n in (1, 2):  # two more attempts, each replacing the one before
        async with backend.uow() as uow:
            loaded = await uow.transactions.get(t.id, for_update=True)
            open_on(loaded, at=T0 + n * 10 * MINUTE)
            await uow.transactions.update(loaded)
            await uow.commit()
    async with backend.uow() as uow:  # the first attempt's payment arrives late: it is written last
        loaded = await uow.transactions.get(t.id, for_update=True)
        loaded.confirm_payment(first.id, T0 + 30 * MINUTE)
        await uow.transactions.update(loaded)
        await uow.commit()
    stored = await load(backend, t.id)
    assert ids(stored.sessions) == ids(loaded.sessions)
    assert ids(stored.sessions)[0] == first.id
    assert [s.created_at for s in stored.sessions] == [T0, T0 + 10 * MINUTE, T0 + 20 * MINUTE]
    assert [s.status for s in stored.sessions] == [COMPLETED, CANCELLED, CANCELLED]
    assert ids((await backend.queries.transaction(t.id)).sessions) == ids(stored.sessions)


async def test_a_session_opened_on_a_stored_transaction_is_inserted_by_update(backend: Backend) -> None:
    t = a_purchase()
    first = t.sessions[0]
    await store(backend, t)
    async with backend.uow() as uow:
        loaded = await uow.transactions.get(t.id, for_update=True)
        opened = loaded.open_session(id=new_id("ps"), order_id=new_order_id("S"), payment_method="alipay",
                                     provider="mock", return_url=None, ttl=2 * HOUR, now=T0 + 10 * MINUTE)
        await uow.transactions.update(loaded)
        assert (await uow.transactions.get(t.id)).sessions[-1].id == opened.session.id  # read back before commit
        await uow.commit()
    assert ids(opened.replaced) == [first.id]
    stored = await load(backend, t.id)
    assert state(stored) == state(loaded)
    assert ids(stored.sessions) == [first.id, opened.session.id]
    assert [(s.status, s.version) for s in stored.sessions] == [(CANCELLED, 1), (OPEN, 0)]
    assert (stored.version, stored.payment_method) == (1, "alipay")
    assert (await backend.queries.session(opened.session.id)).expires_at == T0 + 10 * MINUTE + 2 * HOUR
    async with backend.uow() as uow:
        assert (await uow.transactions.get_by_session_order_id(opened.session.order_id)).id == t.id


async def test_update_writes_the_changed_sessions_and_leaves_the_others_untouched(backend: Backend) -> None:
    t = a_transaction()
    declined = open_on(t, at=T0)
    t.end_attempt(declined.id, closed=False, reason="declined", now=T0 + MINUTE)
    retry = open_on(t, at=T0 + 2 * MINUTE)
    await store(backend, t)
    declined_as_stored = state((await load(backend, t.id)).sessions[0])

    async with backend.uow() as uow:  # only the transaction changes
        loaded = await uow.transactions.get(t.id, for_update=True)
        loaded.failure_reason = "noted by support"
        await uow.transactions.update(loaded)
        await uow.commit()
    stored = await load(backend, t.id)
    assert (stored.version, stored.failure_reason) == (1, "noted by support")
    assert [s.version for s in stored.sessions] == [0, 0]

    async with backend.uow() as uow:  # the retry pays: it changes, the declined attempt does not
        loaded = await uow.transactions.get(t.id, for_update=True)
        loaded.confirm_payment(retry.id, T0 + 3 * MINUTE)
        await uow.transactions.update(loaded)
        await uow.commit()
    stored = await load(backend, t.id)
    assert (stored.status, stored.paid_session_id, stored.version) == (STATUS.SUCCEEDED, retry.id, 2)
    assert state(stored.sessions[0]) == declined_as_stored
    assert (stored.sessions[1].status, stored.sessions[1].version, stored.sessions[1].completed_at) == (
        COMPLETED, 1, T0 + 3 * MINUTE)
    assert [s.version for s in loaded.sessions] == [0, 1]  # the caller's copy moved on with the store


async def test_unchanged_sessions_stay_untouched_whichever_unit_of_work_read_the_transaction(
        backend: Backend) -> None:
    t = a_purchase()
    await store(backend, t)
    read_elsewhere = await load(backend, t.id)  # read in one unit of work, stored from another
    read_elsewhere.failure_reason = "only the transaction changes"
    async with backend.uow() as uow:
        await uow.transactions.update(read_elsewhere)
        await uow.commit()
    stored = await load(backend, t.id)
    assert (stored.version, stored.failure_reason) == (1, "only the transaction changes")
    assert state(stored.sessions[0]) == state(t.sessions[0])  # version 0: not written


async def test_add_keeps_the_versions_and_each_update_bumps_what_it_changed(backend: Backend) -> None:
    t = a_purchase()
    await store(backend, t)
    assert (t.version, t.sessions[0].version) == (0, 0)
    async with backend.uow() as uow:
        loaded = await uow.transactions.get(t.id, for_update=True)
        assert (loaded.version, loaded.sessions[0].version) == (0, 0)
        loaded.cancel("no", T0 + MINUTE)  # and its open session
        await uow.transactions.update(loaded)
        assert (loaded.version, loaded.sessions[0].version) == (1, 1)
        loaded.failure_reason = "updated twice in one unit of work"  # the session is unchanged now
        await uow.transactions.update(loaded)
        assert (loaded.version, loaded.sessions[0].version) == (2, 1)
        await uow.commit()
    stored = await load(backend, t.id)
    assert (stored.version, stored.status, stored.failure_reason) == (
        2, STATUS.CANCELLED, "updated twice in one unit of work")
    assert (stored.sessions[0].version, stored.sessions[0].status) == (1, CANCELLED)


# ====================================================================== version checks
async def test_a_stale_update_is_refused_instead_of_lost(backend: Backend) -> None:
    t = a_purchase()
    await store(backend, t)
    stale = await load(backend, t.id)  # read without a lock
    async with backend.uow() as uow:
        fresh = await uow.transactions.get(t.id, for_update=True)
        fresh.cancel("first", T0 + MINUTE)
        await uow.transactions.update(fresh)
        await uow.commit()
    stale.failure_reason = "second"
    async with backend.uow() as uow:
        with pytest.raises(ConcurrentUpdateError):
            await uow.transactions.update(stale)
    async with backend.uow() as uow:
        with pytest.raises(ConcurrentUpdateError):
            await uow.transactions.update(a_purchase())  # never stored
    stored = await load(backend, t.id)
    assert (stored.status, stored.cancel_reason, stored.failure_reason, stored.version) == (
        STATUS.CANCELLED, "first", None, 1)


async def test_a_session_changed_elsewhere_since_it_was_read_refuses_the_update(backend: Backend) -> None:
    t = a_purchase()
    session = t.sessions[0]
    await store(backend, t)
    stale = await load(backend, t.id)  # read without a lock
    elsewhere = attrs.evolve(session)
    elsewhere.attach_instructions("https://pay.example/1", None, "ref-1", T0 + MINUTE)
    assert await backend.instructions.attach(elsewhere)  # moves the session on, not the transaction
    stale.end_attempt(session.id, closed=False, reason="declined", now=T0 + 2 * MINUTE)
    async with backend.uow() as uow:
        with pytest.raises(ConcurrentUpdateError):
            await uow.transactions.update(stale)
    stored = await load(backend, t.id)
    assert (stored.version, stored.failure_reason) == (0, None)
    assert (stored.sessions[0].status, stored.sessions[0].payment_url) == (OPEN, "https://pay.example/1")


async def test_a_transaction_whose_session_changed_elsewhere_cannot_be_stored_from_an_older_read(
        backend: Backend) -> None:
    # The aggregate is the transaction with its sessions: one of them moved on since it was read,
    # so the aggregate did, even if this caller changes only the transaction.
    t = a_purchase()
    await store(backend, t)
    stale = await load(backend, t.id)
    elsewhere = attrs.evolve(t.sessions[0])
    elsewhere.attach_instructions("https://pay.example/1", None, "ref-1", T0 + MINUTE)
    assert await backend.instructions.attach(elsewhere)
    stale.failure_reason = "only the transaction changes"
    async with backend.uow() as uow:
        with pytest.raises(ConcurrentUpdateError):
            await uow.transactions.update(stale)
    stored = await load(backend, t.id)
    assert (stored.failure_reason, stored.sessions[0].payment_url) == (None, "https://pay.example/1")


# ====================================================================== unique keys, all or none, the pending count
async def test_a_taken_transaction_id_or_order_id_raises_duplicate_key(backend: Backend) -> None:
    t = a_purchase()
    await store(backend, t)
    async with backend.uow() as uow:
        with pytest.raises(DuplicateKeyError):
            await uow.transactions.add(a_transaction(id=t.id))
        with pytest.raises(DuplicateKeyError):
            await uow.transactions.add(a_transaction(order_id=t.order_id))
        other = a_purchase()  # the unit of work is still usable after a refused insert
        await uow.transactions.add(other)
        await uow.commit()
    assert ids((await load(backend, other.id)).sessions) == ids(other.sessions)


async def test_a_transaction_whose_session_has_a_taken_key_is_stored_not_at_all(backend: Backend) -> None:
    t = a_purchase()
    taken = t.sessions[0]
    await store(backend, t)
    same_session_id, same_order_id = a_transaction(), a_transaction()
    open_on(same_session_id, id=taken.id)
    open_on(same_order_id, order_id=taken.order_id)
    backend.events.clear()
    async with backend.uow() as uow:
        for refused in (same_session_id, same_order_id):
            with pytest.raises(DuplicateKeyError):
                await uow.transactions.add(refused)
        fine = a_purchase()
        await uow.transactions.add(fine)
        await uow.commit()
    # only what was stored is heard of: the creation of `fine` and of its session
    assert sorted(type(e).__name__ for e in backend.events) == ["SessionStatusChanged", "TransactionCreated"]
    assert {e.transaction_id for e in backend.events} == {fine.id}
    for refused in (same_session_id, same_order_id):  # its own keys were free: all or none
        assert await load(backend, refused.id) is None
        assert await backend.queries.transaction(refused.id) is None
    async with backend.uow() as uow:
        assert (await uow.transactions.get_by_session_order_id(taken.order_id)).id == t.id
    assert (await backend.queries.session(taken.id)).transaction_id == t.id
    assert await load(backend, fine.id) is not None


async def test_a_session_inserted_by_update_with_a_taken_key_raises_duplicate_key(backend: Backend) -> None:
    t, other = a_purchase(), a_purchase()
    taken = other.sessions[0]
    await store(backend, t, other)
    for key in ({"order_id": taken.order_id}, {"id": taken.id}):
        with pytest.raises(DuplicateKeyError):  # at update() or, batched, at commit()
            async with backend.uow() as uow:
                loaded = await uow.transactions.get(t.id, for_update=True)
                open_on(loaded, at=T0 + MINUTE, **key)
                await uow.transactions.update(loaded)
                await uow.commit()
    assert ids((await load(backend, t.id)).sessions) == ids(t.sessions)
    assert ids((await load(backend, other.id)).sessions) == [taken.id]


async def test_unique_keys_hold_within_one_unit_of_work_too(backend: Backend) -> None:
    t = a_purchase()
    session = t.sessions[0]
    async with backend.uow() as uow:
        await uow.transactions.add(t)
        duplicates = [a_transaction(id=t.id), a_transaction(order_id=t.order_id), a_transaction(), a_transaction()]
        open_on(duplicates[2], id=session.id)
        open_on(duplicates[3], order_id=session.order_id)
        for duplicate in duplicates:
            with pytest.raises(DuplicateKeyError):
                await uow.transactions.add(duplicate)
        await uow.commit()
    assert ids((await load(backend, t.id)).sessions) == [session.id]
    for refused in duplicates[2:]:
        assert await load(backend, refused.id) is None


async def test_add_returns_how_many_pending_transactions_the_user_had_before(backend: Backend) -> None:
    await store(backend, a_purchase(), a_paid_purchase(), a_transaction(type=TYPES.PLAN_DOWNGRADE),
                a_purchase("bob"), a_transaction(status=STATUS.CANCELLED))
    async with backend.uow() as uow:
        assert await uow.transactions.add(a_purchase(at=T0 + HOUR)) == 1  # the earlier pending one, not bob's
        assert await uow.transactions.add(a_purchase(at=T0 + HOUR)) == 2  # its own write counts
        assert await uow.transactions.add(a_purchase("carol")) == 0
        # left without commit
    async with backend.uow() as uow:  # what was rolled back counts no more
        assert await uow.transactions.add(a_purchase(at=T0 + 2 * HOUR)) == 1


# ====================================================================== reads
async def test_get_scoped_to_a_user_reads_someone_elses_transaction_as_none(backend: Backend) -> None:
    t = a_purchase("alice")
    await store(backend, t)
    async with backend.uow() as uow:
        assert (await uow.transactions.get(t.id, user_id="alice")).id == t.id
        assert await uow.transactions.get(t.id, user_id="mallory") is None
        assert await uow.transactions.get(t.id, user_id="mallory", for_update=True) is None
        assert await uow.transactions.get("txn_missing") is None
        assert await uow.transactions.get("txn_missing", for_update=True) is None


async def test_a_locking_read_that_finds_nothing_locks_nothing(backend: Backend) -> None:
    """(SQLite differs: a second unit of work waits for the first whatever the first read.)"""
    t = a_purchase()
    await store(backend, t)
    async with backend.uow() as first:
        assert await first.transactions.get(t.id, user_id="mallory", for_update=True) is None
        assert await first.transactions.get("txn_missing", for_update=True) is None

        async def lock_them() -> None:
            async with backend.uow() as uow:
                assert (await uow.transactions.get(t.id, for_update=True)).id == t.id
                assert await uow.transactions.get("txn_missing", for_update=True) is None

        if backend.serialises_units_of_work:
            with pytest.raises(TimeoutError):
                await asyncio.wait_for(lock_them(), WAIT / 3)
        else:
            await asyncio.wait_for(lock_them(), WAIT / 3)  # never waits for `first` (it takes milliseconds)


async def test_a_transaction_is_found_by_the_order_id_of_any_of_its_sessions(backend: Backend) -> None:
    t = a_purchase()
    second = open_on(t, at=T0 + MINUTE)
    other = a_purchase()
    await store(backend, t, other)
    async with backend.uow() as uow:
        for order_id in (t.sessions[0].order_id, second.order_id):
            found = await uow.transactions.get_by_session_order_id(order_id)
            assert found.id == t.id and ids(found.sessions) == ids(t.sessions)
        assert (await uow.transactions.get_by_session_order_id(other.sessions[0].order_id)).id == other.id
        assert await uow.transactions.get_by_session_order_id(t.order_id) is None  # not a session's
        assert await uow.transactions.get_by_session_order_id("S0000MISSING") is None


async def test_pending_plan_changes_are_the_users_own_oldest_first_with_their_sessions(backend: Backend) -> None:
    upgrade = a_transaction(type=TYPES.PLAN_UPGRADE, at=T0 + 2 * HOUR)
    open_on(upgrade)
    older_upgrade = a_transaction(type=TYPES.PLAN_UPGRADE, at=T0 + HOUR)
    open_on(older_upgrade)
    await store(backend,
                a_purchase(), a_paid_purchase(), upgrade, older_upgrade,
                a_transaction(type=TYPES.PLAN_UPGRADE, status=STATUS.CANCELLED),
                a_transaction(type=TYPES.PLAN_DOWNGRADE),  # succeeded at once
                a_purchase("bob"), a_transaction("bob", type=TYPES.PLAN_UPGRADE))
    async with backend.uow() as uow:
        plain = await uow.transactions.list_pending_plan_changes("alice")
        locked = await uow.transactions.list_pending_plan_changes("alice", for_update=True)
        assert await uow.transactions.list_pending_plan_changes("carol") == []
    assert ids(plain) == ids(locked) == [older_upgrade.id, upgrade.id]
    assert [state(t) for t in locked] == [state(older_upgrade), state(upgrade)]


# ====================================================================== claims: the expiry sweep
async def test_expirable_transactions_have_a_lapsed_open_session_or_all_attempts_lapsed(backend: Backend) -> None:
    now = T0 + 3 * HOUR
    lapsed_open = a_purchase(at=T0 + MINUTE)  # still stored open, past its expires_at
    failed = a_purchase(at=T0 + 2 * MINUTE)  # its attempt failed and its expires_at passed
    failed.end_attempt(failed.sessions[0].id, closed=False, reason="declined", now=T0 + 3 * MINUTE)
    retried = a_purchase(at=T0 + 3 * MINUTE)  # a newer attempt is open until after now
    open_on(retried, at=T0 + 30 * MINUTE, ttl=4 * HOUR)
    may_retry = a_purchase(at=T0 + 4 * MINUTE, ttl=4 * HOUR)  # failed, but its attempt runs until after now
    may_retry.end_attempt(may_retry.sessions[0].id, closed=False, reason="declined", now=T0 + 5 * MINUTE)
    on_the_dot = a_purchase(at=T0 + 5 * MINUTE, ttl=now - (T0 + 5 * MINUTE))  # expires_at == now
    paid = a_paid_purchase(at=T0)
    too_new = a_purchase(at=now + timedelta(seconds=1))
    await store(backend, lapsed_open, failed, retried, may_retry, on_the_dot, paid, too_new)

    async with backend.uow() as uow:
        found = await uow.transactions.claim_expirable(now, 10)
    assert ids(found) == [lapsed_open.id, failed.id, on_the_dot.id]  # oldest first
    assert [state(t) for t in found] == [state(lapsed_open), state(failed), state(on_the_dot)]
    async with backend.uow() as uow:
        assert ids(await uow.transactions.claim_expirable(now, 2)) == [lapsed_open.id, failed.id]
    async with backend.uow() as uow:
        assert ids(await uow.transactions.claim_expirable(T0 + HOUR + MINUTE, 10)) == [lapsed_open.id]
        assert await uow.transactions.claim_expirable(T0 + HOUR, 10) == []


async def sweep(backend: Backend, now: datetime, limit: int) -> list[str]:
    """One sweeper (as `ExpireSessions`): claim a batch, expire what lapsed, commit."""
    async with backend.uow() as uow:
        batch = await uow.transactions.claim_expirable(now, limit)
        for t in batch:
            t.expire_lapsed_sessions(now)
            t.expire_if_lapsed(now)
            await uow.transactions.update(t)
        await uow.commit()
    return ids(batch)


async def test_concurrent_sweepers_never_take_the_same_transaction(backend: Backend) -> None:
    transactions = [a_purchase(at=T0 + timedelta(seconds=n)) for n in range(6)]
    await store(backend, *transactions)
    now = T0 + 2 * HOUR
    async with backend.uow() as first:
        mine = await first.transactions.claim_expirable(now, 2)
        if backend.serialises_units_of_work:
            other = asyncio.create_task(sweep(backend, now, 10))  # waits for `first` to end
        else:
            # skips the rows `first` holds (SKIP LOCKED); it would wait for them (and time out) otherwise
            theirs = await asyncio.wait_for(sweep(backend, now, 10), timeout=WAIT)
        for t in mine:
            assert t.expire_if_lapsed(now)
            await first.transactions.update(t)
        await first.commit()
    if backend.serialises_units_of_work:
        theirs = await asyncio.wait_for(other, WAIT)
    assert ids(mine) == ids(transactions[:2])
    assert theirs == ids(transactions[2:])
    assert await sweep(backend, now, 10) == []
    for t in transactions:
        stored = await load(backend, t.id)
        assert (stored.status, stored.sessions[0].status) == (STATUS.EXPIRED, SessionStatus.EXPIRED)


async def test_claims_skip_a_transaction_another_unit_of_work_holds_with_get_for_update(backend: Backend) -> None:
    held, free = a_purchase(at=T0), a_purchase(at=T0 + MINUTE)  # both lapsed and due for a check at `now`
    await store(backend, held, free)
    now = T0 + 2 * HOUR

    async def reconcile_then_sweep() -> tuple[list[str], list[str]]:
        return await reconcile(backend, now, 10), await sweep(backend, now, 10)

    async with backend.uow() as first:
        locked = await first.transactions.get(held.id, for_update=True)
        if backend.serialises_units_of_work:
            other = asyncio.create_task(reconcile_then_sweep())  # waits for `first` to end
        else:
            checked, swept = await asyncio.wait_for(reconcile_then_sweep(), timeout=WAIT)
        assert locked.take_due_checks(now)
        assert locked.expire_if_lapsed(now)
        await first.transactions.update(locked)
        await first.commit()
    if backend.serialises_units_of_work:
        checked, swept = await asyncio.wait_for(other, WAIT)
    assert (checked, swept) == ([free.id], [free.id])
    assert (await load(backend, held.id)).status is STATUS.EXPIRED
    assert (await load(backend, free.id)).status is STATUS.EXPIRED


# ====================================================================== claims: the reconciler
async def test_due_for_a_check_are_transactions_with_a_session_whose_check_has_come(backend: Backend) -> None:
    first = a_purchase(at=T0)  # a session is first checked a minute after it opens
    two_due = a_transaction(at=T0)
    declined = open_on(two_due, at=T0)
    two_due.end_attempt(declined.id, closed=False, reason="declined", now=T0 + 30 * timedelta(seconds=1))
    open_on(two_due, at=T0 + 40 * timedelta(seconds=1))  # both sessions are due: claimed once
    second = a_purchase(at=T0 + 2 * MINUTE)
    paid = a_paid_purchase(at=T0)  # a paid session is never checked
    later = a_purchase(at=T0 + HOUR)
    await store(backend, later, paid, second, two_due, first)
    due = T0 + 3 * MINUTE
    assert second.sessions[0].next_check_at == due  # next_check_at <= now
    assert paid.sessions[0].next_check_at is None
    async with backend.uow() as uow:
        found = await uow.transactions.claim_due_for_check(due, 10)
    assert ids(found) == [first.id, two_due.id, second.id]  # by their earliest due check
    assert [state(t) for t in found] == [state(first), state(two_due), state(second)]
    async with backend.uow() as uow:
        assert ids(await uow.transactions.claim_due_for_check(due, 1)) == [first.id]
    async with backend.uow() as uow:
        assert await uow.transactions.claim_due_for_check(T0, 10) == []


async def reconcile(backend: Backend, now: datetime, limit: int) -> list[str]:
    """One reconciler (as `ReconcilePayments`): claim a batch, schedule the next checks, commit."""
    async with backend.uow() as uow:
        batch = await uow.transactions.claim_due_for_check(now, limit)
        for t in batch:
            assert t.take_due_checks(now)
            await uow.transactions.update(t)
        await uow.commit()
    return ids(batch)


async def test_concurrent_reconcilers_never_take_the_same_transaction(backend: Backend) -> None:
    transactions = [a_purchase(at=T0 + timedelta(seconds=n)) for n in range(4)]
    await store(backend, *transactions)
    now = T0 + 2 * MINUTE
    async with backend.uow() as first:
        mine = await first.transactions.claim_due_for_check(now, 2)
        if backend.serialises_units_of_work:
            other = asyncio.create_task(reconcile(backend, now, 10))
        else:
            theirs = await asyncio.wait_for(reconcile(backend, now, 10), timeout=WAIT)
        for t in mine:
            assert t.take_due_checks(now)
            await first.transactions.update(t)
        await first.commit()
    if backend.serialises_units_of_work:
        theirs = await asyncio.wait_for(other, WAIT)
    assert ids(mine) == ids(transactions[:2])
    assert theirs == ids(transactions[2:])
    assert await reconcile(backend, now, 10) == []  # every next check was moved past now
    for t in transactions:
        assert (await load(backend, t.id)).sessions[0].next_check_at > now
