"""What each committed change tells the main backend: the `ports.outbox.EventRecorder` the unit of
work runs inside its transaction, and the payload of every event type (docs/events.md).

The payloads are the API's own representations, rendered by the functions the HTTP layer
renders them with (`entrypoints.http.render`, the refunds resource), so they never drift: `data`
is `{"user_id", "transaction": Transaction}` for `transaction.*`, `{"user_id", "refund": Refund}`
for `refund.*`, the Membership plus `user_id` for `membership.*`, `{"user_id", "flag": …}` for
`risk.flagged`.

Which domain events become which types (`record_events`):
- `TransactionSucceeded` → `transaction.succeeded`; `TransactionRefunded` → `transaction.refunded`;
- a refund's `RefundStatusChanged` to `requested`, `succeeded`, `failed` → `refund.<status>`;
- any change of a membership's plan, period, scheduled change or balance (`PlanChanged`,
  `PeriodStarted`, `PlanChangeScheduled`, `ScheduledChangeCancelled`, `ReceivesCredited`,
  `ReceivesConsumed`, `ReceivesAdjusted`: held for a refund, given back, taken back) → one
  `membership.updated` per user and unit of work, with the membership as it was committed; not
  for a membership merely made (its first period started, nothing else): it reads as before.
Within one unit of work, `transaction.*` come first, then `refund.*`, then `membership.updated`
(the cause before its effect). Every object is as the unit of work committed it.
- a renewal opened to be paid by the payer (`RenewalDue`) → `membership.renewal_due`; a renewal
  unpaid at the period end (`MembershipPastDue`) → `membership.past_due` (docs/renewals.md).
"""
from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from domain import events as domain
from domain import outbox
from domain.membership import Membership
from domain.outbox import NewEvent
from domain.refund import Refund
from domain.transaction import Transaction
from entrypoints.http import render
from ports.use_cases.refunds.refund_views import RefundView
from ports.use_cases.views import MembershipView, TransactionView

MEMBERSHIP_CHANGES = (domain.PlanChanged, domain.PeriodStarted, domain.PlanChangeScheduled,
                      domain.ScheduledChangeCancelled, domain.ReceivesCredited, domain.ReceivesConsumed,
                      domain.ReceivesAdjusted, domain.AutoRenewChanged, domain.RenewalPaid)
# Renewals (docs/renewals.md): told apart from `membership.updated`, with the same `data`.
RENEWAL_TYPES = {domain.RenewalDue: outbox.MEMBERSHIP_RENEWAL_DUE, domain.MembershipPastDue: outbox.MEMBERSHIP_PAST_DUE}
REFUND_TYPES = {"requested": outbox.REFUND_REQUESTED, "succeeded": outbox.REFUND_SUCCEEDED,
                "failed": outbox.REFUND_FAILED}
REPORTED = (domain.TransactionSucceeded, domain.TransactionRefunded, domain.RefundStatusChanged, *MEMBERSHIP_CHANGES,
            *RENEWAL_TYPES)


def new_event_id() -> str:
    return f"evt_{uuid.uuid4().hex}"


# ---------------------------------------------------------------------------- payloads
def transaction_data(transaction: Transaction) -> dict:
    return {"user_id": transaction.user_id, "transaction": render.transaction(TransactionView.of(transaction))}


def membership_data(membership: Membership) -> dict:
    return {"user_id": membership.user_id, **render.membership(MembershipView.of(membership))}


def refund_data(refund: Refund) -> dict:
    from entrypoints.http.resources.refunds import refund as render_refund  # the resource renders it
    return {"user_id": refund.user_id, "refund": render_refund(RefundView.of(refund))}


def risk_flag_data(user_id: str, flag: dict) -> dict:
    """`risk.flagged` (not emitted yet): the flag as `GET /api/v1/admin/risk/flags` lists it."""
    return {"user_id": user_id, "flag": flag}


def event(type: str, user_id: str, occurred_at: datetime, data: dict) -> NewEvent:
    if type not in outbox.EVENT_TYPES:
        raise ValueError(f"not an event type of the contract: {type!r}")
    return NewEvent(new_event_id(), user_id, type, occurred_at, data)


def membership_event(type: str, membership: Membership, occurred_at: datetime) -> NewEvent:
    """`membership.updated`, `membership.renewal_due` and `membership.past_due`."""
    return event(type, membership.user_id, occurred_at, membership_data(membership))


# ---------------------------------------------------------------------------- the recorder
def record_events(aggregates: Sequence[Any], events: Sequence[domain.Event]) -> list[NewEvent]:
    """The `ports.outbox.EventRecorder`: the events to send for what one unit of work stored."""
    transactions = {a.id: a for a in aggregates if isinstance(a, Transaction)}
    memberships = {a.user_id: a for a in aggregates if isinstance(a, Membership)}
    refunds = {a.id: a for a in aggregates if isinstance(a, Refund)}
    found: list[NewEvent] = []
    reported_memberships: set[str] = set()
    for change in sorted(events, key=_cause_first):
        if isinstance(change, (domain.TransactionSucceeded, domain.TransactionRefunded)):
            transaction = transactions.get(change.transaction_id)
            if transaction is not None:
                type = (outbox.TRANSACTION_SUCCEEDED if isinstance(change, domain.TransactionSucceeded)
                        else outbox.TRANSACTION_REFUNDED)
                found.append(event(type, transaction.user_id, change.occurred_at, transaction_data(transaction)))
        elif isinstance(change, domain.RefundStatusChanged):
            refund = refunds.get(change.refund_id)
            if refund is not None and change.status in REFUND_TYPES:
                found.append(event(REFUND_TYPES[change.status], refund.user_id, change.occurred_at,
                                   refund_data(refund)))
        elif change.__class__ in RENEWAL_TYPES:
            membership = memberships.get(change.user_id)
            if membership is not None:
                found.append(membership_event(RENEWAL_TYPES[change.__class__], membership, change.occurred_at))
        elif isinstance(change, MEMBERSHIP_CHANGES):
            membership = memberships.get(change.user_id)
            if membership is not None and change.user_id not in reported_memberships \
                    and not _only_made(membership, change.user_id, events):
                reported_memberships.add(change.user_id)
                found.append(membership_event(outbox.MEMBERSHIP_UPDATED, membership, change.occurred_at))
    return found


def _only_made(membership: Membership, user_id: str, events: Sequence[domain.Event]) -> bool:
    """A membership made by this unit of work (still at its first version) whose only change is the
    period it starts in: it reads as the default one did (basic, its allowance), nothing changed
    for the backend. Made and then changed (credited, consumed) in the same unit of work is reported."""
    return membership.version == 0 and all(
        isinstance(e, domain.PeriodStarted) for e in events
        if isinstance(e, MEMBERSHIP_CHANGES) and e.user_id == user_id)


def _cause_first(change: domain.Event) -> int:
    """Within one unit of work a payment or refund comes before the membership change it causes
    (the sort is stable: otherwise in the order they were recorded)."""
    if isinstance(change, MEMBERSHIP_CHANGES) or type(change) in RENEWAL_TYPES:
        return 2
    return 1 if isinstance(change, domain.RefundStatusChanged) else 0


def reports_any(events: Sequence[domain.Event]) -> bool:
    """Whether these committed events made the recorder write something (so: wake the dispatcher)."""
    return any(isinstance(e, REPORTED) for e in events)
