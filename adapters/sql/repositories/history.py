"""The transaction history query of `SqlTransactionRepository.list_for_user`: a user's
transactions, filtered and paged, with the total of all matches (`history_statements` for
EXPLAIN in `tests/bench/history_scale.py`)."""
from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.sql import Select

from adapters.sql.statements import Prepared, prepared
from adapters.sql.tables import transactions
from ports.queries import TransactionQuery

HistoryShape = tuple[int, int, bool, bool]  # how many types and statuses, whether from / to are set


def history_shape(query: TransactionQuery) -> HistoryShape:
    return len(query.types), len(query.statuses), query.date_from is not None, query.date_to is not None


def history_values(user_id: str, query: TransactionQuery) -> dict[str, Any]:
    values: dict[str, Any] = {"user_id": user_id, "date_from": query.date_from, "date_to": query.date_to,
                              "limit_": query.limit, "offset_": query.offset}
    values.update({f"type_{i}": x.value for i, x in enumerate(query.types)})
    values.update({f"status_{i}": x.value for i, x in enumerate(query.statuses)})
    return values


def _history_select(shape: HistoryShape, *, page: bool) -> Select:
    """A user's history of this shape: the page (newest first, ties by id descending) with the
    count of all matches in each row (`total_`, an uncorrelated subquery run once), or that
    count alone. Served by `ix_membership_transactions_history` (user_id, created_at DESC, id DESC), or
    `ix_membership_transactions_history_status` with a status filter; the count by an index-only scan."""
    t = transactions
    types, statuses, has_from, has_to = shape
    def value(name: str, column: sa.Column) -> sa.BindParameter:
        return sa.bindparam(name, type_=column.type)

    conditions = [t.c.user_id == value("user_id", t.c.user_id)]
    if types:
        conditions.append(t.c.type.in_([value(f"type_{i}", t.c.type) for i in range(types)]))
    if statuses:
        conditions.append(t.c.status.in_([value(f"status_{i}", t.c.status) for i in range(statuses)]))
    if has_from:
        conditions.append(t.c.created_at >= value("date_from", t.c.created_at))
    if has_to:
        conditions.append(t.c.created_at <= value("date_to", t.c.created_at))
    count = sa.select(sa.func.count()).select_from(t).where(*conditions)
    if not page:
        return count
    return (sa.select(t, count.scalar_subquery().label("total_")).where(*conditions)
            .order_by(t.c.created_at.desc(), t.c.id.desc())
            .limit(sa.bindparam("limit_", type_=sa.Integer)).offset(sa.bindparam("offset_", type_=sa.Integer)))


def history(shape: HistoryShape, *, page: bool) -> Prepared:
    """The page (with its total), or the count alone, of this shape: prepared once per shape."""
    return prepared(("history", shape, page), lambda dialect: _history_select(shape, page=page))


def history_statements(user_id: str, query: TransactionQuery) -> tuple[Select, Select]:
    """The page (with its total) and the count that `list_for_user` runs, with the values bound
    (for EXPLAIN in `tests/bench/history_scale.py`)."""
    shape, values = history_shape(query), history_values(user_id, query)
    return (_history_select(shape, page=True).params(values), _history_select(shape, page=False).params(values))
