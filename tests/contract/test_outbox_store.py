"""Contract of the outbox (`ports.outbox`) over memory, SQLite and PostgreSQL: events are written
by the unit of work's commit (never by a rollback), claimed one at a time per user in the order
they were written, held by a lease that runs out, settled only by the holder of the claim (also
with the next claim in one call, which then claims the next event of a user settled delivered or
failed), retried when due, failed without blocking the user's later events, redelivered, and
listed newest first by status. Concurrent claimers never get the same event, nor break the order
per user. The retention's purge deletes only events settled (delivered, or failed) before its
moment, never a pending or claimed one nor the newest, in bounded batches, each event once when
purgers run at once; a sequence number is never given again after a purge.
"""
from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import datetime, timedelta, timezone

import attrs
import pytest

from adapters.memory import InMemoryStore, in_memory_uow_factory
from adapters.memory_outbox import InMemoryOutboxStore
from domain.outbox import RETRY_FOR, NewEvent, OutboxStatus
from ports.outbox import Outcome, OutboxStore
from ports.unit_of_work import UnitOfWorkFactory

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=timezone.utc)
LEASE = timedelta(seconds=30)
SECOND = timedelta(seconds=1)


@attrs.define
class Outbox:
    """A unit-of-work factory whose commits write what `queue` holds, and the store reading it."""

    uow: UnitOfWorkFactory
    store: OutboxStore
    database: object = None  # the SQL backends' database
    queue: list[NewEvent] = attrs.field(factory=list)
    made: int = 0

    def record(self, aggregates, events) -> list[NewEvent]:
        taken, self.queue[:] = list(self.queue), []
        return taken

    async def write(self, *users: str, at: datetime = T0, rollback: bool = False) -> list[str]:
        """One unit of work writing one event per user named (in that order); their ids."""
        ids = []
        for user in users:
            self.made += 1
            ids.append(f"evt_{self.made:04d}")
            self.queue.append(NewEvent(ids[-1], user, "membership.updated", at, {"user_id": user, "n": self.made}))
        async with self.uow() as uow:
            if not rollback:
                await uow.commit()
        self.queue.clear()
        return ids


@pytest.fixture(params=["memory", "sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def outbox(request: pytest.FixtureRequest) -> AsyncIterator[Outbox]:
    if request.param == "memory":
        store = InMemoryStore()
        made = Outbox(None, InMemoryOutboxStore(store))  # type: ignore[arg-type]
        made.uow = in_memory_uow_factory(store, None, made.record)
        yield made
        return
    from adapters.sql.database import create_database
    from adapters.sql.outbox import SqlOutboxStore, outbox_hook
    from adapters.sql.session_feed import in_transaction_hooks
    from adapters.sql.unit_of_work import sql_uow_factory

    url = request.getfixturevalue("fresh_sqlite_url" if request.param == "sqlite" else "clean_postgres_url")
    database = create_database(url, **({} if request.param == "sqlite" else {"min_size": 1, "max_size": 6}))
    await database.connect()
    try:
        made = Outbox(None, SqlOutboxStore(database), database=database)  # type: ignore[arg-type]
        made.uow = sql_uow_factory(database, None, (*in_transaction_hooks(url), outbox_hook(made.record)))
        yield made
    finally:
        await database.disconnect()


async def ids(claimed) -> list[str]:
    return [c.event.id for c in claimed]


async def settle(outbox: Outbox, outcome: Outcome) -> bool:
    """Settles `outcome` alone, claiming nothing; whether it was settled (the claim was the caller's)."""
    done = await outbox.store.settle_and_claim([outcome], T0, 0, LEASE)
    assert done.claimed == [] and done.settled <= {outcome.claim.event.id}
    return outcome.claim.event.id in done.settled


async def test_events_are_written_by_the_commit_and_never_by_a_rollback(outbox):
    await outbox.write("alice", rollback=True)
    assert await outbox.store.page(None, 1, 10) == ([], 0)
    [written] = await outbox.write("alice")

    events, total = await outbox.store.page(OutboxStatus.PENDING, 1, 10)
    assert total == 1
    [event] = events
    assert (event.id, event.user_id, event.type, event.status, event.attempts) == (
        written, "alice", "membership.updated", OutboxStatus.PENDING, 0)
    assert (event.created_at, event.next_attempt_at, event.give_up_at) == (T0, T0, T0 + RETRY_FOR)
    assert event.body == ('{"id":"%s","type":"membership.updated","timestamp":"2026-03-01T12:00:00Z",'
                          '"data":{"user_id":"alice","n":2}}' % written)
    assert await outbox.store.get(written) == event


async def test_one_event_per_user_is_claimed_in_the_order_written(outbox):
    a1, b1 = await outbox.write("alice", "bob")
    a2, = await outbox.write("alice")
    c1, = await outbox.write("carol")

    first = await outbox.store.claim_due(T0, 10, LEASE)
    assert await ids(first) == [a1, b1, c1]
    assert await outbox.store.claim_due(T0, 10, LEASE) == []  # held, and alice's next waits for a1

    assert await settle(outbox, Outcome.delivered(first[0], T0 + SECOND))
    [next_of_alice] = await outbox.store.claim_due(T0 + SECOND, 10, LEASE)
    assert next_of_alice.event.id == a2
    delivered = await outbox.store.get(a1)
    assert (delivered.status, delivered.attempts, delivered.delivered_at) == (OutboxStatus.DELIVERED, 1, T0 + SECOND)


async def test_a_claim_is_limited_and_not_due_events_wait(outbox):
    await outbox.write("u1", "u2", "u3")
    await outbox.write("later", at=T0 + timedelta(minutes=5))
    long = timedelta(hours=1)
    assert len(await outbox.store.claim_due(T0, 2, long)) == 2
    assert len(await outbox.store.claim_due(T0, 2, long)) == 1
    assert await outbox.store.claim_due(T0, 2, long) == []
    [later] = await outbox.store.claim_due(T0 + timedelta(minutes=5), 2, long)
    assert later.event.user_id == "later"


async def test_a_lease_that_ran_out_lets_another_dispatcher_claim_and_only_it_settles(outbox):
    event_id, = await outbox.write("alice")
    [dead] = await outbox.store.claim_due(T0, 10, LEASE)
    assert await outbox.store.claim_due(T0 + LEASE - SECOND, 10, LEASE) == []

    [taken] = await outbox.store.claim_due(T0 + LEASE, 10, LEASE)
    assert taken.event.id == event_id and taken.token != dead.token
    assert not await settle(outbox, Outcome.delivered(dead, T0 + LEASE))  # the claim is no longer the dead one's
    assert not await settle(outbox, Outcome.retry_at(dead, T0 + 2 * LEASE, "late"))
    assert (await outbox.store.get(event_id)).status is OutboxStatus.PENDING
    assert await settle(outbox, Outcome.delivered(taken, T0 + LEASE))
    assert not await settle(outbox, Outcome.delivered(taken, T0 + LEASE))  # settled once
    assert (await outbox.store.get(event_id)).attempts == 1


async def test_a_retry_waits_until_due_and_keeps_the_users_later_events_back(outbox):
    first, second = await outbox.write("alice", "alice")
    [claim] = await outbox.store.claim_due(T0, 10, LEASE)
    assert await settle(outbox, Outcome.retry_at(claim, T0 + 10 * SECOND, "HTTP 503"))

    retried = await outbox.store.get(first)
    assert (retried.status, retried.attempts, retried.last_error, retried.next_attempt_at) == (
        OutboxStatus.PENDING, 1, "HTTP 503", T0 + 10 * SECOND)
    assert await outbox.store.claim_due(T0 + 9 * SECOND, 10, LEASE) == []  # not due; `second` waits behind it
    [again] = await outbox.store.claim_due(T0 + 10 * SECOND, 10, LEASE)
    assert again.event.id == first and again.event.attempts == 1


async def test_a_failed_event_stops_blocking_and_can_be_redelivered(outbox):
    first, second = await outbox.write("alice", "alice")
    [claim] = await outbox.store.claim_due(T0, 10, LEASE)
    assert await settle(outbox, Outcome.failed(claim, "HTTP 410"))
    failed = await outbox.store.get(first)
    assert (failed.status, failed.attempts, failed.last_error) == (OutboxStatus.FAILED, 1, "HTTP 410")

    [next_one] = await outbox.store.claim_due(T0, 10, LEASE)
    assert next_one.event.id == second
    assert await settle(outbox, Outcome.delivered(next_one, T0))

    later = T0 + timedelta(days=4)
    redelivered = await outbox.store.redeliver(first, later, later + RETRY_FOR)
    assert (redelivered.status, redelivered.next_attempt_at, redelivered.give_up_at, redelivered.body) == (
        OutboxStatus.PENDING, later, later + RETRY_FOR, failed.body)
    [claimed] = await outbox.store.claim_due(later, 10, LEASE)
    assert claimed.event.id == first
    assert await outbox.store.redeliver("evt_unknown", later, later) is None
    assert await outbox.store.get("evt_unknown") is None


async def test_settling_and_claiming_in_one_call_claims_the_next_event_of_a_user_settled_delivered(outbox):
    a1, b1, c1 = await outbox.write("alice", "bob", "carol")
    a2, _b2, c2 = await outbox.write("alice", "bob", "carol")
    a, b, c = await outbox.store.claim_due(T0, 10, LEASE)

    done = await outbox.store.settle_and_claim(
        [Outcome.delivered(a, T0), Outcome.retry_at(b, T0 + 10 * SECOND, "HTTP 503"), Outcome.failed(c, "HTTP 410")],
        T0 + SECOND, 10, LEASE)
    assert done.settled == {a1, b1, c1}
    # alice's and carol's next go at once; bob's waits behind his first, which is to be retried
    assert await ids(done.claimed) == [a2, c2]
    assert [(await outbox.store.get(i)).status for i in (a1, b1, c1)] == [
        OutboxStatus.DELIVERED, OutboxStatus.PENDING, OutboxStatus.FAILED]
    assert (await outbox.store.get(b1)).next_attempt_at == T0 + 10 * SECOND
    assert (await outbox.store.get(a1)).delivered_at == T0
    [next_a, next_c] = done.claimed
    done = await outbox.store.settle_and_claim([Outcome.delivered(next_a, T0), Outcome.delivered(next_c, T0)],
                                               T0 + 10 * SECOND, 10, LEASE)
    assert (done.settled, await ids(done.claimed)) == ({a2, c2}, [b1])


async def test_a_lost_claim_settled_with_a_claim_changes_nothing_and_holds_the_users_next_back(outbox):
    first, second = await outbox.write("alice", "alice")
    [dead] = await outbox.store.claim_due(T0, 10, LEASE)
    [taken] = await outbox.store.claim_due(T0 + LEASE, 10, LEASE)

    done = await outbox.store.settle_and_claim([Outcome.delivered(dead, T0 + LEASE)], T0 + LEASE, 10, LEASE)
    assert (done.settled, done.claimed) == (frozenset(), [])
    assert (await outbox.store.get(first)).status is OutboxStatus.PENDING

    # a claim whose lease ran out but that nobody took is still its holder's: settled, not claimed again
    late = T0 + 3 * LEASE
    done = await outbox.store.settle_and_claim([Outcome.delivered(taken, late)], late, 10, LEASE)
    assert done.settled == {first} and await ids(done.claimed) == [second]
    assert (await outbox.store.get(first)).attempts == 1


async def test_a_delivered_event_redelivered_goes_before_the_users_later_pending_ones(outbox):
    first, = await outbox.write("alice")
    [claim] = await outbox.store.claim_due(T0, 10, LEASE)
    await settle(outbox, Outcome.delivered(claim, T0))
    later, = await outbox.write("alice")
    await outbox.store.redeliver(first, T0, T0 + RETRY_FOR)
    assert await ids(await outbox.store.claim_due(T0, 10, LEASE)) == [first]
    assert (await outbox.store.get(first)).delivered_at is None


async def test_pages_are_newest_first_by_status(outbox):
    written = await outbox.write("a", "b", "c", "d", "e")
    [claim, *_] = await outbox.store.claim_due(T0, 1, LEASE)
    await settle(outbox, Outcome.delivered(claim, T0))

    page, total = await outbox.store.page(OutboxStatus.PENDING, 1, 3)
    assert ([e.id for e in page], total) == (written[:0:-1][:3], 4)
    page, total = await outbox.store.page(OutboxStatus.PENDING, 2, 3)
    assert ([e.id for e in page], total) == ([written[1]], 4)
    page, total = await outbox.store.page(OutboxStatus.DELIVERED, 1, 3)
    assert ([e.id for e in page], total) == ([written[0]], 1)
    assert (await outbox.store.page(None, 1, 10))[1] == 5
    assert await outbox.store.page(OutboxStatus.FAILED, 1, 10) == ([], 0)


async def test_concurrent_claimers_never_get_the_same_event(outbox):
    for batch in range(4):
        await outbox.write(*(f"user{n}" for n in range(10)))
    seen: list[str] = []

    async def dispatcher() -> None:
        while True:
            claimed = await outbox.store.claim_due(T0, 3, LEASE)
            if not claimed:
                pending, _ = await outbox.store.page(OutboxStatus.PENDING, 1, 1)
                if not pending:
                    return
                await asyncio.sleep(0.005)
                continue
            for claim in claimed:
                seen.append(claim.event.id)
                assert await settle(outbox, Outcome.delivered(claim, T0))

    await asyncio.wait_for(asyncio.gather(*(dispatcher() for _ in range(4))), 30)
    assert sorted(seen) == sorted(f"evt_{n:04d}" for n in range(1, 41))
    order = {user: [i for i in seen if int(i[4:]) % 10 == user % 10] for user in range(10)}
    assert all(ids_ == sorted(ids_) for ids_ in order.values())


async def test_concurrent_dispatchers_settling_with_their_next_claim_keep_each_users_order(outbox):
    for batch in range(4):
        await outbox.write(*(f"user{n}" for n in range(10)))
    seen: list[str] = []

    async def dispatcher() -> None:
        ended: list[Outcome] = []
        while True:
            done = await outbox.store.settle_and_claim(ended, T0, 3, LEASE)
            assert done.settled == {outcome.claim.event.id for outcome in ended}
            ended = [Outcome.delivered(claim, T0) for claim in done.claimed]
            seen.extend(claim.event.id for claim in done.claimed)
            if not ended:
                pending, _ = await outbox.store.page(OutboxStatus.PENDING, 1, 1)
                if not pending:
                    return
                await asyncio.sleep(0.005)

    await asyncio.wait_for(asyncio.gather(*(dispatcher() for _ in range(4))), 30)
    assert sorted(seen) == sorted(f"evt_{n:04d}" for n in range(1, 41))
    order = {user: [i for i in seen if int(i[4:]) % 10 == user % 10] for user in range(10)}
    assert all(ids_ == sorted(ids_) for ids_ in order.values())


@pytest.mark.parametrize("outbox", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)], indirect=True)
async def test_a_store_writing_in_a_transaction_of_its_own_writes_events_with_it(outbox):
    """`adapters.sql.outbox.write_events` outside a unit of work (a store's own transaction; SQL
    only: in memory a store appends to `InMemoryStore.outbox` itself)."""
    from adapters.sql.connections import database_transaction
    from adapters.sql.outbox import write_events

    new = [NewEvent("evt_own_1", "alice", "risk.flagged", T0, {"user_id": "alice", "flag": {}}),
           NewEvent("evt_own_2", "alice", "membership.updated", T0, {"user_id": "alice"})]
    with pytest.raises(RuntimeError):
        async with database_transaction(outbox.database) as context:
            await write_events(context, new[:1])
            raise RuntimeError("rolled back")
    assert await outbox.store.get("evt_own_1") is None
    async with database_transaction(outbox.database) as context:
        await write_events(context, new)
    assert await ids(await outbox.store.claim_due(T0, 10, LEASE)) == ["evt_own_1"]


DAY = timedelta(days=1)


async def deliver_all(outbox: Outbox, at: datetime = T0) -> None:
    while claimed := await outbox.store.claim_due(T0, 50, LEASE):
        for claim in claimed:
            assert await settle(outbox, Outcome.delivered(claim, at))


async def test_the_purge_deletes_only_events_settled_before_its_moment(outbox):
    old, _recent, failed, retried, held = await outbox.write("alice", "bob", "carol", "dave", "erin")
    a, b, c, d, e = await outbox.store.claim_due(T0, 10, LEASE)
    assert await settle(outbox, Outcome.delivered(a, T0))
    assert await settle(outbox, Outcome.delivered(b, T0 + 10 * DAY))
    assert await settle(outbox, Outcome.failed(c, "HTTP 410"))  # its 72 hours end at T0 + 3 days
    assert await settle(outbox, Outcome.retry_at(d, T0 + 60 * SECOND, "HTTP 503"))
    # `e` stays claimed; a due event nobody claimed yet, a redelivered one, then the newest, delivered
    waiting, redelivered = await outbox.write("frank", "gina")
    [g] = [claim for claim in await outbox.store.claim_due(T0, 10, LEASE) if claim.event.id == redelivered]
    assert await settle(outbox, Outcome.delivered(g, T0))
    await outbox.store.redeliver(redelivered, T0, T0 + RETRY_FOR)
    newest, = await outbox.write("hana")
    [h] = [claim for claim in await outbox.store.claim_due(T0, 10, LEASE) if claim.event.id == newest]
    assert await settle(outbox, Outcome.delivered(h, T0))

    assert await outbox.store.purge_settled(T0 + 5 * DAY, 100) == 2
    assert await outbox.store.get(old) is None and await outbox.store.get(failed) is None
    assert await outbox.store.purge_settled(T0 + 5 * DAY, 100) == 0  # nothing more, nothing twice

    assert await outbox.store.purge_settled(T0 + 365 * DAY, 100) == 1  # `recent` in its turn
    kept = {event.id for event in (await outbox.store.page(None, 1, 100))[0]}
    assert kept == {retried, held, waiting, redelivered, newest}
    # the claim held through the purges still settles; the others are still delivered in turn
    assert await settle(outbox, Outcome.delivered(e, T0))
    assert set(await ids(await outbox.store.claim_due(T0 + 60 * SECOND, 10, LEASE))) == {
        retried, waiting, redelivered}


async def test_the_purge_takes_at_most_its_limit_and_keeps_the_newest_event(outbox):
    written = await outbox.write("u1", "u2", "u3", "u4", "u5")
    await deliver_all(outbox)
    assert [await outbox.store.purge_settled(T0 + DAY, 2) for _ in range(3)] == [2, 2, 0]
    [left], total = await outbox.store.page(None, 1, 10)
    assert (left.id, total) == (written[-1], 1)


async def test_after_a_purge_sequence_numbers_are_not_given_again_and_a_users_order_holds(outbox):
    before = await outbox.write("alice", "alice", "alice")
    await deliver_all(outbox)
    numbers = [(await outbox.store.get(event_id)).sequence for event_id in before]
    assert await outbox.store.purge_settled(T0 + DAY, 100) == 2

    first, second = await outbox.write("alice", "alice")
    if outbox.database is not None:  # the SQL stores number the events (memory keeps them in a list)
        assert (await outbox.store.get(first)).sequence > max(numbers)
        assert (await outbox.store.get(second)).sequence > (await outbox.store.get(first)).sequence
    page, _ = await outbox.store.page(None, 1, 10)
    assert [event.id for event in page] == [second, first, before[-1]]
    [claim] = await outbox.store.claim_due(T0, 10, LEASE)
    assert claim.event.id == first  # `second` waits behind it, as before any purge
    assert await settle(outbox, Outcome.delivered(claim, T0))
    assert await ids(await outbox.store.claim_due(T0, 10, LEASE)) == [second]


async def test_purges_running_at_once_delete_each_event_once(outbox):
    for batch in range(4):
        await outbox.write(*(f"user{n}" for n in range(10)))
    await deliver_all(outbox)

    async def purger() -> int:
        purged = 0
        while deleted := await outbox.store.purge_settled(T0 + DAY, 3):
            purged += deleted
        return purged

    counts = await asyncio.wait_for(asyncio.gather(*(purger() for _ in range(4))), 30)
    assert sum(counts) == 39
    assert (await outbox.store.page(None, 1, 10))[1] == 1
