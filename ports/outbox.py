"""The outbox port: events to the main backend, stored with the changes they report and handed
to the dispatcher (`domain.outbox`, docs/events.md).

Writing: the unit-of-work adapters take an `EventRecorder` (given only when `PAYMENTS_EVENTS_URL`
is set; without it nothing is written). At commit, inside the committing transaction, they call
it with the aggregates the unit of work stored and the domain events those recorded, and store
the `NewEvent`s it returns: they commit with the change or not at all.

Reading and delivering: `OutboxStore`, outside any unit of work.
- `settle_and_claim` first settles the attempts that ended (`Outcome`: delivered, to retry at a
  time, failed), each only while its claim is still the caller's (a claim that ran out and was
  taken by another dispatcher is theirs to settle), then claims, at most `limit`, the pending
  events due at `now` that are the oldest pending event of their user (order per user) and that
  no other dispatcher holds — an event settled delivered or failed by the same call no longer
  holds its user's next one back, so that one can be claimed at once. Each claimed event is held
  (a lease until `now + lease`, under a fresh claim token) so that no other dispatcher of any
  process sends it meanwhile; PostgreSQL does it all in one statement and claims with
  `FOR UPDATE SKIP LOCKED`, SQLite in one transaction under its one writer. A dispatcher that
  dies holding a claim loses it when the lease ends: the event is sent again (at least once,
  same id). `claim_due` claims without settling anything.
- `page`, `get` and `redeliver` serve the admin endpoints: `redeliver` makes an event pending and
  due at `now` again, with a new 72 hours to deliver it, whatever its status.
- `purge_settled` deletes, at most `limit` at a time, the events settled before a moment (the
  retention, `ports.use_cases.events.purge_events`): delivered before it, or failed with their 72
  hours ended before it. Never a pending event (due, claimed or waiting for a retry), and never
  the newest event written, whatever its status: a store that numbers the next event after the
  highest number it holds (SQLite's rowid) would otherwise give a purged event's number again.
  Nothing else needs a settled event: only pending ones hold their user's later events back.
  Safe to run in several processes at once (PostgreSQL: `FOR UPDATE SKIP LOCKED`).

Waking the dispatcher: `OutboxWakeups.wait` returns when events may have been written (this
process's commits; any process's on PostgreSQL, through NOTIFY), or after `timeout` seconds.
Sending: `EventSender` (Standard Webhooks, `adapters.webhook_sender`).
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import Any, Protocol

import attrs

from domain.events import Event
from domain.outbox import NewEvent, OutboxEvent, OutboxStatus

EventRecorder = Callable[[Sequence[Any], Sequence[Event]], list[NewEvent]]
"""(the aggregates a unit of work stored, the domain events they recorded) → the events to send."""


@attrs.frozen
class Claimed:
    event: OutboxEvent
    token: str  # whose claim it is: settling needs it


@attrs.frozen
class Outcome:
    """How an attempt on a claimed event ended, to settle (`OutboxStore.settle_and_claim`)."""

    claim: Claimed
    status: OutboxStatus                   # PENDING: to be retried at `next_attempt_at`
    error: str | None = None               # the attempt's, kept as `last_error`
    delivered_at: datetime | None = None
    next_attempt_at: datetime | None = None

    @classmethod
    def delivered(cls, claim: Claimed, at: datetime) -> Outcome:
        return cls(claim, OutboxStatus.DELIVERED, delivered_at=at)

    @classmethod
    def retry_at(cls, claim: Claimed, when: datetime, error: str) -> Outcome:
        return cls(claim, OutboxStatus.PENDING, error, next_attempt_at=when)

    @classmethod
    def failed(cls, claim: Claimed, error: str) -> Outcome:
        return cls(claim, OutboxStatus.FAILED, error)


@attrs.frozen
class Settled:
    """What `OutboxStore.settle_and_claim` did: the ids of the events it settled (those whose claim
    was still the caller's), and the events it claimed, in the order written."""

    settled: frozenset[str]
    claimed: list[Claimed]


class OutboxStore(Protocol):
    async def settle_and_claim(self, outcomes: Sequence[Outcome], now: datetime, limit: int,
                               lease: timedelta) -> Settled: ...

    async def claim_due(self, now: datetime, limit: int, lease: timedelta) -> list[Claimed]: ...

    async def page(self, status: OutboxStatus | None, page: int, limit: int) -> tuple[list[OutboxEvent], int]:
        """Newest first, with the total of that status."""
        ...

    async def get(self, event_id: str) -> OutboxEvent | None: ...

    async def redeliver(self, event_id: str, now: datetime, give_up_at: datetime) -> OutboxEvent | None: ...

    async def purge_settled(self, before: datetime, limit: int) -> int:
        """Delete at most `limit` events delivered before `before` or failed with `give_up_at`
        before it (see the module docstring); how many were deleted."""
        ...


class OutboxWakeups(Protocol):
    async def wait(self, timeout: float) -> None:
        """Return when new events may have been committed, or after `timeout` seconds."""
        ...

    def wake(self) -> None:
        """New events were committed in this process."""
        ...


class EventSender(Protocol):
    """POSTs one event to the main backend, signed (Standard Webhooks)."""

    async def send(self, event: OutboxEvent) -> str | None:
        """None when delivered (a 2xx), else why not (a status line, a timeout, a refused connection)."""
        ...
