"""Revenue, payment success rates and subscriptions for the operators, aggregated by the store
(`ports.operations`; the rules are there and in docs/operations.md, "Analytics").

Revenue's dates are calendar dates in the asked time zone, both inclusive (default: the 30 days
ending today there; a date-time stands for the day it falls on there; a range that ends before it
starts is empty); success rates cover the sessions that ended in the last 1 h, 24 h, 7 d or
30 d of the service's clock; rates are in basis points, halves rounded up.
"""
from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import attrs

from domain.errors import DomainValidationError
from ports.clock import Clock
from ports.operations import (
    Interval,
    OperationsQueries,
    OutcomeGroup,
    RevenueGroup,
    RevenueQuery,
    RevenueRow,
    SessionOutcomes,
)
from ports.use_cases.settings import UseCaseSettings

WINDOWS = {"1h": timedelta(hours=1), "24h": timedelta(hours=24), "7d": timedelta(days=7), "30d": timedelta(days=30)}
DEFAULT_DAYS = 30
# No payment is older than this: a range is read from here at the earliest (and up to tomorrow at
# the latest), which changes no answer (only periods with figures are listed) and bounds the work.
FIRST_DAY = date(2000, 1, 1)
CHURN_WINDOW = timedelta(days=30)


def basis_points(part: int, whole: int) -> int | None:
    """part ÷ whole in basis points, halves rounded up; None when whole is 0."""
    if whole == 0:
        return None
    return (2 * part * 10000 + whole) // (2 * whole)


def zone(name: str) -> ZoneInfo:
    """The IANA time zone `name`; a `validation_error` naming `tz` otherwise."""
    try:
        if not name or name != name.strip() or name.startswith("/") or ".." in name:
            raise ValueError(name)
        return ZoneInfo(name)
    except (ValueError, ZoneInfoNotFoundError, OSError):
        raise DomainValidationError("Must be an IANA time zone, e.g. Asia/Shanghai.", field="tz") from None


def local_day(value: date | datetime | None, tz: ZoneInfo) -> date | None:
    """`value` as a calendar day in `tz` (an aware date-time: the day it falls on there)."""
    if isinstance(value, datetime):
        try:
            return value.astimezone(tz).date()
        except OverflowError:  # the first or last instant of the calendar, shifted past it
            return date.min if value.year == 1 else date.max
    return value


@attrs.frozen
class RevenueCommand:
    date_from: date | datetime | None = None
    date_to: date | datetime | None = None
    interval: Interval = Interval.DAY
    group_by: RevenueGroup = RevenueGroup.TYPE
    tz: str = "UTC"


@attrs.frozen
class RevenueReport:
    currency: str
    interval: Interval
    tz: str
    date_from: date
    date_to: date
    rows: tuple[RevenueRow, ...]


@attrs.define
class Revenue:
    _operations: OperationsQueries
    _clock: Clock
    _settings: UseCaseSettings

    async def __call__(self, cmd: RevenueCommand) -> RevenueReport:
        tz = zone(cmd.tz)
        today = self._clock.now().astimezone(tz).date()
        asked_from, asked_to = local_day(cmd.date_from, tz), local_day(cmd.date_to, tz)
        date_to = asked_to or (today if asked_from is None else max(today, asked_from))
        date_from = asked_from or (date_to - timedelta(days=DEFAULT_DAYS - 1) if date_to.year > 1 else date.min)
        first, last = max(date_from, FIRST_DAY), min(date_to, today + timedelta(days=1))
        if first > last:
            return RevenueReport(self._settings.catalog.currency.code, cmd.interval, cmd.tz, date_from, date_to, ())
        start = datetime.combine(first, time(), tz).astimezone(UTC)
        end = datetime.combine(last + timedelta(days=1), time(), tz).astimezone(UTC)
        currency = self._settings.catalog.currency.code
        rows = await self._operations.revenue(RevenueQuery(start, end, cmd.interval, cmd.group_by, cmd.tz, currency))
        return RevenueReport(currency, cmd.interval, cmd.tz, date_from, date_to, tuple(rows))


@attrs.frozen
class SuccessRateItem:
    provider: str | None
    payment_method: str | None
    sessions: int
    completed: int
    failed: int
    expired: int
    cancelled: int
    success_rate_bps: int | None
    median_seconds_to_pay: int | None

    @classmethod
    def of(cls, o: SessionOutcomes) -> SuccessRateItem:
        return cls(o.provider, o.payment_method, o.sessions, o.completed, o.failed, o.expired, o.cancelled,
                   basis_points(o.completed, o.sessions), o.median_seconds_to_pay)


@attrs.define
class SuccessRates:
    _operations: OperationsQueries
    _clock: Clock

    async def __call__(self, window: str, group_by: OutcomeGroup) -> list[SuccessRateItem]:
        if window not in WINDOWS:
            raise DomainValidationError(f"Must be one of: {', '.join(WINDOWS)}.", field="window")
        now = self._clock.now()
        outcomes = await self._operations.session_outcomes(now - WINDOWS[window], now, group_by)
        return [SuccessRateItem.of(o) for o in outcomes]


@attrs.frozen
class SubscriptionsReport:
    active: dict[str, int]
    past_due: int
    mrr: int
    renewals_succeeded: int
    renewals_failed: int
    churned: int


@attrs.define
class Subscriptions:
    """Memberships now (a past-due one counts in its plan too), renewals and churn over 30 days."""

    _operations: OperationsQueries
    _clock: Clock
    _settings: UseCaseSettings

    async def __call__(self) -> SubscriptionsReport:
        catalog, now = self._settings.catalog, self._clock.now()
        paid = tuple(plan for plan in catalog.plans if plan.is_paid)
        counts = await self._operations.subscriptions(now, now - CHURN_WINDOW, tuple(p.id.value for p in paid),
                                                      catalog.free_plan.id.value)
        # Active or past due, every paid plan counts its monthly price (past due is in `active`'s
        # plan counts too: the contract's MRR covers both).
        mrr = sum(counts.active.get(plan.id.value, 0) * plan.price.amount for plan in paid)
        active = {plan.id.value: counts.active.get(plan.id.value, 0) for plan in catalog.plans}
        return SubscriptionsReport(active, counts.past_due, mrr, counts.renewals_succeeded, counts.renewals_failed,
                                   counts.churned)
