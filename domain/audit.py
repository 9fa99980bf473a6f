"""The audit log: who did what to which object, and when. Entries are immutable facts, appended in
the unit of work of the change they record and never updated or deleted.

Every admin action on a refund is one (approve, reject, retry, issue), and so are the changes a
user makes to their own refunds (request, cancel) and every automatic refund, whose actor is the
service itself (`SYSTEM_ACTOR`).
"""
from __future__ import annotations

import enum
from collections.abc import Mapping
from datetime import datetime
from typing import Any

import attrs

SYSTEM_ACTOR = "system"


class AuditAction(str, enum.Enum):
    REFUND_REQUESTED = "refund.requested"
    REFUND_CANCELLED = "refund.cancelled"
    REFUND_CREATED = "refund.created"        # an admin issued a refund
    REFUND_APPROVED = "refund.approved"
    REFUND_REJECTED = "refund.rejected"
    REFUND_RETRIED = "refund.retried"
    REFUND_AUTOMATIC = "refund.automatic"    # the service sent a duplicate or stale payment back


@attrs.frozen
class AuditEntry:
    id: str
    actor: str
    action: str
    object_type: str
    object_id: str
    details: Mapping[str, Any]
    request_id: str | None
    created_at: datetime


def refund_entry(id: str, actor: str, action: AuditAction, refund: Any, request_id: str | None,
                 now: datetime, **details: Any) -> AuditEntry:
    """An entry about `refund` (a `domain.refund.Refund`), with its amount, status and owner."""
    facts = {"transaction_id": refund.transaction_id, "user_id": refund.user_id, "kind": refund.kind.value,
             "status": refund.status.value, "amount": refund.amount.amount, "currency": refund.amount.currency.code,
             "receives": refund.receives, **{k: v for k, v in details.items() if v is not None}}
    return AuditEntry(id=id, actor=actor, action=action.value, object_type="refund", object_id=refund.id,
                      details=facts, request_id=request_id, created_at=now)
