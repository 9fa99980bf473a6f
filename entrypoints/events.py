"""In-process delivery of domain events after commit.

`publishing(factory, subscribers)` wraps a unit-of-work factory: after each successful commit
the events the stored aggregates recorded are handed to every subscriber (metrics today; the
session event stream and outgoing webhooks subscribe here too). Subscribers must be quick and
must not raise: a failing one is logged and the others still run.
"""
from __future__ import annotations

import logging
from collections.abc import Callable, Sequence

from domain.events import Event
from ports.unit_of_work import UnitOfWork, UnitOfWorkFactory

log = logging.getLogger("payments.events")
Subscriber = Callable[[list[Event]], None]


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
                    subscriber(published)
                except Exception:  # one broken subscriber must not undo a committed change
                    log.exception("event subscriber %r failed", subscriber)

    async def rollback(self) -> None:
        await self._inner.rollback()

    def collect_events(self) -> list[Event]:
        return []


def publishing(factory: UnitOfWorkFactory, subscribers: Sequence[Subscriber]) -> UnitOfWorkFactory:
    def make() -> PublishingUnitOfWork:
        return PublishingUnitOfWork(factory(), subscribers)

    return make
