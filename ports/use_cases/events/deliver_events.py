"""The dispatcher's round (`DeliverEvents`): claim the due events, POST them, settle them.

Each claimed event is the oldest pending one of its user (`ports.outbox.OutboxStore`), so events
of different users go out concurrently (up to `BATCH` at once) and those of one user one after
another. The POST happens outside any database transaction. As deliveries end, their outcomes are
settled together with the next claim, in one call of the store (`settle_and_claim`; on PostgreSQL
one statement): those that ended while the previous call ran go in the next one, and a settled
event's next one of its user is claimed in the same call. Settling stays guarded by the claim: a
claim that ran out and was taken by another dispatcher changes nothing. A process killed between
the POSTs and that call leaves the claims to run out: the events are sent again with the same ids
(at least once), and as they are still pending, their users' later events wait for them.
"""
from __future__ import annotations

import asyncio
import logging
import random
from datetime import timedelta

import attrs

from domain.outbox import next_delay, short_error
from ports.clock import Clock
from ports.outbox import Claimed, EventSender, OutboxStore, Outcome

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
        at once. Each call of the store settles the deliveries that ended since the last one and
        claims for the free places: a user's next event is claimed as its previous one is settled,
        and a round ends with the call that settled the last deliveries and found nothing due."""
        tried = 0
        running: set[asyncio.Future[Outcome]] = set()
        ended: list[Outcome] = []
        try:
            while True:
                try:
                    round_ = await self._store.settle_and_claim(ended, self._clock.now(), BATCH - len(running),
                                                                self.lease)
                except Exception:
                    if not running:
                        raise  # the claims of `ended` run out: those events are sent again
                    log.exception("the outcomes of %d events could not be recorded; retrying with the next",
                                  len(ended))
                else:
                    ended = []
                    running.update(asyncio.ensure_future(self._attempt(claim)) for claim in round_.claimed)
                    tried += len(round_.claimed)
                if not running:
                    return tried
                done, running = await asyncio.wait(running, return_when=asyncio.FIRST_COMPLETED)
                ended.extend(task.result() for task in done)
        except asyncio.CancelledError:
            for task in running:  # their claims run out: another dispatcher sends them
                task.cancel()
            raise

    async def _attempt(self, claim: Claimed) -> Outcome:
        event = claim.event
        try:
            error = await self._sender.send(event)
        except Exception as failure:  # a bug or an unexpected transport error: retried like any failure
            log.warning("event %s (%s): sending raised %s", event.id, event.type, type(failure).__name__)
            error = type(failure).__name__
        now = self._clock.now()
        if error is None:
            return Outcome.delivered(claim, now)
        attempts = event.attempts + 1
        when = now + next_delay(attempts, self.rng)
        if when >= event.give_up_at:
            log.warning("event %s (%s) failed for good after %d attempts: %s", event.id, event.type, attempts, error)
            return Outcome.failed(claim, short_error(error))
        log.info("event %s (%s) not delivered (attempt %d: %s), next at %s", event.id, event.type,
                 attempts, error, when.isoformat())
        return Outcome.retry_at(claim, when, short_error(error))
