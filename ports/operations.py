"""The operators' read side (role `admin`): every user's transactions, and the analytics that are
aggregated by the store itself (in SQL on the SQL adapter: rows are never loaded to be summed).

    rows = await operations.revenue(RevenueQuery(start, end, Interval.DAY, RevenueGroup.PLAN, "Asia/Shanghai", "CNY"))
    items = await operations.session_outcomes(since, until, OutcomeGroup.PROVIDER)
    counts = await operations.subscriptions(now, since=now - timedelta(days=30), paid_plans=("pro", "vip"))

The rules (docs/operations.md, "Analytics"):
- Revenue. Gross: sales that were paid (a transaction `succeeded`, `partially_refunded` or
  `refunded`, total above 0) at their `completed_at`. Refunded: `succeeded` refunds that are not
  `automatic` at their `completed_at`, counted against their transaction's group. An automatic
  refund (a duplicate payment sent back) is in neither. Periods are calendar days, ISO weeks
  (starting Monday) and months of the instant in time zone `tz`.
- Session outcomes: the sessions that ended in [since, until): completed (and `refunded`, paid
  then sent back: counted completed) at `completed_at`; expired at `expires_at` (an `open`
  session past its `expires_at` reads expired); failed and cancelled at their last update
  (`updated_at`). The
  median time to pay is over the completed ones (`completed_at − created_at`), in seconds,
  halves rounded up.
- Subscriptions: memberships read at `now`: a paid plan whose period has ended without renewal
  is on the free plan (no renewals exist yet, issue 17), a scheduled change that took effect is
  applied. `churned` counts paid plans that ended, unrenewed, in [since, now) and are still stored
  as paid (a membership rolled forward since reads as basic and its history is not kept).
"""
from __future__ import annotations

import enum
from datetime import date, datetime
from typing import Protocol

import attrs

from domain.transaction import Transaction, TransactionStatus, TransactionType


class Interval(str, enum.Enum):
    DAY = "day"
    WEEK = "week"
    MONTH = "month"


class RevenueGroup(str, enum.Enum):
    TYPE = "type"
    PLAN = "plan"
    PROVIDER = "provider"
    PAYMENT_METHOD = "payment_method"


class OutcomeGroup(str, enum.Enum):
    PROVIDER = "provider"
    PAYMENT_METHOD = "payment_method"


PAID_STATUSES = (TransactionStatus.SUCCEEDED, TransactionStatus.PARTIALLY_REFUNDED, TransactionStatus.REFUNDED)


@attrs.frozen
class AdminTransactionQuery:
    """Every user's transactions, newest first (ties by id, descending); empty tuples mean "any".
    `date_from`/`date_to` bound `created_at` inclusively. Statuses are as stored, except that with
    `as_of` a pending transaction whose attempts have all lapsed reads `expired` (as the user's
    history does)."""

    user_id: str | None = None
    providers: tuple[str, ...] = ()
    payment_methods: tuple[str, ...] = ()
    types: tuple[TransactionType, ...] = ()
    statuses: tuple[TransactionStatus, ...] = ()
    date_from: datetime | None = None
    date_to: datetime | None = None
    page: int = 1
    limit: int = 20
    as_of: datetime | None = None

    @property
    def offset(self) -> int:
        return (self.page - 1) * self.limit


@attrs.frozen
class RevenueQuery:
    start: datetime  # inclusive, aware
    end: datetime  # exclusive, aware
    interval: Interval
    group_by: RevenueGroup
    tz: str  # an IANA time zone name (checked by the caller)
    currency: str


@attrs.frozen
class RevenueRow:
    period_start: date
    group: str | None  # None: a receive purchase grouped by plan (it belongs to none)
    gross: int  # minor units
    refunded: int
    transactions: int  # sales counted in gross


@attrs.frozen
class SessionOutcomes:
    provider: str | None
    payment_method: str | None
    completed: int
    failed: int
    expired: int
    cancelled: int
    median_seconds_to_pay: int | None

    @property
    def sessions(self) -> int:
        return self.completed + self.failed + self.expired + self.cancelled


@attrs.frozen
class SubscriptionCounts:
    active: dict[str, int]  # plan id → memberships on it now
    past_due: int
    renewals_succeeded: int
    renewals_failed: int
    churned: int


class OperationsQueries(Protocol):
    async def transactions(self, query: AdminTransactionQuery) -> tuple[list[Transaction], int]:
        """One page of every user's transactions matching `query` (without their sessions) and
        the number that match."""
        ...

    async def revenue(self, query: RevenueQuery) -> list[RevenueRow]:
        """Rows by period and group, ordered by period then group (None first); only periods and
        groups with a sale or a refund."""
        ...

    async def session_outcomes(self, since: datetime, until: datetime, group_by: OutcomeGroup) -> list[SessionOutcomes]:
        """Outcome counts of the sessions that ended in [since, until), by provider or method
        (the other label None), ordered by it."""
        ...

    async def subscriptions(self, now: datetime, since: datetime, paid_plans: tuple[str, ...],
                            free_plan: str) -> SubscriptionCounts:
        """Memberships by the plan they are on at `now`, renewals and churn since `since`."""
        ...

    async def failed_refunds(self) -> int:
        """Refunds now `failed` (each waits for an admin's retry)."""
        ...
