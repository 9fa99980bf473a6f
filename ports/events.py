"""Post-commit delivery of domain events: the one place that hears what committed.

Every unit of work hands the events its stored aggregates recorded to the dispatcher after a
successful commit (never after a rollback), once each. Subscribers register at composition:
metrics, the session feed behind the event stream, and (to come) outgoing webhooks. A
subscriber may be a coroutine function; it must be quick, and a failing one is logged while
the others still run (the change is committed: nothing can undo it).

Work that must be part of the committing transaction itself (PostgreSQL's NOTIFY, an outbox
row) is not a subscriber: the SQL adapter runs it inside the transaction
(`adapters.sql.unit_of_work`, `in_transaction` hooks).

    dispatcher = EventDispatcher()
    dispatcher.subscribe(metrics.observe_events)
    await dispatcher.dispatch(events)   # called by the unit of work after commit
"""
from __future__ import annotations

import inspect
import logging
from collections.abc import Callable, Sequence

from domain.events import Event

log = logging.getLogger("payments.events")
Subscriber = Callable[[list[Event]], object]


class EventDispatcher:
    def __init__(self, subscribers: Sequence[Subscriber] = ()) -> None:
        self._subscribers: list[Subscriber] = list(subscribers)

    def subscribe(self, subscriber: Subscriber) -> None:
        self._subscribers.append(subscriber)

    async def dispatch(self, events: list[Event]) -> None:
        if not events:
            return
        for subscriber in self._subscribers:
            try:
                outcome = subscriber(events)
                if inspect.isawaitable(outcome):
                    await outcome
            except Exception:  # one broken subscriber must not undo a committed change
                log.exception("event subscriber %r failed", subscriber)
