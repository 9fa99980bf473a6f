"""The contract of post-commit events (`ports.unit_of_work`, `ports.events`): after a successful
commit, the events recorded by the aggregates the unit of work stored (a transaction and its
sessions, memberships, refunds) reach every subscriber of the dispatcher, once each, when the
change can already be read; after a rollback, none do.
"""
from __future__ import annotations

from collections import Counter

import pytest

from contract_support import (
    MINUTE,
    STATUS,
    T0,
    Backend,
    a_membership,
    a_purchase,
    a_refund,
    open_on,
    store,
)
from domain import events
from domain.events import Event


def described(delivered: list[Event]) -> Counter:
    """What was delivered, as (event type, what it is about, new status) with multiplicity."""
    def about(event: Event) -> tuple:
        if isinstance(event, events.SessionStatusChanged):
            return type(event).__name__, event.session_id, event.status
        if isinstance(event, (events.TransactionEvent, events.PaymentAttemptFailed, events.DuplicatePaymentRefunded)):
            return type(event).__name__, event.transaction_id, None
        return type(event).__name__, getattr(event, "user_id", None), None
    return Counter(about(e) for e in delivered)


async def test_the_events_of_a_committed_transaction_and_its_sessions_are_delivered_once(backend: Backend) -> None:
    t = a_purchase()
    session = t.sessions[0]
    membership = a_membership()
    async with backend.uow() as uow:
        await uow.transactions.add(t)
        assert await uow.memberships.add(membership)
        assert backend.events == []  # nothing before commit
        await uow.commit()
    assert described(backend.events) == Counter({
        ("TransactionCreated", t.id, None): 1,
        ("SessionStatusChanged", session.id, "open"): 1,
        ("PeriodStarted", "alice", None): 1,
    })
    assert t.events == [] and session.events == [] and membership.events == []  # handed out: never again

    backend.events.clear()
    async with backend.uow() as uow:  # another unit of work delivers only its own
        assert await uow.processed_events.add("mock", "evt_1", T0)
        await uow.commit()
    assert backend.events == []


async def test_an_update_delivers_the_events_of_the_transaction_and_of_every_session_it_changed(
        backend: Backend) -> None:
    t = a_purchase()
    first = t.sessions[0]
    await store(backend, t)
    backend.events.clear()
    async with backend.uow() as uow:
        loaded = await uow.transactions.get(t.id, for_update=True)
        second = open_on(loaded, at=T0 + MINUTE)  # replaces the first
        await uow.transactions.update(loaded)
        loaded.confirm_payment(second.id, T0 + 2 * MINUTE)  # the same aggregate stored twice
        await uow.transactions.update(loaded)
        await uow.commit()
    assert described(backend.events) == Counter({
        ("SessionStatusChanged", first.id, "cancelled"): 1,
        ("SessionStatusChanged", second.id, "open"): 1,
        ("SessionStatusChanged", second.id, "completed"): 1,
        ("TransactionSucceeded", t.id, None): 1,
    })


async def test_refunds_and_membership_changes_deliver_their_events(backend: Backend) -> None:
    t = a_purchase()
    await store(backend, t, a_membership())
    backend.events.clear()
    refund = a_refund(t.sessions[0])
    async with backend.uow() as uow:
        membership = await uow.memberships.get("alice", for_update=True)
        membership.credit_purchase(10, t.id, T0)
        await uow.memberships.update(membership)
        await uow.refunds.add(refund)
        await uow.commit()
    assert described(backend.events) == Counter({
        ("ReceivesCredited", "alice", None): 1,
        ("DuplicatePaymentRefunded", t.id, None): 1,
    })


async def test_no_event_is_delivered_after_a_rollback(backend: Backend) -> None:
    stored = a_purchase()
    await store(backend, stored)
    backend.events.clear()

    async with backend.uow() as uow:  # left without commit
        await uow.transactions.add(a_purchase())
        loaded = await uow.transactions.get(stored.id, for_update=True)
        loaded.cancel("no", T0 + MINUTE)
        await uow.transactions.update(loaded)
    async with backend.uow() as uow:  # rolled back explicitly
        await uow.transactions.add(a_purchase())
        assert await uow.memberships.add(a_membership())
        await uow.rollback()
    with pytest.raises(RuntimeError):  # left by an exception
        async with backend.uow() as uow:
            await uow.transactions.add(a_purchase())
            raise RuntimeError("boom")
    assert backend.events == []

    async with backend.uow() as uow:  # and a later commit does not deliver them either
        assert await uow.consumptions.add("alice", "match-1", 1, T0)
        await uow.commit()
    assert backend.events == []


async def test_subscribers_hear_of_a_change_once_it_can_be_read(backend: Backend) -> None:
    t = a_purchase()
    await store(backend, t)
    seen: list[tuple[str, str | None]] = []

    async def read_what_was_committed(delivered: list[Event]) -> None:
        for event in delivered:
            if isinstance(event, events.TransactionCancelled):
                found = await backend.queries.transaction(event.transaction_id)
                seen.append((found.status.value, found.sessions[0].status.value))

    backend.dispatcher.subscribe(read_what_was_committed)
    async with backend.uow() as uow:
        loaded = await uow.transactions.get(t.id, for_update=True)
        loaded.cancel("no", T0 + MINUTE)
        await uow.transactions.update(loaded)
        await uow.commit()
    assert seen == [(STATUS.CANCELLED.value, "cancelled")]
    assert ("TransactionCancelled", t.id, None) in described(backend.events)
