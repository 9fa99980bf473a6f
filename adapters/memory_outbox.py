"""The outbox in memory (`ports.outbox.OutboxStore`): the events the in-memory
unit of work wrote to `InMemoryStore.outbox` (in commit order), claimed, settled and purged as
the SQL store does them. One process only."""
from __future__ import annotations

import secrets
from collections.abc import Sequence
from datetime import datetime, timedelta

import attrs

from adapters.memory import InMemoryStore
from domain.outbox import OutboxEvent, OutboxStatus
from ports.outbox import Claimed, Outcome, Settled


class InMemoryOutboxStore:
    def __init__(self, store: InMemoryStore) -> None:
        self._store = store
        self._claims: dict[str, tuple[str, datetime]] = {}  # event id -> (token, lease end)

    @property
    def _events(self) -> list[OutboxEvent]:
        return self._store.outbox

    def _index(self, event_id: str) -> int | None:
        return next((i for i, e in enumerate(self._events) if e.id == event_id), None)

    async def claim_due(self, now: datetime, limit: int, lease: timedelta) -> list[Claimed]:
        claimed: list[Claimed] = []
        waiting: set[str] = set()  # users with an earlier pending event
        for event in self._events:
            if len(claimed) == limit:
                break
            if event.status is not OutboxStatus.PENDING:
                continue
            first_of_user = event.user_id not in waiting
            waiting.add(event.user_id)
            held = self._claims.get(event.id)
            if not first_of_user or event.next_attempt_at > now or (held is not None and held[1] > now):
                continue
            token = secrets.token_hex(8)
            self._claims[event.id] = (token, now + lease)
            claimed.append(Claimed(event, token))
        return claimed

    async def settle_and_claim(self, outcomes: Sequence[Outcome], now: datetime, limit: int,
                               lease: timedelta) -> Settled:
        settled = frozenset(outcome.claim.event.id for outcome in outcomes if self._settle(outcome))
        return Settled(settled, await self.claim_due(now, limit, lease))

    def _settle(self, outcome: Outcome) -> bool:
        claim = outcome.claim
        held = self._claims.get(claim.event.id)
        index = self._index(claim.event.id)
        if held is None or held[0] != claim.token or index is None:
            return False
        del self._claims[claim.event.id]
        event = self._events[index]
        self._events[index] = attrs.evolve(
            event, status=outcome.status, attempts=claim.event.attempts + 1, last_error=outcome.error,
            delivered_at=outcome.delivered_at or event.delivered_at,
            next_attempt_at=outcome.next_attempt_at or event.next_attempt_at)
        return True

    async def page(self, status: OutboxStatus | None, page: int, limit: int) -> tuple[list[OutboxEvent], int]:
        chosen = [e for e in reversed(self._events) if status is None or e.status is status]
        return chosen[(page - 1) * limit:page * limit], len(chosen)

    async def get(self, event_id: str) -> OutboxEvent | None:
        index = self._index(event_id)
        return None if index is None else self._events[index]

    async def redeliver(self, event_id: str, now: datetime, give_up_at: datetime) -> OutboxEvent | None:
        index = self._index(event_id)
        if index is None:
            return None
        self._claims.pop(event_id, None)
        self._events[index] = attrs.evolve(self._events[index], status=OutboxStatus.PENDING, next_attempt_at=now,
                                           give_up_at=give_up_at, delivered_at=None)
        return self._events[index]

    async def purge_settled(self, before: datetime, limit: int) -> int:
        # Never the newest, as in SQL (where it keeps the next number from being one given before).
        purged = [event for event in self._events[:-1] if _settled_before(event, before)][:limit]
        gone = {event.id for event in purged}
        self._events[:] = [event for event in self._events if event.id not in gone]
        return len(purged)


def _settled_before(event: OutboxEvent, before: datetime) -> bool:
    if event.status is OutboxStatus.DELIVERED:
        return event.delivered_at is not None and event.delivered_at < before
    return event.status is OutboxStatus.FAILED and event.give_up_at < before
