"""The dispatcher's round (`DeliverEvents`) over the in-memory outbox, with a scripted sender (the
HTTP side has its own tests with a real receiver): delivered events are settled once; a failure is
retried after an exponential back-off with jitter (never sooner, never later than the doubling
allows) until 72 hours after the event, then `failed`; a sender that raises is a failure like any
other; one user's events go one at a time while other users' go on; each call of the store settles
the deliveries that ended and claims the next (a failed call's outcomes go with the next one); the
back-off schedule."""
from __future__ import annotations

import asyncio
import random
from datetime import datetime, timedelta, timezone

import attrs
import pytest

from adapters.clock import FixedClock
from adapters.memory import InMemoryStore
from adapters.memory_outbox import InMemoryOutboxStore
from domain.outbox import FIRST_RETRY, MAX_RETRY, RETRY_FOR, NewEvent, OutboxEvent, OutboxStatus, next_delay, pending
from ports.use_cases.events.deliver_events import DeliverEvents

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=timezone.utc)
LEASE = timedelta(seconds=30)


@attrs.define
class ScriptedSender:
    """Answers each send with the next scripted outcome (None: delivered), then None."""

    script: list = attrs.field(factory=list)
    sent: list[str] = attrs.field(factory=list)
    gate: asyncio.Event | None = None

    async def send(self, event: OutboxEvent) -> str | None:
        self.sent.append(event.id)
        if self.gate is not None:
            await self.gate.wait()
        outcome = self.script.pop(0) if self.script else None
        if isinstance(outcome, Exception):
            raise outcome
        return outcome


def outbox_with(*users: str) -> tuple[InMemoryStore, InMemoryOutboxStore]:
    store = InMemoryStore()
    store.outbox.extend(pending(NewEvent(f"evt_{n}", user, "membership.updated", T0, {"user_id": user}))
                        for n, user in enumerate(users))
    return store, InMemoryOutboxStore(store)


def deliver(outbox, sender, clock) -> DeliverEvents:
    return DeliverEvents(outbox, sender, clock, LEASE, random.Random(1))


def event(store: InMemoryStore, event_id: str) -> OutboxEvent:
    return next(e for e in store.outbox if e.id == event_id)


async def test_due_events_are_delivered_and_settled_once():
    store, outbox = outbox_with("alice", "bob", "alice")
    sender, clock = ScriptedSender(), FixedClock(T0)
    assert await deliver(outbox, sender, clock)() == 3
    assert sender.sent == ["evt_0", "evt_1", "evt_2"]
    assert all(e.status is OutboxStatus.DELIVERED and e.attempts == 1 and e.delivered_at == T0 for e in store.outbox)
    assert await deliver(outbox, sender, clock)() == 0


async def test_a_failure_is_retried_after_a_jittered_exponential_back_off():
    store, outbox = outbox_with("alice", "alice")
    sender, clock = ScriptedSender(["HTTP 503", "timeout"]), FixedClock(T0)
    dispatcher = deliver(outbox, sender, clock)
    await dispatcher()
    first = event(store, "evt_0")
    assert (first.status, first.attempts, first.last_error) == (OutboxStatus.PENDING, 1, "HTTP 503")
    assert FIRST_RETRY / 2 <= first.next_attempt_at - T0 <= FIRST_RETRY
    assert sender.sent == ["evt_0"]  # alice's second event waits behind it

    clock.set(first.next_attempt_at - timedelta(milliseconds=1))
    assert await dispatcher() == 0
    clock.set(first.next_attempt_at)
    await dispatcher()
    second_try = event(store, "evt_0")
    assert (second_try.attempts, second_try.last_error) == (2, "timeout")
    assert FIRST_RETRY <= second_try.next_attempt_at - clock.now() <= 2 * FIRST_RETRY

    clock.set(second_try.next_attempt_at)
    await dispatcher()
    assert sender.sent == ["evt_0", "evt_0", "evt_0", "evt_1"]  # the same event (same id), then the next
    assert [e.status for e in store.outbox] == [OutboxStatus.DELIVERED] * 2
    assert event(store, "evt_0").attempts == 3


async def test_a_sender_that_raises_is_a_failed_attempt():
    store, outbox = outbox_with("alice")
    await deliver(outbox, ScriptedSender([RuntimeError("boom")]), FixedClock(T0))()
    assert (event(store, "evt_0").attempts, event(store, "evt_0").last_error) == (1, "RuntimeError")


async def test_an_event_undelivered_for_72_hours_fails_and_stops_blocking_its_user():
    store, outbox = outbox_with("alice", "alice")
    sender, clock = ScriptedSender(["HTTP 500"] * 1000), FixedClock(T0)
    dispatcher = deliver(outbox, sender, clock)
    attempts = 0
    while event(store, "evt_0").status is OutboxStatus.PENDING:
        clock.set(max(clock.now(), event(store, "evt_0").next_attempt_at))
        await dispatcher()
        attempts += 1
        assert attempts < 200
    failed = event(store, "evt_0")
    assert failed.status is OutboxStatus.FAILED and failed.last_error == "HTTP 500"
    assert clock.now() <= T0 + RETRY_FOR and clock.now() + MAX_RETRY >= T0 + RETRY_FOR - MAX_RETRY
    assert 80 <= failed.attempts <= 155  # 5 s doubling to an hour (half to all of it), over 72 hours
    assert sender.sent[-1] == "evt_1"  # tried at once in the same round: the failed one no longer blocks


async def test_users_go_on_concurrently_while_one_users_events_go_one_at_a_time():
    store, outbox = outbox_with("alice", "alice", "bob", "carol")
    gate = asyncio.Event()
    sender, clock = ScriptedSender(gate=gate), FixedClock(T0)
    round_ = asyncio.create_task(deliver(outbox, sender, clock)())
    await asyncio.sleep(0.01)
    assert sorted(sender.sent) == ["evt_0", "evt_2", "evt_3"]  # alice's second waits for her first
    gate.set()
    assert await asyncio.wait_for(round_, 5) == 4
    assert sender.sent[-1] == "evt_1"


@attrs.define
class CountingStore:
    """The in-memory outbox, counting the store's calls (on PostgreSQL one statement each); it
    fails the calls numbered in `fail`, before doing anything."""

    outbox: InMemoryOutboxStore
    calls: list[tuple[list[str], list[str]]] = attrs.field(factory=list)  # (settled, claimed) per call
    fail: tuple[int, ...] = ()
    on_failure: asyncio.Event = attrs.field(factory=asyncio.Event)

    async def settle_and_claim(self, outcomes, now, limit, lease):
        if len(self.calls) + 1 in self.fail:
            self.calls.append(([], []))
            self.on_failure.set()
            raise ConnectionError("the database is away")
        done = await self.outbox.settle_and_claim(outcomes, now, limit, lease)
        self.calls.append((sorted(done.settled), [c.event.id for c in done.claimed]))
        return done


async def test_each_call_of_the_store_settles_what_ended_and_claims_the_next():
    store, outbox = outbox_with("alice", "bob", "alice")
    counting = CountingStore(outbox)
    assert await deliver(counting, ScriptedSender(), FixedClock(T0))() == 3
    assert counting.calls == [([], ["evt_0", "evt_1"]), (["evt_0", "evt_1"], ["evt_2"]), (["evt_2"], [])]
    assert all(e.status is OutboxStatus.DELIVERED for e in store.outbox)


async def test_outcomes_a_failed_call_could_not_record_go_with_the_next_call():
    store, outbox = outbox_with("alice", "bob")
    counting = CountingStore(outbox, fail=(2,))

    class BobAfterTheFailure(ScriptedSender):  # bob's delivery ends only after the call settling alice's failed
        async def send(self, event: OutboxEvent) -> str | None:
            if event.id == "evt_1":
                await counting.on_failure.wait()
            return await super().send(event)

    sender = BobAfterTheFailure()
    assert await deliver(counting, sender, FixedClock(T0))() == 2
    assert counting.calls == [([], ["evt_0", "evt_1"]), ([], []), (["evt_0", "evt_1"], [])]
    assert [(e.status, e.attempts) for e in store.outbox] == [(OutboxStatus.DELIVERED, 1)] * 2


async def test_a_call_failing_with_nothing_in_flight_ends_the_round_and_its_claims_run_out():
    store, outbox = outbox_with("alice")
    counting = CountingStore(outbox, fail=(2,))
    with pytest.raises(ConnectionError):
        await deliver(counting, ScriptedSender(), FixedClock(T0))()
    assert event(store, "evt_0").status is OutboxStatus.PENDING  # sent, not recorded: sent again later
    clock = FixedClock(T0 + LEASE)
    sender = ScriptedSender()
    assert await deliver(outbox, sender, clock)() == 1
    assert sender.sent == ["evt_0"] and event(store, "evt_0").status is OutboxStatus.DELIVERED


@pytest.mark.parametrize("attempts", [1, 2, 3, 5, 10, 11, 12, 40, 1000])
def test_the_back_off_doubles_to_an_hour_with_half_to_full_jitter(attempts):
    ceiling = min(FIRST_RETRY * 2 ** (attempts - 1), MAX_RETRY) if attempts < 30 else MAX_RETRY
    delays = [next_delay(attempts, random.Random(seed)) for seed in range(50)]
    assert all(ceiling / 2 <= d <= ceiling for d in delays)
    assert len(set(delays)) > 40  # jittered, not one fixed schedule
    with pytest.raises(ValueError):
        next_delay(0)
