"""`ports.refund_queries.RefundQueries` over the committed state of an `InMemoryStore` (copies)."""
from __future__ import annotations

import copy

from adapters.memory import InMemoryStore
from domain.audit import AuditEntry
from domain.refund import Refund
from ports.refund_queries import AuditQuery, RefundQuery


class InMemoryRefundQueries:
    def __init__(self, store: InMemoryStore) -> None:
        self._store = store

    async def refund(self, refund_id: str, *, user_id: str | None = None) -> Refund | None:
        found = self._store.refunds.get(refund_id)
        if found is None or (user_id is not None and found.user_id != user_id):
            return None
        return copy.deepcopy(found)

    async def refunds(self, query: RefundQuery) -> tuple[list[Refund], int]:
        matching = sorted((r for r in self._store.refunds.values() if query.matches(r)),
                          key=lambda r: (r.created_at, r.id), reverse=not query.oldest_first)
        return copy.deepcopy(matching[query.offset:query.offset + query.limit]), len(matching)

    async def refunds_after(self, query: RefundQuery, starting_after: str) -> tuple[list[Refund], bool] | None:
        cursor = self._store.refunds.get(starting_after)
        if cursor is None or (query.user_id is not None and cursor.user_id != query.user_id):
            return None
        key = (cursor.created_at, cursor.id)
        matching = sorted((r for r in self._store.refunds.values() if query.matches(r)
                           and ((r.created_at, r.id) > key if query.oldest_first else (r.created_at, r.id) < key)),
                          key=lambda r: (r.created_at, r.id), reverse=not query.oldest_first)
        return copy.deepcopy(matching[:query.limit]), len(matching) > query.limit

    async def refunds_of(self, transaction_id: str) -> list[Refund]:
        return copy.deepcopy(sorted((r for r in self._store.refunds.values() if r.transaction_id == transaction_id),
                                    key=lambda r: (r.created_at, r.id)))

    async def audit_log(self, query: AuditQuery) -> tuple[list[AuditEntry], int]:
        matching = sorted((e for e in self._store.audit_log if query.matches(e)),
                          key=lambda e: (e.created_at, e.id), reverse=True)
        return matching[query.offset:query.offset + query.limit], len(matching)

    async def audit_log_after(self, query: AuditQuery, starting_after: str) -> tuple[list[AuditEntry], bool] | None:
        cursor = next((e for e in self._store.audit_log if e.id == starting_after), None)
        if cursor is None:
            return None
        older = sorted((e for e in self._store.audit_log if query.matches(e)
                        and (e.created_at, e.id) < (cursor.created_at, cursor.id)),
                       key=lambda e: (e.created_at, e.id), reverse=True)
        return older[:query.limit], len(older) > query.limit
