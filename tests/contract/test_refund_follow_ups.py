"""The contract of `RefundRepository.claim_follow_ups`: the pending refunds due for a follow-up,
earliest first, locked for the claiming unit of work, skipping those another one holds (so
several workers never follow the same refund at once); `next_attempt_at` is stored."""
from __future__ import annotations

import asyncio

from contract_support import HOUR, MINUTE, T0, WAIT, Backend, a_paid_purchase, a_refund, ids, state, store


async def follow_ups(backend: Backend, now, limit: int) -> list[str]:
    """One follow-up job (as `RetryRefunds`): claim a batch, schedule the next follow-ups, commit."""
    async with backend.uow() as uow:
        batch = await uow.refunds.claim_follow_ups(now, limit)
        for refund in batch:
            assert refund.take_follow_up(now)
            await uow.refunds.update(refund)
        await uow.commit()
    return ids(batch)


async def test_the_due_pending_refunds_are_claimed_earliest_first(backend: Backend) -> None:
    t = a_paid_purchase()
    late, early, settled, young = (a_refund(t.sessions[0], T0 + 2 * MINUTE), a_refund(t.sessions[0], T0),
                                   a_refund(t.sessions[0], T0), a_refund(t.sessions[0], T0 + HOUR))
    settled.succeed("re_1", T0 + MINUTE)
    await store(backend, t, late, early, settled, young)
    now = T0 + 10 * MINUTE

    async with backend.uow() as uow:
        found = await uow.refunds.claim_follow_ups(now, 10)
        assert ids(found) == [early.id, late.id]  # due at T0 + 1 and + 3 minutes; `young` is not due
        assert [state(r) for r in found] == [state(early), state(late)]
    async with backend.uow() as uow:
        assert ids(await uow.refunds.claim_follow_ups(now, 1)) == [early.id]
    async with backend.uow() as uow:
        assert await uow.refunds.claim_follow_ups(T0, 10) == []


async def test_the_next_follow_up_is_stored_and_a_refund_is_not_claimed_before_it(backend: Backend) -> None:
    t = a_paid_purchase()
    refund = a_refund(t.sessions[0])
    await store(backend, t, refund)
    now = T0 + 5 * MINUTE

    assert await follow_ups(backend, now, 10) == [refund.id]
    async with backend.uow() as uow:
        stored = await uow.refunds.get(refund.id)
    assert stored.next_attempt_at == now + 5 * MINUTE  # waits as long again as the refund is old
    assert await follow_ups(backend, now + MINUTE, 10) == []
    assert await follow_ups(backend, stored.next_attempt_at, 10) == [refund.id]


async def test_concurrent_follow_up_jobs_never_take_the_same_refund(backend: Backend) -> None:
    t = a_paid_purchase()
    refunds = [a_refund(t.sessions[0], T0 + n * MINUTE) for n in range(5)]
    await store(backend, t, *refunds)
    now = T0 + HOUR
    async with backend.uow() as first:
        mine = await first.refunds.claim_follow_ups(now, 2)
        if backend.serialises_units_of_work:
            other = asyncio.create_task(follow_ups(backend, now, 10))  # waits for `first` to end
        else:
            theirs = await asyncio.wait_for(follow_ups(backend, now, 10), timeout=WAIT)  # SKIP LOCKED
        for refund in mine:
            assert refund.take_follow_up(now)
            await first.refunds.update(refund)
        await first.commit()
    if backend.serialises_units_of_work:
        theirs = await asyncio.wait_for(other, WAIT)
    assert ids(mine) == ids(refunds[:2])
    assert theirs == ids(refunds[2:])
    assert await follow_ups(backend, now, 10) == []  # all scheduled later
