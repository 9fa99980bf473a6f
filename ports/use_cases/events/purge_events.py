"""The outbox's retention (`PurgeEvents`, docs/events.md): events settled longer ago than the
retention (`PAYMENTS_EVENTS_RETENTION_DAYS`, 30 days by default) are deleted, so the outbox does not
grow by every event ever sent. Settled: delivered, or failed (72 hours of attempts ended; the
retention counts from `give_up_at`). Pending events, whether due, claimed or waiting for a retry,
are never deleted, however old (`ports.outbox.OutboxStore.purge_settled`).

A background job of every server process runs it every few minutes, in business time (the test
clock moving forward ages the events too). Each batch is one short statement of its own, so a
backlog (the first purge of a large outbox) goes a batch at a time, never holding many rows
locked for long, and at most `max_batches` per run: the rest waits for the next run. Several
processes purging at once take different rows (PostgreSQL: SKIP LOCKED) and none fails.
"""
from __future__ import annotations

import logging
from datetime import timedelta

import attrs

from ports.clock import Clock
from ports.outbox import OutboxStore

log = logging.getLogger("payments.events")
DEFAULT_RETENTION = timedelta(days=30)
PURGE_BATCH = 1000       # rows per statement
MAX_BATCHES = 50         # per run


@attrs.define
class PurgeEvents:
    _store: OutboxStore
    _clock: Clock
    retention: timedelta = DEFAULT_RETENTION
    batch: int = PURGE_BATCH
    max_batches: int = MAX_BATCHES

    async def __call__(self) -> int:
        """Delete the events settled before now − retention; how many were deleted."""
        before = self._clock.now() - self.retention
        purged = 0
        for _ in range(self.max_batches):
            deleted = await self._store.purge_settled(before, self.batch)
            purged += deleted
            if deleted < self.batch:  # nothing more that old (or another process took the rest)
                break
        if purged:
            log.info("purged %d events settled before %s", purged, before.isoformat())
        return purged
