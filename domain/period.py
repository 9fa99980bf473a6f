"""Monthly anniversary periods: a membership's periods start on the same day of each month as
its anchor, clamped to the month's last day (Jan 31 → Feb 28/29 → Mar 31 → Apr 30)."""
from __future__ import annotations

import calendar
from datetime import datetime, timedelta

ONE_SECOND = timedelta(seconds=1)


def add_months(anchor: datetime, months: int) -> datetime:
    """`anchor` moved by whole calendar months, its day clamped to the target month's length."""
    month_index = anchor.year * 12 + (anchor.month - 1) + months
    year, month = divmod(month_index, 12)
    day = min(anchor.day, calendar.monthrange(year, month + 1)[1])
    return anchor.replace(year=year, month=month + 1, day=day)


def period_bounds(anchor: datetime, index: int) -> tuple[datetime, datetime]:
    """Start and end of the `index`-th monthly period counted from `anchor` (index 0 starts there)."""
    return add_months(anchor, index), add_months(anchor, index + 1)


def period_index_at(anchor: datetime, moment: datetime) -> int:
    """The index of the period that contains `moment` (0 when `moment` precedes the anchor)."""
    if moment < anchor:
        return 0
    index = (moment.year - anchor.year) * 12 + (moment.month - anchor.month)
    while index > 0 and add_months(anchor, index) > moment:
        index -= 1
    while add_months(anchor, index + 1) <= moment:
        index += 1
    return index


def whole_seconds(delta: timedelta) -> int:
    """A duration in whole seconds, rounded down (integer arithmetic, no floats)."""
    return delta // ONE_SECOND
