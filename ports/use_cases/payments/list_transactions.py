"""The caller's transaction history, newest first, filtered and paginated."""
from __future__ import annotations

import enum
from datetime import datetime
from typing import TypeVar

import attrs

from domain.errors import DomainValidationError
from domain.transaction import TransactionStatus, TransactionType
from ports.queries import PaymentQueries, TransactionQuery
from ports.use_cases.views import Page, TransactionView

MAX_LIMIT = 100
E = TypeVar("E", bound=enum.Enum)


@attrs.frozen
class ListTransactionsQuery:
    user_id: str
    types: tuple[str, ...] = ()
    statuses: tuple[str, ...] = ()
    date_from: datetime | None = None
    date_to: datetime | None = None
    page: int = 1
    limit: int = 20


@attrs.define
class ListTransactions:
    _queries: PaymentQueries

    async def __call__(self, query: ListTransactionsQuery) -> Page:
        repository_query = TransactionQuery(
            types=tuple(_parse(TransactionType, v, "type") for v in query.types),
            statuses=tuple(_parse(TransactionStatus, v, "status") for v in query.statuses),
            date_from=query.date_from, date_to=query.date_to,
            page=_bounded(query.page, "page", 1, None), limit=_bounded(query.limit, "limit", 1, MAX_LIMIT),
        )
        items, total = await self._queries.history(query.user_id, repository_query)
        return Page([TransactionView.of(t) for t in items], repository_query.page, repository_query.limit, total)


def _parse(enum_type: type[E], value: str, field: str) -> E:
    try:
        return enum_type(value)
    except ValueError:
        allowed = ", ".join(member.value for member in enum_type)
        raise DomainValidationError(f"Must be one of: {allowed}.", field=field) from None


def _bounded(value: int, field: str, low: int, high: int | None) -> int:
    if type(value) is not int or value < low or (high is not None and value > high):
        bound = f"between {low} and {high}" if high is not None else f"at least {low}"
        raise DomainValidationError(f"Must be {bound}.", field=field)
    return value
