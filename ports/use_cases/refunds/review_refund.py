"""The admins' side of refunds: approve, reject (with a note), retry a failed one, issue one, the
queue and the audit log. Every change is appended to the audit log in its own unit of work.

Approval commits `processing` (and, for a plan, the membership back to basic), then sends the
refund to the provider outside the unit of work with the refund's own order id (`SubmitRefund`):
two admins approving at once both wait for the refund's lock, and the second finds it no longer
`requested` (409 `invalid_state`), so the provider is asked once. An admin's refund above
`refund_second_approval_above` starts `requested` and needs another admin (`SelfApprovalError`).
"""
from __future__ import annotations

import attrs

from domain.audit import AuditAction, refund_entry
from domain.errors import TransactionNotFoundError
from domain.refund import Refund, RefundKind, RefundStatus
from domain.refund_terms import (
    RefundInProgressError,
    admin_refund_terms,
    check_plan_still_current,
)
from ports.clock import Clock
from ports.ids import IdGenerator
from ports.refund_queries import AuditQuery, RefundQueries, RefundQuery
from ports.unit_of_work import UnitOfWork, UnitOfWorkFactory
from ports.use_cases.plans.membership_access import current_membership
from ports.use_cases.refunds.refund_views import (
    AuditEntryView,
    AuditPage,
    RefundNotFound,
    RefundPage,
    RefundView,
)
from ports.use_cases.refunds.request_refund import (
    hold_receives,
    refund_list,
    release_receives,
)
from ports.use_cases.refunds.submit_refund import SubmitRefund
from ports.use_cases.settings import UseCaseSettings
from ports.use_cases.views import CursorPage, checked_cursor, unknown_cursor


@attrs.frozen
class ReviewCommand:
    admin_id: str
    refund_id: str
    note: str | None = None
    request_id: str | None = None


@attrs.frozen
class IssueRefundCommand:
    admin_id: str
    transaction_id: str
    reason: str
    amount: int | None = None
    receives: int | None = None
    request_id: str | None = None


@attrs.define
class ReviewRefunds:
    """Approve, reject and retry: one object, the three moves of a refund under review."""

    _uow: UnitOfWorkFactory
    _submit: SubmitRefund
    _ids: IdGenerator
    _clock: Clock
    _settings: UseCaseSettings

    async def approve(self, command: ReviewCommand) -> RefundView:
        now = self._clock.now()
        async with self._uow() as uow:
            found = await self._found(uow, command.refund_id)
            membership = None
            if found.ends_plan:
                membership = await current_membership(uow, found.user_id, self._settings.catalog, now, policy=self._settings.renewal)
                transaction = await uow.transactions.get(found.transaction_id)
                assert transaction is not None
                check_plan_still_current(transaction, membership, now)
            refund = await uow.refunds.get(command.refund_id, for_update=True)
            assert refund is not None
            refund.approve(command.admin_id, command.note, now)
            if membership is not None:
                membership.end_paid_plan(self._settings.catalog, now)
                await uow.memberships.update(membership)
            await uow.refunds.update(refund)
            await self._audit(uow, command, AuditAction.REFUND_APPROVED, refund, note=command.note)
            await uow.commit()
        approved = RefundView.of(refund)
        await self._submit(refund.id)
        return approved

    async def reject(self, command: ReviewCommand) -> RefundView:
        now = self._clock.now()
        async with self._uow() as uow:
            found = await self._found(uow, command.refund_id)
            membership = await current_membership(uow, found.user_id, self._settings.catalog, now, policy=self._settings.renewal)
            refund = await uow.refunds.get(command.refund_id, for_update=True)
            assert refund is not None
            held = refund.holds_receives
            refund.reject(command.admin_id, command.note or "", now)
            await release_receives(uow, membership, refund, held, now)
            await uow.refunds.update(refund)
            await self._audit(uow, command, AuditAction.REFUND_REJECTED, refund, note=command.note)
            await uow.commit()
        return RefundView.of(refund)

    async def retry(self, command: ReviewCommand) -> RefundView:
        """A failed refund is sent again with the same order id, unless another refund of its
        transaction is open meanwhile."""
        now = self._clock.now()
        async with self._uow() as uow:
            found = await self._found(uow, command.refund_id)
            await uow.transactions.get(found.transaction_id, for_update=True)  # refunds of it are made under it
            refund = await uow.refunds.get(command.refund_id, for_update=True)
            assert refund is not None
            if refund.status is RefundStatus.FAILED:
                other = next((r for r in await uow.refunds.list_for_transaction(refund.transaction_id)
                              if r.id != refund.id and r.is_open and r.counts_against_transaction), None)
                if other is not None:
                    raise RefundInProgressError(other.id)
            refund.retry(now)
            await uow.refunds.update(refund)
            await self._audit(uow, command, AuditAction.REFUND_RETRIED, refund)
            await uow.commit()
        retried = RefundView.of(refund)
        await self._submit(refund.id)
        return retried

    @staticmethod
    async def _found(uow: UnitOfWork, refund_id: str) -> Refund:
        found = await uow.refunds.get(refund_id)
        if found is None:
            raise RefundNotFound(refund_id)
        return found

    async def _audit(self, uow: UnitOfWork, command: ReviewCommand, action: AuditAction, refund: Refund,
                     **details: object) -> None:
        await uow.audit_log.add(refund_entry(self._ids.new_id("aud"), command.admin_id, action, refund,
                                             command.request_id, self._clock.now(), **details))


@attrs.define
class IssueRefund:
    """An admin's refund of any transaction (not bound by the window): at or under the two-person
    threshold it is sent at once; above it, it waits for another admin."""

    _uow: UnitOfWorkFactory
    _submit: SubmitRefund
    _ids: IdGenerator
    _clock: Clock
    _settings: UseCaseSettings

    async def __call__(self, command: IssueRefundCommand) -> RefundView:
        now = self._clock.now()
        async with self._uow() as uow:
            found = await uow.transactions.get(command.transaction_id)
            if found is None:
                raise TransactionNotFoundError(command.transaction_id)
            membership = await current_membership(uow, found.user_id, self._settings.catalog, now, policy=self._settings.renewal)
            transaction = await uow.transactions.get(command.transaction_id, for_update=True)
            assert transaction is not None
            refunds = await uow.refunds.list_for_transaction(transaction.id)
            terms = admin_refund_terms(transaction, refunds, membership, amount=command.amount,
                                       receives=command.receives)
            refund = Refund.request(
                id=self._ids.new_id("rf"), refund_order_id=self._ids.new_order_id("R", now),
                session=transaction.session(transaction.paid_session_id or ""), amount=terms.amount,
                receives=terms.receives, ends_plan=False, reason=command.reason, requested_by=command.admin_id,
                kind=RefundKind.ADMIN, now=now)
            if terms.amount.amount <= self._settings.refund_second_approval_above:
                refund.start_processing(now)
            await hold_receives(uow, membership, refund, now)
            await uow.refunds.add(refund)
            await uow.audit_log.add(refund_entry(self._ids.new_id("aud"), command.admin_id,
                                                 AuditAction.REFUND_CREATED, refund, command.request_id, now,
                                                 reason=command.reason))
            await uow.commit()
        issued = RefundView.of(refund)
        if refund.status is RefundStatus.PROCESSING:
            await self._submit(refund.id)
        return issued


@attrs.define
class ListAllRefunds:
    """The admins' list of every user's refunds (the review queue: `requested`, oldest first)."""

    _refund_queries: RefundQueries

    async def __call__(self, query: RefundQuery, *, page: int | None = None,
                       starting_after: str | None = None) -> RefundPage | CursorPage:
        """`query`'s page (`page` as asked: None is the first), or the refunds after the cursor
        `starting_after` in the query's order (not beside `page`)."""
        return await refund_list(self._refund_queries, query, page, starting_after)


@attrs.define
class ListAuditLog:
    _refund_queries: RefundQueries

    async def __call__(self, query: AuditQuery, *, page: int | None = None,
                       starting_after: str | None = None) -> AuditPage | CursorPage:
        """`query`'s page, or the entries older than the cursor `starting_after` (not beside `page`)."""
        cursor = checked_cursor(starting_after, page)
        if cursor is None:
            entries, total = await self._refund_queries.audit_log(query)
            return AuditPage(tuple(AuditEntryView.of(e) for e in entries), query.page, query.limit, total)
        found = await self._refund_queries.audit_log_after(query, cursor)
        if found is None:
            raise unknown_cursor()
        entries, has_more = found
        return CursorPage(tuple(AuditEntryView.of(e) for e in entries), has_more)
