"""What auto-renewal needs of storage (docs/renewals.md), over memory, SQLite and PostgreSQL:

- at most one plan_renewal per user and period, refused by the store itself (the unique partial
  index on PostgreSQL and SQLite): by a second unit of work, by two at once, after a commit, and
  whatever the first's status; other users and other periods are free, and other types never clash;
- `renewal_for` and `pending_renewals` find them, locked;
- a membership's renewal fields are stored and read back as they were;
- `claim_due_renewals` takes memberships whose check is due, earliest first, locked, and skips
  those another unit of work holds (`FOR UPDATE SKIP LOCKED`), so renewal jobs split the work.
"""
from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest

from contract_support import T0, WAIT, Backend, a_membership, a_transaction, new_id, new_order_id, state, store
from domain.catalog import DEFAULT_CATALOG, PlanId
from domain.membership import Membership
from domain.money import CNY, Money
from domain.renewal import DEFAULT_POLICY
from domain.transaction import Transaction, TransactionStatus
from ports.repositories import DuplicateKeyError

PERIOD = T0 + timedelta(days=30)


def a_renewal(user: str = "alice", period_start=PERIOD) -> Transaction:
    return Transaction.plan_renewal(id=new_id("txn"), order_id=new_order_id("P"), user_id=user, plan_from=PlanId.PRO,
                                    plan_to=PlanId.PRO, price=Money(2900, CNY), period_start=period_start,
                                    payment_method=None, provider=None, now=T0)


def renewing(user: str, check_at) -> Membership:
    membership = a_membership(user)
    membership.apply_upgrade(DEFAULT_CATALOG.plan("pro"), DEFAULT_CATALOG, T0)
    membership.set_auto_renew(True, "spm_x", DEFAULT_CATALOG, DEFAULT_POLICY, T0)
    membership.schedule_renewal_check(check_at)
    return membership


async def add(backend: Backend, transaction: Transaction) -> None:
    async with backend.uow() as uow:
        await uow.transactions.add(transaction)
        await uow.commit()


# ====================================================================== one renewal per user and period
async def test_a_second_renewal_of_the_same_user_and_period_is_refused(backend: Backend) -> None:
    first = a_renewal()
    await add(backend, first)
    with pytest.raises(DuplicateKeyError):
        await add(backend, a_renewal())
    async with backend.uow() as uow:
        found = await uow.transactions.renewal_for("alice", PERIOD)
    assert found is not None and found.id == first.id


async def test_whatever_the_first_renewal_became_a_second_is_refused(backend: Backend) -> None:
    first = a_renewal()
    first.fail("renewal_unpaid", T0 + timedelta(days=40))
    await add(backend, first)
    with pytest.raises(DuplicateKeyError):
        await add(backend, a_renewal())


async def test_other_users_other_periods_and_other_types_are_free(backend: Backend) -> None:
    await store(backend, a_renewal("alice"), a_renewal("bob"), a_renewal("alice", PERIOD + timedelta(days=31)),
                a_transaction("alice"), a_transaction("alice"))
    async with backend.uow() as uow:
        pending = await uow.transactions.pending_renewals("alice")
    assert sorted(t.renewal_period_start for t in pending) == [PERIOD, PERIOD + timedelta(days=31)]


async def test_the_refused_renewal_leaves_the_unit_of_work_usable_and_stores_nothing(backend: Backend) -> None:
    await add(backend, a_renewal())
    async with backend.uow() as uow:
        with pytest.raises(DuplicateKeyError):
            await uow.transactions.add(a_renewal())
        other = a_transaction("alice")
        await uow.transactions.add(other)
        await uow.commit()
    async with backend.uow() as uow:
        assert await uow.transactions.get(other.id) is not None
        assert len(await uow.transactions.pending_renewals("alice")) == 1


async def test_two_units_of_work_adding_the_same_renewal_at_once_store_one(backend: Backend) -> None:
    async def attempt() -> str:
        try:
            await add(backend, a_renewal())
        except DuplicateKeyError:
            return "refused"
        return "stored"
    outcomes = await asyncio.wait_for(asyncio.gather(*(attempt() for _ in range(4))), WAIT)
    assert sorted(outcomes) == ["refused", "refused", "refused", "stored"]


async def test_a_renewal_reads_back_with_its_period(backend: Backend) -> None:
    renewal = a_renewal()
    await add(backend, renewal)
    async with backend.uow() as uow:
        stored = await uow.transactions.get(renewal.id)
    assert state(stored) == state(renewal)
    assert stored.status is TransactionStatus.PENDING and stored.renewal_period_start == PERIOD


# ====================================================================== memberships
async def test_a_membership_s_renewal_fields_are_stored_as_they_were(backend: Backend) -> None:
    membership = renewing("alice", T0 + timedelta(days=27))
    await store(backend, membership)
    async with backend.uow() as uow:
        stored = await uow.memberships.get("alice")
    assert state(stored) == state(membership)
    assert (stored.auto_renew, stored.renewal_method_id, stored.renewal_check_at) == \
        (True, "spm_x", T0 + timedelta(days=27))
    boundary = stored.current_period_end
    stored.roll_forward(boundary, DEFAULT_CATALOG)  # awaiting its renewal, with a method: not past_due yet
    async with backend.uow() as uow:
        await uow.memberships.update(stored)
        await uow.commit()
    async with backend.uow() as uow:
        again = await uow.memberships.get("alice")
    assert state(again) == state(stored)
    assert (again.grace_until, again.status.value) == (boundary + timedelta(days=7), "active")


async def test_due_memberships_are_claimed_earliest_first(backend: Backend) -> None:
    now = T0 + timedelta(days=10)
    await store(backend, renewing("late", now), renewing("early", now - timedelta(days=1)),
                renewing("not-yet", now + timedelta(seconds=1)), a_membership("never"))
    async with backend.uow() as uow:
        claimed = await uow.memberships.claim_due_renewals(now, 10)
    assert [m.user_id for m in claimed] == ["early", "late"]


async def test_concurrent_renewal_jobs_never_take_the_same_membership(backend: Backend) -> None:
    now = T0 + timedelta(days=10)
    users = [f"u{n}" for n in range(6)]
    await store(backend, *(renewing(user, now - timedelta(minutes=10 - n)) for n, user in enumerate(users)))

    async def claim_and_release(limit: int) -> list[str]:
        async with backend.uow() as uow:
            claimed = await uow.memberships.claim_due_renewals(now, limit)
            for membership in claimed:
                membership.schedule_renewal_check(None)
                await uow.memberships.update(membership)
            await uow.commit()
        return [m.user_id for m in claimed]

    async with backend.uow() as first:
        mine = await first.memberships.claim_due_renewals(now, 2)
        if backend.serialises_units_of_work:
            other = asyncio.create_task(claim_and_release(10))  # waits for `first` to end
        else:
            theirs = await asyncio.wait_for(claim_and_release(10), timeout=WAIT)  # skips what `first` holds
        for membership in mine:
            membership.schedule_renewal_check(None)
            await first.memberships.update(membership)
        await first.commit()
    if backend.serialises_units_of_work:
        theirs = await asyncio.wait_for(other, WAIT)
    assert [m.user_id for m in mine] == users[:2]
    assert theirs == users[2:]
    assert await claim_and_release(10) == []
