"""The read side of refunds and the audit log: one consistent read of committed data each (no
transaction, no lock), like `ports.queries`.

    refund = await refund_queries.refund(refund_id, user_id=user_id)   # None: not found or not theirs
    refunds, total = await refund_queries.refunds(RefundQuery(user_id="u1", statuses=(...)))
"""
from __future__ import annotations

from datetime import datetime
from typing import Protocol

import attrs

from domain.audit import AuditEntry
from domain.refund import Refund, RefundKind, RefundStatus


@attrs.frozen
class RefundQuery:
    """Filters and page of a list of refunds: one user's (`user_id`) or everyone's (the admin
    queue). `date_from`/`date_to` bound `created_at` inclusively; empty tuples mean "any".
    Newest first, or oldest first with `oldest_first` (the review queue); ties by id."""

    user_id: str | None = None
    statuses: tuple[RefundStatus, ...] = ()
    kinds: tuple[RefundKind, ...] = ()
    provider: str | None = None
    date_from: datetime | None = None
    date_to: datetime | None = None
    oldest_first: bool = False
    page: int = 1
    limit: int = 20

    @property
    def offset(self) -> int:
        return (self.page - 1) * self.limit

    def matches(self, refund: Refund) -> bool:
        return ((self.user_id is None or refund.user_id == self.user_id)
                and (not self.statuses or refund.status in self.statuses)
                and (not self.kinds or refund.kind in self.kinds)
                and (self.provider is None or refund.provider == self.provider)
                and (self.date_from is None or refund.created_at >= self.date_from)
                and (self.date_to is None or refund.created_at <= self.date_to))


@attrs.frozen
class AuditQuery:
    """Filters and page of the audit log, newest first (ties by id)."""

    actor: str | None = None
    object_id: str | None = None
    action: str | None = None
    date_from: datetime | None = None
    date_to: datetime | None = None
    page: int = 1
    limit: int = 20

    @property
    def offset(self) -> int:
        return (self.page - 1) * self.limit

    def matches(self, entry: AuditEntry) -> bool:
        return ((self.actor is None or entry.actor == self.actor)
                and (self.object_id is None or entry.object_id == self.object_id)
                and (self.action is None or entry.action == self.action)
                and (self.date_from is None or entry.created_at >= self.date_from)
                and (self.date_to is None or entry.created_at <= self.date_to))


class RefundQueries(Protocol):
    async def refund(self, refund_id: str, *, user_id: str | None = None) -> Refund | None:
        """One refund (someone else's reads as None when `user_id` is given)."""
        ...

    async def refunds(self, query: RefundQuery) -> tuple[list[Refund], int]:
        """One page of the refunds matching `query` in its order, and how many match."""
        ...

    async def refunds_after(self, query: RefundQuery, starting_after: str) -> tuple[list[Refund], bool] | None:
        """Up to `query.limit` refunds matching `query` that come after refund `starting_after` in
        the query's order (`query.page` ignored), and whether more follow; None when the cursor is
        not a refund the query's `user_id` may see (any refund when it is None)."""
        ...

    async def refunds_of(self, transaction_id: str) -> list[Refund]:
        """The transaction's refunds, oldest first."""
        ...

    async def audit_log(self, query: AuditQuery) -> tuple[list[AuditEntry], int]:
        """One page of the audit log matching `query`, newest first, and how many match."""
        ...

    async def audit_log_after(self, query: AuditQuery, starting_after: str) -> tuple[list[AuditEntry], bool] | None:
        """Up to `query.limit` entries matching `query` older than entry `starting_after` (newest
        first), and whether more follow; None when there is no such entry."""
        ...
