"""The operators' read side on SQL (`ports.operations.OperationsQueries`): every user's
transactions, and the analytics, each aggregated by the database in one or two statements.

Time zones. PostgreSQL buckets an instant with `AT TIME ZONE tz` and `date_trunc` (weeks are ISO
weeks there). SQLite has no time zones: the zone's UTC offsets over the asked range are worked
out here (`offset_segments`, from the standard library's zoneinfo) and the statement shifts each
instant by the offset in force at it (`CASE WHEN completed_at < <transition> THEN '+28800
seconds' …`), then takes the local date, its Monday (`'-6 days', 'weekday 1'`) or the first of
its month. Both give the same calendar periods for zones with and without daylight saving time
(tests/contract/test_operations_queries.py).

Indexes (revision 0013, `adapters/sql/tables.py`; figures in docs/benchmarks.md): sales by
`completed_at` among paid transactions (`ix_membership_transactions_sales`), succeeded refunds by
`completed_at` (`ix_payment_refunds_succeeded`), sessions by the instant they ended, one partial
index per way of ending (`ix_payment_sessions_paid_at`, `_lapsed_at`, `_stopped_at`), every
user's transactions newest first (`ix_membership_transactions_created`) and renewals. The
conditions of the partial indexes are written into the statements word for word (`_condition`).
"""
from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from databases import Database

from adapters.sql import mapping
from adapters.sql.connections import autocommit
from adapters.sql.tables import (
    PAID_SALE,
    RENEWAL,
    SESSION_LAPSED,
    SESSION_PAID,
    SESSION_STOPPED,
    SUCCEEDED_REFUND,
    UtcDateTime,
    memberships,
    payment_refunds,
    payment_sessions,
    transactions,
)
from domain.refund import RefundKind, RefundStatus
from domain.transaction import Transaction, TransactionStatus
from ports.operations import (
    PAID_STATUSES,
    AdminTransactionQuery,
    Interval,
    OutcomeGroup,
    RevenueGroup,
    RevenueQuery,
    RevenueRow,
    SessionOutcomes,
    SubscriptionCounts,
)
from ports.queries import lapsed

_PAID = tuple(s.value for s in PAID_STATUSES)
# Constants written into the statement (PostgreSQL would type a bound 0 in a UNION or CASE as text).
_ZERO, _ONE = sa.literal_column("0", sa.BigInteger), sa.literal_column("1", sa.BigInteger)


def offset_segments(tz: str, start: datetime, end: datetime) -> list[tuple[datetime | None, int]]:
    """The UTC offsets (seconds) of `tz` over [start, end): `(until, offset)` pairs, the last
    with `until` None, each offset in force before its `until` (a transition, to the second)."""
    zone = ZoneInfo(tz)

    def offset(at: datetime) -> int:
        delta = at.astimezone(zone).utcoffset()
        return int(delta.total_seconds()) if delta is not None else 0

    segments: list[tuple[datetime | None, int]] = []
    current, at = offset(start), start
    while at < end:
        step = min(at + timedelta(days=1), end)
        if offset(step) != current:  # a transition in (at, step]: find its second
            low, high = at, step
            while high - low > timedelta(seconds=1):
                middle = low + (high - low) / 2
                middle = middle.replace(microsecond=0) if middle.microsecond else middle
                if middle <= low:
                    middle = low + timedelta(seconds=1)
                if offset(middle) == current:
                    low = middle
                else:
                    high = middle
            segments.append((high, current))
            current = offset(high)
        at = step
    segments.append((None, current))
    return segments


def _sqlite_local(column: Any, segments: list[tuple[datetime | None, int]]) -> list[Any]:
    """SQLite date-function arguments that shift `column` (UTC) into local time."""
    def modifier(seconds: int) -> str:
        return f"{seconds:+d} seconds"

    if len(segments) == 1:
        return [column, sa.literal(modifier(segments[0][1]))]
    whens = [(column < sa.literal(until, UtcDateTime()), sa.literal(modifier(off))) for until, off in segments[:-1]]
    return [column, sa.case(*whens, else_=sa.literal(modifier(segments[-1][1])))]


def _bucket(dialect: str, column: Any, query: RevenueQuery) -> Any:
    if dialect == "postgresql":
        local = sa.func.timezone(sa.literal(query.tz), column)  # timestamptz AT TIME ZONE tz
        return sa.cast(sa.func.date_trunc(sa.literal(query.interval.value), local), sa.Date)
    shifted = _sqlite_local(column, offset_segments(query.tz, query.start, query.end))
    if query.interval is Interval.DAY:
        return sa.func.date(*shifted)
    if query.interval is Interval.WEEK:
        return sa.func.date(*shifted, sa.literal("-6 days"), sa.literal("weekday 1"))
    return sa.func.strftime(sa.literal("%Y-%m-01"), *shifted)


def _group_column(group_by: RevenueGroup) -> Any:
    t = transactions
    return {RevenueGroup.TYPE: t.c.type, RevenueGroup.PLAN: t.c.plan_to, RevenueGroup.PROVIDER: t.c.provider,
            RevenueGroup.PAYMENT_METHOD: t.c.payment_method}[group_by]


def _as_date(value: Any) -> date:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    return date.fromisoformat(str(value)[:10])


def _condition(table: sa.Table, sql: str) -> Any:
    """A partial index's condition, written word for word (qualified by `table`): bound values
    would keep the planners from seeing that the index applies."""
    for column in ("status", "type"):
        sql = sql.replace(f"{column} ", f"{table.name}.{column} ", 1) if sql.startswith(column) else sql
    return sa.literal_column(sql, sa.Boolean)


def round_half_up_div(numerator: int, denominator: int) -> int:
    """numerator ÷ denominator rounded half up (non-negative integers)."""
    return (2 * numerator + denominator) // (2 * denominator)


class SqlOperationsQueries:
    def __init__(self, database: Database) -> None:
        self._database = database
        self._dialect = database.url.dialect

    async def transactions(self, query: AdminTransactionQuery) -> tuple[list[Transaction], int]:
        t, s = transactions, payment_sessions
        conditions: list[Any] = []
        if query.user_id is not None:
            conditions.append(t.c.user_id == query.user_id)
        if query.providers:
            conditions.append(t.c.provider.in_(query.providers))
        if query.payment_methods:
            conditions.append(t.c.payment_method.in_(query.payment_methods))
        if query.types:
            conditions.append(t.c.type.in_([x.value for x in query.types]))
        if query.date_from is not None:
            conditions.append(t.c.created_at >= query.date_from)
        if query.date_to is not None:
            conditions.append(t.c.created_at <= query.date_to)
        attempts_end = sa.select(sa.func.max(s.c.expires_at)).where(s.c.transaction_id == t.c.id).scalar_subquery()
        if query.statuses:
            wanted = {x.value for x in query.statuses}
            if query.as_of is None:
                conditions.append(t.c.status.in_(wanted))
            else:  # a pending one whose attempts have all lapsed reads expired
                lapsed_now = sa.and_(t.c.status == TransactionStatus.PENDING.value, attempts_end <= query.as_of)
                stored = sa.and_(t.c.status.in_(wanted), sa.not_(lapsed_now))
                conditions.append(sa.or_(stored, lapsed_now) if TransactionStatus.EXPIRED.value in wanted else stored)
        columns: list[Any] = [t]
        if query.as_of is not None:
            columns.append(sa.type_coerce(sa.case((t.c.status == TransactionStatus.PENDING.value, attempts_end)),
                                          UtcDateTime()).label("attempts_end_"))
        # The page walks ix_membership_transactions_created (or a user's history index); the total
        # is counted apart (a window over every match would sort them all first).
        statement = (sa.select(*columns).where(*conditions).order_by(t.c.created_at.desc(), t.c.id.desc())
                     .limit(query.limit).offset(query.offset))
        count = sa.select(sa.func.count()).select_from(t).where(*conditions)
        async with autocommit(self._database) as db:
            rows = await db.fetch_all(statement)
            if query.offset == 0 and len(rows) < query.limit:
                total = len(rows)
            else:
                total = int((await db.fetch_one(count))[0])
        found = []
        for row in rows:
            transaction = mapping.transaction_from_row(row)
            end = row["attempts_end_"] if query.as_of is not None else None
            if end is not None and query.as_of is not None and end <= query.as_of:
                transaction = lapsed(transaction, end)
            found.append(transaction)
        return found, total

    async def revenue(self, query: RevenueQuery) -> list[RevenueRow]:
        t, r = transactions, payment_refunds
        group = _group_column(query.group_by)
        sales = (sa.select(_bucket(self._dialect, t.c.completed_at, query).label("period"), group.label("grp"),
                           t.c.total_minor.label("gross"), _ZERO.label("refunded"), _ONE.label("n"))
                 .where(_condition(t, PAID_SALE), t.c.total_minor > 0, t.c.currency == query.currency,
                        t.c.completed_at >= query.start, t.c.completed_at < query.end))
        refunds = (sa.select(_bucket(self._dialect, r.c.completed_at, query).label("period"), group.label("grp"),
                             _ZERO.label("gross"), r.c.amount_minor.label("refunded"), _ZERO.label("n"))
                   .select_from(r.join(t, t.c.id == r.c.transaction_id))
                   .where(_condition(r, SUCCEEDED_REFUND), r.c.kind != RefundKind.AUTOMATIC.value,
                          r.c.currency == query.currency,
                          r.c.completed_at >= query.start, r.c.completed_at < query.end))
        both = sa.union_all(sales, refunds).subquery("moves")
        statement = (sa.select(both.c.period, both.c.grp, sa.func.sum(both.c.gross).label("gross"),
                               sa.func.sum(both.c.refunded).label("refunded"), sa.func.sum(both.c.n).label("n"))
                     .group_by(both.c.period, both.c.grp))
        async with autocommit(self._database) as db:
            rows = await db.fetch_all(statement)
        found = [RevenueRow(_as_date(row["period"]), row["grp"], int(row["gross"]), int(row["refunded"]), int(row["n"]))
                 for row in rows]
        return sorted(found, key=lambda x: (x.period_start, x.group is not None, x.group or ""))

    async def session_outcomes(self, since: datetime, until: datetime, group_by: OutcomeGroup) -> list[SessionOutcomes]:
        s = payment_sessions
        group = s.c.provider if group_by is OutcomeGroup.PROVIDER else s.c.payment_method
        low, high = sa.literal(since, UtcDateTime()), sa.literal(until, UtcDateTime())
        # One range per way of ending, each an index-only scan of its partial index (an OR of the
        # three would be a bitmap scan reading the table), put together with UNION ALL.
        paid = sa.and_(_condition(s, SESSION_PAID), s.c.completed_at >= low, s.c.completed_at < high)
        ended = sa.union_all(*(
            sa.select(group.label("grp"), s.c.status).where(condition)
            for condition in (paid,
                              sa.and_(_condition(s, SESSION_LAPSED), s.c.expires_at >= low, s.c.expires_at < high),
                              sa.and_(_condition(s, SESSION_STOPPED), s.c.updated_at >= low, s.c.updated_at < high))
        )).subquery("ended")

        def count(*statuses: str) -> Any:
            return sa.func.sum(sa.case((ended.c.status.in_(statuses), _ONE), else_=_ZERO))

        counts = (sa.select(ended.c.grp, count("completed", "refunded").label("completed"),
                            count("failed").label("failed"), count("expired", "open").label("expired"),
                            count("cancelled").label("cancelled"))
                  .group_by(ended.c.grp))
        if self._dialect == "postgresql":
            millis = sa.func.round(sa.extract("epoch", s.c.completed_at - s.c.created_at) * 1000)
        else:
            millis = sa.func.round((sa.func.julianday(s.c.completed_at) - sa.func.julianday(s.c.created_at))
                                   * 86400000.0)
        paid = sa.select(group.label("grp"), sa.cast(millis, sa.BigInteger).label("ms")).where(paid).subquery("paid")
        ranked = sa.select(paid.c.grp, paid.c.ms,
                           sa.func.row_number().over(partition_by=paid.c.grp, order_by=paid.c.ms).label("rn"),
                           sa.func.count().over(partition_by=paid.c.grp).label("cnt")).subquery("ranked")
        middle = sa.or_(ranked.c.rn == (ranked.c.cnt + 1) // 2, ranked.c.rn == (ranked.c.cnt + 2) // 2)
        medians = (sa.select(ranked.c.grp, sa.func.sum(ranked.c.ms).label("ms"), sa.func.count().label("k"))
                   .where(middle).group_by(ranked.c.grp))
        async with autocommit(self._database) as db:
            count_rows = await db.fetch_all(counts)
            median_rows = await db.fetch_all(medians)
        median = {row["grp"]: round_half_up_div(int(row["ms"]), int(row["k"]) * 1000) for row in median_rows}
        items = []
        for row in sorted(count_rows, key=lambda x: x["grp"]):
            name = row["grp"]
            items.append(SessionOutcomes(
                provider=name if group_by is OutcomeGroup.PROVIDER else None,
                payment_method=name if group_by is OutcomeGroup.PAYMENT_METHOD else None,
                completed=int(row["completed"]), failed=int(row["failed"]), expired=int(row["expired"]),
                cancelled=int(row["cancelled"]), median_seconds_to_pay=median.get(name)))
        return items

    def _period_end(self) -> Any:
        """The end of each membership's stored period (`domain.period.period_bounds`)."""
        m = memberships
        if self._dialect == "postgresql":
            utc = sa.func.timezone(sa.literal("UTC"), m.c.anchor)
            moved = utc + sa.func.make_interval(0, m.c.period_index + 1)
            return sa.func.timezone(sa.literal("UTC"), moved)
        # SQLite: the anchor's text 'YYYY-MM-DD HH:MM:SS.ffffff' moved by whole months, its day
        # clamped to the target month's length, the time of day kept.
        anchor = m.c.anchor
        month_index = (sa.cast(sa.func.substr(anchor, 1, 4), sa.Integer) * 12
                       + sa.cast(sa.func.substr(anchor, 6, 2), sa.Integer) - 1 + m.c.period_index + 1)
        year = month_index // 12
        month = month_index - year * 12 + 1  # no `%`: the driver formats the statement with it
        first = sa.func.printf(sa.literal("%04d-%02d-01"), year, month)
        last_day = sa.cast(sa.func.strftime(sa.literal("%d"), first, sa.literal("+1 month"), sa.literal("-1 day")),
                           sa.Integer)
        day = sa.func.min(sa.cast(sa.func.substr(anchor, 9, 2), sa.Integer), last_day)
        return sa.func.printf(sa.literal("%04d-%02d-%02d"), year, month, day).op("||")(sa.func.substr(anchor, 11))

    async def subscriptions(self, now: datetime, since: datetime, paid_plans: tuple[str, ...],
                            free_plan: str) -> SubscriptionCounts:
        m, t = memberships, transactions
        period_end = self._period_end()
        now_value, since_value = sa.literal(now, UtcDateTime()), sa.literal(since, UtcDateTime())
        if self._dialect == "sqlite":  # the text of the bound instants, as the column's own
            now_value = sa.literal(now.astimezone(UTC).replace(tzinfo=None).isoformat(" ", "microseconds"))
            since_value = sa.literal(since.astimezone(UTC).replace(tzinfo=None).isoformat(" ", "microseconds"))
        # Read as of now (docs/renewals.md): an unrenewed paid period that ended lapsed, unless it
        # auto-renews (then it awaits its renewal until grace_until); an awaited renewal unpaid at
        # grace_until lapsed too. Past due: stored so, or awaiting without a method to charge.
        ended = sa.and_(m.c.plan.in_(paid_plans), sa.or_(
            sa.and_(m.c.grace_until.is_(None), period_end <= now_value, sa.not_(m.c.auto_renew)),
            sa.and_(m.c.grace_until.is_not(None), m.c.grace_until <= now_value)))
        past_due = sa.and_(m.c.plan.in_(paid_plans), sa.not_(ended), sa.or_(
            m.c.status == "past_due",
            sa.and_(m.c.grace_until.is_(None), m.c.auto_renew, m.c.renewal_method_id.is_(None),
                    period_end <= now_value)))
        plan_now = sa.case((ended, sa.literal(free_plan)), else_=m.c.plan)
        by_plan = sa.select(plan_now.label("plan"), sa.func.count().label("n")).group_by(plan_now)
        overdue = sa.select(sa.func.count()).select_from(m).where(past_due)
        churned = sa.select(sa.func.count()).select_from(m).where(ended, period_end > since_value)
        # Two range scans of the renewals' partial indexes (paid ones by completion, failed ones by
        # their last update).
        renewed = (sa.select(sa.func.count()).select_from(t)
                   .where(_condition(t, RENEWAL), t.c.status.in_(_PAID), t.c.completed_at >= since,
                          t.c.completed_at < now).scalar_subquery())
        lapsed = (sa.select(sa.func.count()).select_from(t)
                  .where(_condition(t, RENEWAL), sa.literal_column(f"{t.name}.status = 'failed'", sa.Boolean),
                         t.c.updated_at >= since, t.c.updated_at < now).scalar_subquery())
        renewals = sa.select(renewed, lapsed)
        async with autocommit(self._database) as db:
            plan_rows = await db.fetch_all(by_plan)
            churn = int((await db.fetch_one(churned))[0])
            late = int((await db.fetch_one(overdue))[0])
            renewal_row = await db.fetch_one(renewals)
        active = {free_plan: 0, **{plan: 0 for plan in paid_plans}}
        for row in plan_rows:
            active[row["plan"]] = active.get(row["plan"], 0) + int(row["n"])
        return SubscriptionCounts(active=active, past_due=late, renewals_succeeded=int(renewal_row[0]),
                                  renewals_failed=int(renewal_row[1]), churned=churn)

    async def failed_refunds(self) -> int:
        r = payment_refunds
        async with autocommit(self._database) as db:
            row = await db.fetch_one(sa.select(sa.func.count()).select_from(r)
                                     .where(r.c.status == RefundStatus.FAILED.value))
        return int(row[0])
