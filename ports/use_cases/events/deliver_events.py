"""The dispatcher's round (`DeliverEvents`): claim the due events, POST them, settle each.

Each claimed event is the oldest pending one of its user (`ports.outbox.OutboxStore.claim_due`),
so events of different users go out concurrently (up to `BATCH` at once, claimed again once half
of them ended) and those of one user one after another. The
POST happens outside any database transaction; the outcome is recorded afterwards, only while
the claim is still ours. A process killed between the POST and that record leaves the claim to
run out: the event is sent again with the same id (at least once).
"""
from __future__ import annotations

import asyncio
import logging
import random
from datetime import timedelta

import attrs

from domain.outbox import next_delay, short_error
from ports.clock import Clock
from ports.outbox import Claimed, EventSender, OutboxStore

log = logging.getLogger("payments.events")
BATCH = 50  # events (so users) per claim


@attrs.define
class DeliverEvents:
    _store: OutboxStore
    _sender: EventSender
    _clock: Clock
    lease: timedelta               # longer than a POST may take (its timeout), see docs/events.md
    rng: random.Random = attrs.field(factory=random.Random)

    async def __call__(self) -> int:
        """Deliver until nothing is due; returns how many deliveries were tried. At most `BATCH`
        at once; once half of the places are free, claim again for them: a settled event makes
        the next one of its user claimable at once, so a user's events need not wait for the
        slowest delivery of a round, and the claims stay few (one per half batch)."""
        tried = 0
        running: set[asyncio.Task] = set()
        while True:
            free = BATCH - len(running)
            claim_now = not running or free >= BATCH // 2
            claimed = await self._store.claim_due(self._clock.now(), free, self.lease) if claim_now else []
            running.update(asyncio.ensure_future(self._deliver(claim)) for claim in claimed)
            tried += len(claimed)
            if not running:
                return tried
            try:
                _, running = await asyncio.wait(running, return_when=asyncio.FIRST_COMPLETED)
            except asyncio.CancelledError:
                for task in running:  # their claims run out: another dispatcher sends them
                    task.cancel()
                raise

    async def _deliver(self, claim: Claimed) -> None:
        try:
            await self._attempt(claim)
        except Exception:  # the store failed to settle: the claim runs out and the event is sent again
            log.exception("event %s (%s): the outcome could not be recorded", claim.event.id, claim.event.type)

    async def _attempt(self, claim: Claimed) -> None:
        event = claim.event
        try:
            error = await self._sender.send(event)
        except Exception as failure:  # a bug or an unexpected transport error: retried like any failure
            log.warning("event %s (%s): sending raised %s", event.id, event.type, type(failure).__name__)
            error = type(failure).__name__
        now = self._clock.now()
        if error is None:
            await self._store.delivered(claim, now)
            return
        attempts = event.attempts + 1
        when = now + next_delay(attempts, self.rng)
        if when >= event.give_up_at:
            log.warning("event %s (%s) failed for good after %d attempts: %s", event.id, event.type, attempts, error)
            await self._store.failed(claim, short_error(error), now)
        else:
            log.info("event %s (%s) not delivered (attempt %d: %s), next at %s", event.id, event.type,
                     attempts, error, when.isoformat())
            await self._store.retry_at(claim, when, short_error(error), now)
