"""In-process delivery of domain events after commit.

`publishing(factory, subscribers)` wraps a unit-of-work factory: after each successful commit
the events the stored aggregates recorded are handed to every subscriber (metrics, the session
feed behind the event stream; outgoing webhooks will subscribe here too). A subscriber may be a
coroutine function. Subscribers must be quick; a failing one is logged and the others still run.
"""
from __future__ import annotations

import inspect
import logging
from collections.abc import Callable, Iterable, Sequence

from domain.events import Event, SessionStatusChanged
from ports.unit_of_work import UnitOfWork, UnitOfWorkFactory

log = logging.getLogger("payments.events")
Subscriber = Callable[[list[Event]], object]


class PublishingUnitOfWork:
    def __init__(self, inner: UnitOfWork, subscribers: Sequence[Subscriber]) -> None:
        self._inner = inner
        self._subscribers = subscribers

    def __getattr__(self, name: str):
        return getattr(self._inner, name)

    async def __aenter__(self) -> PublishingUnitOfWork:
        await self._inner.__aenter__()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self._inner.__aexit__(*exc_info)

    async def commit(self) -> None:
        await self._inner.commit()
        published = self._inner.collect_events()
        if published:
            for subscriber in self._subscribers:
                try:
                    outcome = subscriber(published)
                    if inspect.isawaitable(outcome):
                        await outcome
                except Exception:  # one broken subscriber must not undo a committed change
                    log.exception("event subscriber %r failed", subscriber)

    async def rollback(self) -> None:
        await self._inner.rollback()

    def collect_events(self) -> list[Event]:
        return []


def publishing(factory: UnitOfWorkFactory, subscribers: Sequence[Subscriber]) -> UnitOfWorkFactory:
    def make(*, read_only: bool = False, single_statement: bool = False) -> UnitOfWork:
        if read_only:
            return factory(read_only=True)  # publishes nothing: it cannot commit
        return PublishingUnitOfWork(factory(single_statement=single_statement), subscribers)

    return make


def session_changes(feed) -> Subscriber:
    """A subscriber that tells the session feed which sessions changed."""
    async def publish(published: list[Event]) -> None:
        changed = _session_ids(published)
        if changed:
            await feed.publish(changed)
    return publish


def _session_ids(published: Iterable[Event]) -> set[str]:
    return {event.session_id for event in published if isinstance(event, SessionStatusChanged)}
