"""Row ↔ aggregate mapping for the SQL adapter: plain functions between the rows of `tables` and
the domain's aggregates (built through their attrs `__init__`, read through public properties).

Money is split into `<name>_minor` and the row's one `currency`; a row whose amounts are in two
currencies cannot be stored (`ValueError`), because the schema has one currency per row.
"""
from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime, timezone
from typing import Any

from domain.audit import AuditEntry
from domain.catalog import PlanId
from domain.ledger import Bucket, LedgerEntry, LedgerKind
from domain.membership import Membership, MembershipStatus, Proration, ScheduledChange
from domain.money import Currency, Money
from domain.refund import Refund, RefundKind, RefundReason, RefundStatus
from domain.session import PaymentSession, SessionStatus
from domain.transaction import Transaction, TransactionStatus, TransactionType

Row = Mapping[str, Any]


def as_utc(value: datetime | None) -> datetime | None:
    """Aware UTC, whatever the driver handed back (asyncpg: aware; SQLite: see `UtcDateTime`)."""
    if value is None:
        return None
    if value.tzinfo is None:
        return value.replace(tzinfo=timezone.utc)
    return value.astimezone(timezone.utc)


def _currency(*amounts: Money | None) -> str:
    codes = {m.currency.code for m in amounts if m is not None}
    if len(codes) != 1:
        raise ValueError(f"one row stores amounts in one currency, not {sorted(codes)}")
    return codes.pop()


def _money(minor: int | None, currency: Currency) -> Money | None:
    return None if minor is None else Money(int(minor), currency)


def _value(member: Any) -> Any:
    return None if member is None else member.value


# ---------------------------------------------------------------------- transactions
def transaction_to_row(t: Transaction) -> dict[str, Any]:
    p = t.proration
    currency = _currency(t.subtotal, t.discount, t.total, t.refunded_amount,
                         *((p.credit, p.debit, p.charge) if p else ()))
    return {
        "id": t.id, "order_id": t.order_id, "user_id": t.user_id, "type": t.type.value,
        "status": t.status.value, "payment_method": t.payment_method, "provider": t.provider,
        "currency": currency, "subtotal_minor": t.subtotal.amount, "discount_minor": t.discount.amount,
        "total_minor": t.total.amount, "refunded_minor": t.refunded_amount.amount, "receives": t.receives,
        "plan_from": _value(t.plan_from), "plan_to": _value(t.plan_to),
        "proration_credit_minor": p.credit.amount if p else None,
        "proration_debit_minor": p.debit.amount if p else None,
        "proration_charge_minor": p.charge.amount if p else None,
        "proration_period_end": p.period_end if p else None,
        "cancel_reason": t.cancel_reason, "failure_reason": t.failure_reason, "paid_session_id": t.paid_session_id,
        "price_variant": t.price_variant,
        "created_at": t.created_at, "updated_at": t.updated_at, "completed_at": t.completed_at,
        "version": t.version, "renewal_period_start": t.renewal_period_start,
    }


def transaction_from_row(row: Row) -> Transaction:
    currency = Currency.of(row["currency"].strip())
    proration = None
    if row["proration_charge_minor"] is not None:
        proration = Proration(_money(row["proration_credit_minor"], currency),
                              _money(row["proration_debit_minor"], currency),
                              _money(row["proration_charge_minor"], currency),
                              as_utc(row["proration_period_end"]))
    return Transaction(
        id=row["id"], order_id=row["order_id"], user_id=row["user_id"], type=TransactionType(row["type"]),
        status=TransactionStatus(row["status"]), payment_method=row["payment_method"], provider=row["provider"],
        subtotal=_money(row["subtotal_minor"], currency), discount=_money(row["discount_minor"], currency),
        total=_money(row["total_minor"], currency), receives=row["receives"],
        plan_from=PlanId(row["plan_from"]) if row["plan_from"] else None,
        plan_to=PlanId(row["plan_to"]) if row["plan_to"] else None,
        proration=proration, refunded_amount=_money(row["refunded_minor"], currency),
        cancel_reason=row["cancel_reason"], failure_reason=row["failure_reason"],
        created_at=as_utc(row["created_at"]), updated_at=as_utc(row["updated_at"]),
        completed_at=as_utc(row["completed_at"]), paid_session_id=row["paid_session_id"], version=row["version"],
        price_variant=row["price_variant"],
        renewal_period_start=as_utc(row["renewal_period_start"]),
    )


# ---------------------------------------------------------------------- payment sessions
def session_to_row(s: PaymentSession) -> dict[str, Any]:
    return {
        "id": s.id, "transaction_id": s.transaction_id, "user_id": s.user_id, "order_id": s.order_id,
        "status": s.status.value, "payment_method": s.payment_method, "provider": s.provider,
        "currency": s.amount.currency.code, "amount_minor": s.amount.amount, "return_url": s.return_url,
        "payment_url": s.payment_url, "qr_code": s.qr_code, "provider_reference": s.provider_reference,
        "expires_at": s.expires_at, "next_check_at": s.next_check_at, "created_at": s.created_at,
        "updated_at": s.updated_at,
        "completed_at": s.completed_at, "version": s.version, "flow": s.flow,
        "save_method": s.save_method, "method_saved_at": s.method_saved_at, "saved_method_id": s.saved_method_id,
    }


def session_from_row(row: Row) -> PaymentSession:
    return PaymentSession(
        id=row["id"], transaction_id=row["transaction_id"], user_id=row["user_id"], order_id=row["order_id"],
        status=SessionStatus(row["status"]), payment_method=row["payment_method"], provider=row["provider"],
        amount=Money(int(row["amount_minor"]), Currency.of(row["currency"].strip())), return_url=row["return_url"],
        expires_at=as_utc(row["expires_at"]), created_at=as_utc(row["created_at"]),
        updated_at=as_utc(row["updated_at"]),
        completed_at=as_utc(row["completed_at"]), payment_url=row["payment_url"], qr_code=row["qr_code"],
        provider_reference=row["provider_reference"], next_check_at=as_utc(row["next_check_at"]),
        version=row["version"], flow=row["flow"], save_method=bool(row["save_method"]),
        method_saved_at=as_utc(row["method_saved_at"]), saved_method_id=row["saved_method_id"],
    )


# ---------------------------------------------------------------------- memberships and the ledger
def membership_to_row(m: Membership) -> dict[str, Any]:
    change = m.scheduled_change
    return {
        "user_id": m.user_id, "plan": m.plan.value, "monthly_allowance": m.monthly_allowance,
        "anchor": m.anchor, "period_index": m.period_index, "allowance_remaining": m.allowance_remaining,
        "allowance_used": m.allowance_used, "purchased_remaining": m.purchased_remaining,
        "scheduled_plan": change.plan.value if change else None,
        "scheduled_effective_at": change.effective_at if change else None,
        "created_at": m.created_at, "updated_at": m.updated_at, "version": m.version,
        "auto_renew": m.auto_renew, "renewal_method_id": m.renewal_method_id, "status": m.status.value,
        "grace_until": m.grace_until, "next_period_paid": m.next_period_paid,
        "renewal_check_at": m.renewal_check_at,
    }


def membership_from_row(row: Row) -> Membership:
    change = None
    if row["scheduled_plan"] is not None:
        change = ScheduledChange(PlanId(row["scheduled_plan"]), as_utc(row["scheduled_effective_at"]))
    return Membership(
        user_id=row["user_id"], plan=PlanId(row["plan"]), monthly_allowance=row["monthly_allowance"],
        anchor=as_utc(row["anchor"]), period_index=row["period_index"],
        allowance_remaining=row["allowance_remaining"], allowance_used=row["allowance_used"],
        purchased_remaining=row["purchased_remaining"], scheduled_change=change,
        created_at=as_utc(row["created_at"]), updated_at=as_utc(row["updated_at"]), version=row["version"],
        auto_renew=bool(row["auto_renew"]), renewal_method_id=row["renewal_method_id"],
        status=MembershipStatus(row["status"]), grace_until=as_utc(row["grace_until"]),
        next_period_paid=bool(row["next_period_paid"]), renewal_check_at=as_utc(row["renewal_check_at"]),
    )


def ledger_entry_to_row(e: LedgerEntry) -> dict[str, Any]:
    return {"user_id": e.user_id, "kind": e.kind.value, "bucket": e.bucket.value, "delta": e.delta,
            "reference": e.reference, "created_at": e.created_at}


def ledger_entry_from_row(row: Row) -> LedgerEntry:
    return LedgerEntry(row["user_id"], LedgerKind(row["kind"]), Bucket(row["bucket"]), row["delta"],
                       row["reference"], as_utc(row["created_at"]))


# ---------------------------------------------------------------------- audit log
def audit_entry_to_row(e: AuditEntry) -> dict[str, Any]:
    return {"id": e.id, "actor": e.actor, "action": e.action, "object_type": e.object_type,
            "object_id": e.object_id, "details": json.dumps(dict(e.details), sort_keys=True, separators=(",", ":")),
            "request_id": e.request_id, "created_at": e.created_at}


def audit_entry_from_row(row: Row) -> AuditEntry:
    return AuditEntry(id=row["id"], actor=row["actor"], action=row["action"], object_type=row["object_type"],
                      object_id=row["object_id"], details=json.loads(row["details"]), request_id=row["request_id"],
                      created_at=as_utc(row["created_at"]))


# ---------------------------------------------------------------------- refunds
def refund_to_row(r: Refund) -> dict[str, Any]:
    return {
        "id": r.id, "refund_order_id": r.refund_order_id, "transaction_id": r.transaction_id,
        "session_id": r.session_id, "user_id": r.user_id, "provider": r.provider,
        "payment_order_id": r.payment_order_id, "currency": r.amount.currency.code, "amount_minor": r.amount.amount,
        "reason": r.reason if r.kind is RefundKind.AUTOMATIC else RefundReason.REQUESTED_BY_CUSTOMER.value,
        "request_reason": None if r.kind is RefundKind.AUTOMATIC else r.reason, "status": r.status.value, "provider_reference": r.provider_reference,
        "created_at": r.created_at, "updated_at": r.updated_at, "completed_at": r.completed_at,
        "next_attempt_at": r.next_attempt_at, "version": r.version,
        "kind": r.kind.value, "receives": r.receives, "ends_plan": r.ends_plan, "requested_by": r.requested_by,
        "reviewed_by": r.reviewed_by, "review_note": r.review_note, "reviewed_at": r.reviewed_at,
        "failure_reason": r.failure_reason, "submitted_at": r.submitted_at,
    }


def refund_from_row(row: Row) -> Refund:
    return Refund(
        id=row["id"], refund_order_id=row["refund_order_id"], transaction_id=row["transaction_id"],
        session_id=row["session_id"], user_id=row["user_id"], provider=row["provider"],
        payment_order_id=row["payment_order_id"],
        amount=Money(int(row["amount_minor"]), Currency.of(row["currency"].strip())),
        reason=row["request_reason"] or row["reason"], status=RefundStatus(row["status"]),
        created_at=as_utc(row["created_at"]), updated_at=as_utc(row["updated_at"]),
        completed_at=as_utc(row["completed_at"]), provider_reference=row["provider_reference"],
        next_attempt_at=as_utc(row["next_attempt_at"]), version=row["version"],
        kind=RefundKind(row["kind"]), receives=row["receives"], ends_plan=bool(row["ends_plan"]),
        requested_by=row["requested_by"], reviewed_by=row["reviewed_by"], review_note=row["review_note"],
        reviewed_at=as_utc(row["reviewed_at"]), failure_reason=row["failure_reason"],
        submitted_at=as_utc(row["submitted_at"]),
    )
