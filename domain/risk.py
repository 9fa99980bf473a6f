"""Risk rules (docs/risk.md): what makes a new payment refused or a user flagged for an admin.

- Velocity, checked before a payment is opened or charged (`assess`): a user blocked by an admin
  is refused; so is a payment that takes what the user paid in the last 24 hours above the daily
  limit, or a user with more than `failed_attempts_per_hour` failed or expired attempts in the
  last hour. Both velocity refusals flag the user too.
- Refund abuse: `refund_requests_to_flag` or more refund requests in 30 days flag the user (the
  request itself still queues).
- Linked payers: the same payer (a keyed hash of the id its provider reports) on more than
  `users_per_payer` (3) users in 30 days flags them.

Pure: the facts (`RiskSnapshot`) are read by the ports' store, the time is passed in.
"""
from __future__ import annotations

import enum
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

import attrs

from domain.errors import PaymentsError

DAY = timedelta(hours=24)
HOUR = timedelta(hours=1)
REFUND_WINDOW = timedelta(days=30)
PAYER_WINDOW = timedelta(days=30)


class RiskRule(str, enum.Enum):
    DAILY_AMOUNT = "daily_amount"
    FAILED_ATTEMPTS = "failed_attempts"
    REFUND_ABUSE = "refund_abuse"
    LINKED_PAYER = "linked_payer"


class RiskDeclinedError(PaymentsError):
    """403 `risk_declined`: the payment was refused by a risk rule or because the user is blocked.
    The message says no more than that (a refused fraudster learns nothing of the thresholds)."""

    code = "risk_declined"

    def __init__(self, reason: str) -> None:
        super().__init__("This payment was declined for risk reasons.")
        self.reason = reason  # `blocked` or a `RiskRule` value: logged, never answered


@attrs.frozen
class RiskLimits:
    daily_amount: int = 50000  # fen, PAYMENTS_RISK_DAILY_LIMIT
    failed_attempts_per_hour: int = 10  # more than this refuses
    refund_requests_to_flag: int = 3  # this many in 30 days flags
    users_per_payer: int = 3  # more users than this on one payer in 30 days flags them


@attrs.frozen
class RiskSnapshot:
    """What the store read for one user, in one statement."""

    blocked: bool
    paid_last_day: int  # fen paid in the last 24 hours (succeeded, later refunded or not)
    failed_last_hour: int  # attempts (sessions) that failed or expired in the last hour
    amount: int | None = None  # the new payment's amount when the store looked it up


@attrs.frozen
class Verdict:
    declined: str | None = None  # None: allowed; `blocked` or a rule's value
    details: Mapping[str, Any] = attrs.field(factory=dict)

    @property
    def allowed(self) -> bool:
        return self.declined is None

    @property
    def rule(self) -> RiskRule | None:
        return RiskRule(self.declined) if self.declined not in (None, "blocked") else None


def assess(snapshot: RiskSnapshot, amount: int, limits: RiskLimits) -> Verdict:
    """Whether a new payment of `amount` fen may go ahead."""
    if snapshot.blocked:
        return Verdict("blocked")
    if snapshot.paid_last_day + amount > limits.daily_amount:
        return Verdict(RiskRule.DAILY_AMOUNT.value, {"paid_last_24h": snapshot.paid_last_day, "amount": amount,
                                                     "limit": limits.daily_amount})
    if snapshot.failed_last_hour > limits.failed_attempts_per_hour:
        return Verdict(RiskRule.FAILED_ATTEMPTS.value, {"failed_last_hour": snapshot.failed_last_hour,
                                                        "limit": limits.failed_attempts_per_hour})
    return Verdict()


@attrs.frozen
class RiskFlag:
    """A user flagged by a rule, for an admin to look at; `resolved_*` once one did."""

    id: str
    user_id: str
    rule: RiskRule
    details: Mapping[str, Any]
    created_at: datetime
    resolved_at: datetime | None = None
    resolved_by: str | None = None
    note: str | None = None

    @property
    def resolved(self) -> bool:
        return self.resolved_at is not None

    def resolve(self, by: str, note: str | None, now: datetime) -> RiskFlag:
        if self.resolved:
            return self
        return attrs.evolve(self, resolved_at=now, resolved_by=by, note=note)
