"""Events to the main backend (the contract's "Events to the main backend"): the outbox's record
of one event and the rules of its delivery.

An `OutboxEvent` is written in the same database transaction as the change it reports, then
delivered at least once by a dispatcher (`ports.use_cases.events`), in order per user: an event
is not sent while an earlier `pending` one of the same user is waiting. A delivery that fails is
retried after an exponential back-off with jitter (`next_delay`) until `RETRY_FOR` (72 hours)
after the event was written (or redelivered), then the event is `failed` for an admin to
redeliver. `body` is the exact JSON text that is signed and sent, every time.
"""
from __future__ import annotations

import enum
import json
import random
from datetime import datetime, timedelta, timezone

import attrs

TRANSACTION_SUCCEEDED = "transaction.succeeded"
TRANSACTION_REFUNDED = "transaction.refunded"
MEMBERSHIP_UPDATED = "membership.updated"
MEMBERSHIP_RENEWAL_DUE = "membership.renewal_due"
MEMBERSHIP_PAST_DUE = "membership.past_due"
REFUND_REQUESTED = "refund.requested"
REFUND_SUCCEEDED = "refund.succeeded"
REFUND_FAILED = "refund.failed"
RISK_FLAGGED = "risk.flagged"
EVENT_TYPES = (TRANSACTION_SUCCEEDED, TRANSACTION_REFUNDED, MEMBERSHIP_UPDATED, MEMBERSHIP_RENEWAL_DUE,
               MEMBERSHIP_PAST_DUE, REFUND_REQUESTED, REFUND_SUCCEEDED, REFUND_FAILED, RISK_FLAGGED)

RETRY_FOR = timedelta(hours=72)       # then `failed`
FIRST_RETRY = timedelta(seconds=5)    # the first back-off; each failure doubles it …
MAX_RETRY = timedelta(hours=1)        # … up to an hour
MAX_ERROR_LENGTH = 500                # of `last_error` (a status line or an exception's name)


class OutboxStatus(str, enum.Enum):
    PENDING = "pending"
    DELIVERED = "delivered"
    FAILED = "failed"


@attrs.frozen
class NewEvent:
    """An event as a unit of work records it: what happened to whom (`data` is the contract's
    object, already rendered)."""

    id: str
    user_id: str
    type: str
    occurred_at: datetime
    data: dict


@attrs.frozen
class OutboxEvent:
    id: str                      # evt_…, the `webhook-id` of every delivery
    user_id: str
    type: str
    body: str                    # the JSON text sent, byte for byte the same on every attempt
    status: OutboxStatus
    attempts: int                # deliveries tried (answered or not)
    created_at: datetime
    next_attempt_at: datetime    # due from then on (while pending)
    give_up_at: datetime         # a pending event still undelivered then is `failed`
    delivered_at: datetime | None = None
    last_error: str | None = None
    sequence: int = 0            # the store's order of writing (order per user)


def next_delay(attempts: int, rng: random.Random | None = None) -> timedelta:
    """How long to wait after the `attempts`-th failed delivery (1, 2, …): `FIRST_RETRY` doubled
    per earlier failure, capped at `MAX_RETRY`, of which a random 50-100 % ("equal jitter", so
    receivers coming back are not hit by every sender at once and a wait never collapses to 0)."""
    if attempts < 1:
        raise ValueError("attempts counts the failed deliveries: 1 or more")
    ceiling = min(FIRST_RETRY * (2 ** min(attempts - 1, 30)), MAX_RETRY)
    share = (rng or random).uniform(0.5, 1.0)
    return timedelta(seconds=ceiling.total_seconds() * share)


def short_error(error: str) -> str:
    return error if len(error) <= MAX_ERROR_LENGTH else error[:MAX_ERROR_LENGTH - 1] + "…"


def timestamp(moment: datetime) -> str:
    """ISO 8601 UTC with a `Z`, whole seconds: the contract's timestamps."""
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def body_of(new: NewEvent) -> str:
    """The JSON text of the event as sent: `{"id", "type", "timestamp", "data"}`."""
    return json.dumps({"id": new.id, "type": new.type, "timestamp": timestamp(new.occurred_at), "data": new.data},
                      ensure_ascii=False, separators=(",", ":"))


def pending(new: NewEvent) -> OutboxEvent:
    """The stored form of a just-recorded event: pending, due at once (at the change's time)."""
    now = new.occurred_at
    return OutboxEvent(id=new.id, user_id=new.user_id, type=new.type, body=body_of(new),
                       status=OutboxStatus.PENDING, attempts=0, created_at=now, next_attempt_at=now,
                       give_up_at=now + RETRY_FOR)
