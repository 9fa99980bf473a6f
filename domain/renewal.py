"""Auto-renewal's timetable (the contract's "Auto-renewal", docs/renewals.md): when a renewal
without a saved method is opened before the period end, how long an unpaid renewal keeps the plan
(grace), and on which days after the period end a saved method is charged again.

Pure values and arithmetic; the membership (`domain.membership`) and the renewal job
(`ports.use_cases.renewals`) apply them.
"""
from __future__ import annotations

from datetime import datetime, timedelta

import attrs

DAY = timedelta(days=1)
MAX_GRACE_DAYS = 27  # shorter than any month, so a grace period never outlives the unpaid period


@attrs.frozen
class RenewalPolicy:
    notice_days: int = 3                    # PAYMENTS_RENEWAL_NOTICE_DAYS
    grace_days: int = 7                     # PAYMENTS_RENEWAL_GRACE_DAYS
    retry_days: tuple[int, ...] = (1, 3, 5)  # PAYMENTS_RENEWAL_RETRY_DAYS, ascending, each < grace_days

    def __attrs_post_init__(self) -> None:
        if not 0 <= self.notice_days <= 27:
            raise ValueError("notice_days must be 0 to 27")
        if not 1 <= self.grace_days <= MAX_GRACE_DAYS:
            raise ValueError(f"grace_days must be 1 to {MAX_GRACE_DAYS}")
        if list(self.retry_days) != sorted(set(self.retry_days)) or any(
                not 1 <= day < self.grace_days for day in self.retry_days):
            raise ValueError("retry_days must be distinct days, ascending, each from 1 to grace_days - 1")

    @property
    def notice(self) -> timedelta:
        return self.notice_days * DAY

    @property
    def grace(self) -> timedelta:
        return self.grace_days * DAY

    def notice_at(self, period_end: datetime) -> datetime:
        """When a renewal paid by reminder is opened (and the main backend told)."""
        return period_end - self.notice

    def grace_until(self, period_end: datetime) -> datetime:
        return period_end + self.grace

    def next_charge_at(self, period_end: datetime, after: datetime) -> datetime | None:
        """The first retry of a declined charge after `after` (None: no retry is left before the
        grace ends)."""
        for day in self.retry_days:
            moment = period_end + day * DAY
            if moment > after:
                return moment
        return None


DEFAULT_POLICY = RenewalPolicy()
