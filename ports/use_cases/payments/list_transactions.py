"""The caller's transaction history, newest first, filtered, by page or after a cursor.

Statuses are read as of now: a pending transaction whose payment attempts have all lapsed is
listed, and filtered, as `expired` before the expiry sweep stores it so (`ports.queries.read_at`).
"""
from __future__ import annotations

import enum
from datetime import datetime
from typing import TypeVar

import attrs

from domain.errors import DomainValidationError
from domain.transaction import TransactionStatus, TransactionType
from ports.clock import Clock
from ports.queries import PaymentQueries, TransactionQuery
from ports.use_cases.views import MAX_LIMIT, CursorPage, Page, TransactionView, bounded, checked_cursor, unknown_cursor

E = TypeVar("E", bound=enum.Enum)


@attrs.frozen
class ListTransactionsQuery:
    """`page` None means the first; with `starting_after` (an id the caller was given) it must
    stay None."""

    user_id: str
    types: tuple[str, ...] = ()
    statuses: tuple[str, ...] = ()
    date_from: datetime | None = None
    date_to: datetime | None = None
    page: int | None = None
    limit: int = 20
    starting_after: str | None = None


@attrs.define
class ListTransactions:
    _queries: PaymentQueries
    _clock: Clock

    async def __call__(self, query: ListTransactionsQuery) -> Page | CursorPage:
        cursor = checked_cursor(query.starting_after, query.page)
        repository_query = TransactionQuery(
            types=tuple(_parse(TransactionType, v, "type") for v in query.types),
            statuses=tuple(_parse(TransactionStatus, v, "status") for v in query.statuses),
            date_from=query.date_from, date_to=query.date_to,
            page=bounded(1 if query.page is None else query.page, "page", 1, None),
            limit=bounded(query.limit, "limit", 1, MAX_LIMIT), as_of=self._clock.now(),
        )
        if cursor is not None:
            found = await self._queries.history_after(query.user_id, repository_query, cursor)
            if found is None:
                raise unknown_cursor()
            items, has_more = found
            return CursorPage([TransactionView.of(t) for t in items], has_more)
        items, total = await self._queries.history(query.user_id, repository_query)
        return Page([TransactionView.of(t) for t in items], repository_query.page, repository_query.limit, total)


def _parse(enum_type: type[E], value: str, field: str) -> E:
    try:
        return enum_type(value)
    except ValueError:
        allowed = ", ".join(member.value for member in enum_type)
        raise DomainValidationError(f"Must be one of: {allowed}.", field=field) from None
