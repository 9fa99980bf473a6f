"""What the refund use cases hand back: refunds, quotes and audit entries as the contract names
their fields (`order_id` is the refund's own number at the provider)."""
from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

import attrs

from domain.audit import AuditEntry
from domain.errors import NotFoundError
from domain.money import Money
from domain.refund import Refund
from domain.refund_terms import RefundTerms


class RefundNotFound(NotFoundError):
    def __init__(self, refund_id: str) -> None:
        super().__init__(f"Refund {refund_id} not found.")


@attrs.frozen
class RefundView:
    id: str
    transaction_id: str
    order_id: str
    kind: str
    status: str
    amount: Money
    receives: int | None
    ends_plan: bool
    reason: str
    requested_by: str | None
    reviewed_by: str | None
    review_note: str | None
    failure_reason: str | None
    created_at: datetime
    reviewed_at: datetime | None
    completed_at: datetime | None
    user_id: str
    provider: str

    @classmethod
    def of(cls, r: Refund) -> RefundView:
        return cls(id=r.id, transaction_id=r.transaction_id, order_id=r.refund_order_id, kind=r.kind.value,
                   status=r.status.value, amount=r.amount, receives=r.receives, ends_plan=r.ends_plan,
                   reason=r.reason, requested_by=r.requested_by, reviewed_by=r.reviewed_by,
                   review_note=r.review_note, failure_reason=r.failure_reason, created_at=r.created_at,
                   reviewed_at=r.reviewed_at, completed_at=r.completed_at, user_id=r.user_id, provider=r.provider)


@attrs.frozen
class RefundQuoteView:
    transaction_id: str
    amount: Money
    receives: int | None
    ends_plan: bool

    @classmethod
    def of(cls, terms: RefundTerms) -> RefundQuoteView:
        return cls(terms.transaction_id, terms.amount, terms.receives, terms.ends_plan)


@attrs.frozen
class RefundPage:
    items: tuple[RefundView, ...]
    page: int
    limit: int
    total: int

    @property
    def has_more(self) -> bool:
        return self.page * self.limit < self.total


@attrs.frozen
class AuditEntryView:
    id: str
    actor: str
    action: str
    object_type: str
    object_id: str
    details: Mapping[str, Any]
    request_id: str | None
    created_at: datetime

    @classmethod
    def of(cls, e: AuditEntry) -> AuditEntryView:
        return cls(e.id, e.actor, e.action, e.object_type, e.object_id, dict(e.details), e.request_id, e.created_at)


@attrs.frozen
class AuditPage:
    items: tuple[AuditEntryView, ...]
    page: int
    limit: int
    total: int

    @property
    def has_more(self) -> bool:
        return self.page * self.limit < self.total
