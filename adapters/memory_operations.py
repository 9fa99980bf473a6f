"""`ports.operations.OperationsQueries` over the committed state of an `InMemoryStore`: the same
rules as the SQL adapter (`adapters/sql/analytics.py`), computed in Python with zoneinfo."""
from __future__ import annotations

import copy
from collections import defaultdict
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import attrs

from adapters.memory import InMemoryStore
from domain.period import period_bounds
from domain.refund import RefundKind, RefundStatus
from domain.session import PaymentSession, SessionStatus
from domain.transaction import Transaction, TransactionStatus, TransactionType
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
from ports.queries import read_at


def period_start(moment: datetime, interval: Interval, tz: str) -> date:
    local = moment.astimezone(ZoneInfo(tz)).date()
    if interval is Interval.WEEK:
        return local - timedelta(days=local.weekday())
    if interval is Interval.MONTH:
        return local.replace(day=1)
    return local


def group_of(transaction: Transaction, group_by: RevenueGroup) -> str | None:
    if group_by is RevenueGroup.TYPE:
        return transaction.type.value
    if group_by is RevenueGroup.PLAN:
        return transaction.plan_to.value if transaction.plan_to is not None else None
    if group_by is RevenueGroup.PROVIDER:
        return transaction.provider
    return transaction.payment_method


def session_ended_at(session: PaymentSession) -> datetime:
    status = session.status
    if status in (SessionStatus.COMPLETED, SessionStatus.REFUNDED):
        assert session.completed_at is not None  # set whenever a session is paid
        return session.completed_at
    if status in (SessionStatus.EXPIRED, SessionStatus.OPEN):
        return session.expires_at
    return session.updated_at


class InMemoryOperationsQueries:
    def __init__(self, store: InMemoryStore) -> None:
        self._store = store

    async def transactions(self, query: AdminTransactionQuery) -> tuple[list[Transaction], int]:
        matching = []
        for stored in self._store.transactions.values():
            t = stored if query.as_of is None else read_at(stored, query.as_of)
            if ((query.user_id is not None and t.user_id != query.user_id)
                    or (query.providers and t.provider not in query.providers)
                    or (query.payment_methods and t.payment_method not in query.payment_methods)
                    or (query.types and t.type not in query.types)
                    or (query.statuses and t.status not in query.statuses)
                    or (query.date_from is not None and t.created_at < query.date_from)
                    or (query.date_to is not None and t.created_at > query.date_to)):
                continue
            matching.append(attrs.evolve(copy.deepcopy(t), sessions=[]))
        matching.sort(key=lambda t: (t.created_at, t.id), reverse=True)
        return matching[query.offset:query.offset + query.limit], len(matching)

    async def revenue(self, query: RevenueQuery) -> list[RevenueRow]:
        sums: dict[tuple[date, str | None], list[int]] = defaultdict(lambda: [0, 0, 0])
        for t in self._store.transactions.values():
            at = t.completed_at
            if (t.status in PAID_STATUSES and t.total.amount > 0 and t.total.currency.code == query.currency
                    and at is not None and query.start <= at < query.end):
                row = sums[(period_start(at, query.interval, query.tz), group_of(t, query.group_by))]
                row[0] += t.total.amount
                row[2] += 1
        for refund in self._store.refunds.values():
            at = refund.completed_at
            if (refund.status is RefundStatus.SUCCEEDED and refund.kind is not RefundKind.AUTOMATIC
                    and refund.amount.currency.code == query.currency and at is not None
                    and query.start <= at < query.end):
                sold = self._store.transactions[refund.transaction_id]
                sums[(period_start(at, query.interval, query.tz), group_of(sold, query.group_by))][1] += \
                    refund.amount.amount
        rows = [RevenueRow(period, group, gross, refunded, n) for (period, group), (gross, refunded, n) in sums.items()]
        return sorted(rows, key=lambda x: (x.period_start, x.group is not None, x.group or ""))

    async def session_outcomes(self, since: datetime, until: datetime, group_by: OutcomeGroup) -> list[SessionOutcomes]:
        counts: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
        paid: dict[str, list[int]] = defaultdict(list)
        for session in self._store.sessions.values():
            if not since <= session_ended_at(session) < until:
                continue
            name = session.provider if group_by is OutcomeGroup.PROVIDER else session.payment_method
            status = session.status
            outcome = {SessionStatus.REFUNDED: "completed", SessionStatus.OPEN: "expired"}.get(status, status.value)
            counts[name][outcome] += 1
            if outcome == "completed":
                took = session_ended_at(session) - session.created_at
                paid[name].append(round_half_up_millis(took))
        items = []
        for name in sorted(counts):
            c = counts[name]
            items.append(SessionOutcomes(
                provider=name if group_by is OutcomeGroup.PROVIDER else None,
                payment_method=name if group_by is OutcomeGroup.PAYMENT_METHOD else None,
                completed=c["completed"], failed=c["failed"], expired=c["expired"], cancelled=c["cancelled"],
                median_seconds_to_pay=median_seconds(paid[name])))
        return items

    async def subscriptions(self, now: datetime, since: datetime, paid_plans: tuple[str, ...],
                            free_plan: str) -> SubscriptionCounts:
        active = {free_plan: 0, **{plan: 0 for plan in paid_plans}}
        churned = past_due = 0
        for membership in self._store.memberships.values():
            plan = membership.plan.value
            end = period_bounds(membership.anchor, membership.period_index)[1]
            grace = membership.grace_until
            ended = (grace <= now) if grace is not None else (end <= now and not membership.auto_renew)
            if plan in paid_plans and ended:
                churned += since < end
                plan = free_plan
            elif plan in paid_plans and (membership.status.value == "past_due" or (
                    grace is None and membership.auto_renew and membership.renewal_method_id is None and end <= now)):
                past_due += 1
            active[plan] = active.get(plan, 0) + 1
        renewals = [t for t in self._store.transactions.values() if t.type is TransactionType.PLAN_RENEWAL]
        succeeded = sum(1 for t in renewals if t.status in PAID_STATUSES and t.completed_at is not None
                        and since <= t.completed_at < now)
        failed = sum(1 for t in renewals if t.status is TransactionStatus.FAILED and since <= t.updated_at < now)
        return SubscriptionCounts(active=active, past_due=past_due, renewals_succeeded=succeeded, renewals_failed=failed,
                                  churned=churned)

    async def failed_refunds(self) -> int:
        return sum(1 for r in self._store.refunds.values() if r.status is RefundStatus.FAILED)


def round_half_up_millis(delta: timedelta) -> int:
    micro = delta // timedelta(microseconds=1)
    return (micro + 500) // 1000


def median_seconds(millis: list[int]) -> int | None:
    """The median of `millis` in whole seconds, halves rounded up (None for none)."""
    if not millis:
        return None
    ordered = sorted(millis)
    middle = ordered[(len(ordered) - 1) // 2:len(ordered) // 2 + 1]
    return (2 * sum(middle) + len(middle) * 1000) // (2 * len(middle) * 1000)
