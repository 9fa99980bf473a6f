"""The outbox's retention (`PurgeEvents`) over the in-memory outbox: events delivered, or failed
(72 hours ended), longer ago than the retention are deleted at the clock's now; younger ones,
pending ones however old, and the newest event stay. A run goes batch by batch, stops at a short
batch and takes at most `max_batches`."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import attrs

from adapters.clock import FixedClock
from adapters.memory import InMemoryStore
from adapters.memory_outbox import InMemoryOutboxStore
from domain.outbox import NewEvent, OutboxStatus, pending
from ports.use_cases.events.purge_events import DEFAULT_RETENTION, PurgeEvents

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=timezone.utc)
DAY = timedelta(days=1)


def written(event_id: str, user: str = "alice", **changes):
    return attrs.evolve(pending(NewEvent(event_id, user, "membership.updated", T0, {"user_id": user})), **changes)


def delivered(event_id: str, at: datetime):
    return written(event_id, status=OutboxStatus.DELIVERED, attempts=1, delivered_at=at)


async def test_events_settled_longer_ago_than_the_retention_are_purged_and_no_others():
    store = InMemoryStore()
    store.outbox.extend([
        delivered("evt_old", T0),
        written("evt_failed", "bob", status=OutboxStatus.FAILED, attempts=90),  # its 72 hours end T0 + 3 days
        written("evt_stuck", "carol", attempts=80, next_attempt_at=T0 + 2 * DAY),  # pending, being retried
        delivered("evt_recent", T0 + 2 * DAY),
        delivered("evt_newest", T0),
    ])
    clock = FixedClock(T0 + 30 * DAY)
    purge = PurgeEvents(InMemoryOutboxStore(store), clock)
    assert purge.retention == DEFAULT_RETENTION == 30 * DAY

    assert await purge() == 0  # delivered exactly 30 days ago: not older than the retention yet
    clock.advance(timedelta(seconds=1))
    assert await purge() == 1
    assert [e.id for e in store.outbox] == ["evt_failed", "evt_stuck", "evt_recent", "evt_newest"]
    clock.advance(3 * DAY)
    assert await purge() == 2
    assert [e.id for e in store.outbox] == ["evt_stuck", "evt_newest"]
    clock.advance(3650 * DAY)
    assert await purge() == 0  # a pending event is never purged, nor the newest


async def test_the_retention_is_the_configured_one():
    store = InMemoryStore()
    store.outbox.extend([delivered("evt_1", T0), delivered("evt_2", T0)])
    purge = PurgeEvents(InMemoryOutboxStore(store), FixedClock(T0 + 8 * DAY), retention=7 * DAY)
    assert await purge() == 1


@attrs.define
class CountingStore:
    """Answers `purge_settled` with scripted counts, recording each call."""

    counts: list[int]
    calls: list[tuple[datetime, int]] = attrs.field(factory=list)

    async def purge_settled(self, before: datetime, limit: int) -> int:
        self.calls.append((before, limit))
        return self.counts.pop(0)


async def test_a_run_purges_batch_by_batch_until_a_short_batch():
    store = CountingStore([100, 100, 7, 100])
    purge = PurgeEvents(store, FixedClock(T0), retention=DAY, batch=100)  # type: ignore[arg-type]
    assert await purge() == 207
    assert store.calls == [(T0 - DAY, 100)] * 3


async def test_a_run_takes_at_most_max_batches_and_the_next_run_goes_on():
    store = CountingStore([10] * 5 + [0])
    purge = PurgeEvents(store, FixedClock(T0), batch=10, max_batches=3)  # type: ignore[arg-type]
    assert await purge() == 30
    assert await purge() == 20
    assert len(store.calls) == 6
