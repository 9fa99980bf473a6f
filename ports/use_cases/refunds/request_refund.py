"""A user's refunds: quote one (nothing stored), request one (it waits for an admin; the receives
it takes back are held at once through the ledger), cancel a request (they come back), read one
and list them.

Lock order (as everywhere): the membership, then the transaction, then the refund.
"""
from __future__ import annotations

from datetime import datetime

import attrs

from domain.audit import AuditAction, refund_entry
from domain.errors import TransactionNotFoundError
from domain.membership import Membership
from domain.refund import Refund, RefundKind, RefundStatus
from domain.refund_terms import user_refund_terms
from ports.clock import Clock
from ports.ids import IdGenerator
from ports.queries import PaymentQueries
from ports.refund_queries import RefundQueries, RefundQuery
from ports.unit_of_work import UnitOfWork, UnitOfWorkFactory
from ports.use_cases.plans.membership_access import current_membership
from ports.use_cases.refunds.refund_views import (
    RefundNotFound,
    RefundPage,
    RefundQuoteView,
    RefundView,
)
from ports.use_cases.settings import UseCaseSettings
from ports.use_cases.views import CursorPage, checked_cursor, unknown_cursor


@attrs.frozen
class QuoteRefundQuery:
    user_id: str
    transaction_id: str
    receives: int | None = None


@attrs.frozen
class RequestRefundCommand:
    user_id: str
    transaction_id: str
    reason: str
    receives: int | None = None
    request_id: str | None = None


@attrs.frozen
class CancelRefundCommand:
    user_id: str
    refund_id: str
    request_id: str | None = None


@attrs.frozen
class ListRefundsQuery:
    """`page` None means the first; `starting_after` (one of the caller's refunds) lists the ones
    after it instead, and cannot be combined with `page`."""

    user_id: str
    statuses: tuple[RefundStatus, ...] = ()
    page: int | None = None
    limit: int = 20
    starting_after: str | None = None


@attrs.define
class QuoteRefund:
    """What a refund request of this transaction would be for now, or why there can be none."""

    _queries: PaymentQueries
    _refund_queries: RefundQueries
    _clock: Clock
    _settings: UseCaseSettings

    async def __call__(self, query: QuoteRefundQuery) -> RefundQuoteView:
        now = self._clock.now()
        transaction = await self._queries.transaction(query.transaction_id, user_id=query.user_id)
        if transaction is None:
            raise TransactionNotFoundError(query.transaction_id)
        refunds = await self._refund_queries.refunds_of(transaction.id)
        membership = await self._membership_as_of(query.user_id, now)
        return RefundQuoteView.of(user_refund_terms(transaction, refunds, membership, now,
                                                    window=self._settings.refund_window, receives=query.receives))

    async def _membership_as_of(self, user_id: str, now: datetime) -> Membership:
        catalog = self._settings.catalog
        membership = await self._queries.membership(user_id)
        if membership is None:
            return Membership.start(user_id, catalog.free_plan, now)
        membership.roll_forward(now, catalog, self._settings.renewal)
        return membership


@attrs.define
class RequestRefund:
    _uow: UnitOfWorkFactory
    _ids: IdGenerator
    _clock: Clock
    _settings: UseCaseSettings

    async def __call__(self, command: RequestRefundCommand) -> RefundView:
        now = self._clock.now()
        async with self._uow() as uow:
            membership = await current_membership(uow, command.user_id, self._settings.catalog, now, policy=self._settings.renewal)
            transaction = await uow.transactions.get(command.transaction_id, user_id=command.user_id,
                                                     for_update=True)
            if transaction is None:
                raise TransactionNotFoundError(command.transaction_id)
            refunds = await uow.refunds.list_for_transaction(transaction.id)
            terms = user_refund_terms(transaction, refunds, membership, now, window=self._settings.refund_window,
                                      receives=command.receives)
            refund = Refund.request(
                id=self._ids.new_id("rf"), refund_order_id=self._ids.new_order_id("R", now),
                session=transaction.session(transaction.paid_session_id or ""), amount=terms.amount,
                receives=terms.receives, ends_plan=terms.ends_plan, reason=command.reason,
                requested_by=command.user_id, kind=RefundKind.REQUESTED, now=now)
            await hold_receives(uow, membership, refund, now)
            await uow.refunds.add(refund)
            await uow.audit_log.add(refund_entry(self._ids.new_id("aud"), command.user_id,
                                                 AuditAction.REFUND_REQUESTED, refund, command.request_id, now,
                                                 reason=command.reason))
            await uow.commit()
        return RefundView.of(refund)


@attrs.define
class CancelRefund:
    """The requester withdraws a refund still waiting for review; held receives come back."""

    _uow: UnitOfWorkFactory
    _ids: IdGenerator
    _clock: Clock
    _settings: UseCaseSettings

    async def __call__(self, command: CancelRefundCommand) -> RefundView:
        now = self._clock.now()
        async with self._uow() as uow:
            found = await uow.refunds.get(command.refund_id)
            if found is None or found.user_id != command.user_id:
                raise RefundNotFound(command.refund_id)
            membership = await current_membership(uow, found.user_id, self._settings.catalog, now, policy=self._settings.renewal)
            refund = await uow.refunds.get(command.refund_id, for_update=True)
            assert refund is not None
            held = refund.holds_receives
            refund.cancel(now)
            await release_receives(uow, membership, refund, held, now)
            await uow.refunds.update(refund)
            await uow.audit_log.add(refund_entry(self._ids.new_id("aud"), command.user_id,
                                                 AuditAction.REFUND_CANCELLED, refund, command.request_id, now))
            await uow.commit()
        return RefundView.of(refund)


@attrs.define
class GetRefund:
    _refund_queries: RefundQueries

    async def __call__(self, user_id: str | None, refund_id: str) -> RefundView:
        """The refund (`user_id` None: anyone's, for admins); someone else's is not found."""
        refund = await self._refund_queries.refund(refund_id, user_id=user_id)
        if refund is None:
            raise RefundNotFound(refund_id)
        return RefundView.of(refund)


@attrs.define
class ListRefunds:
    _refund_queries: RefundQueries

    async def __call__(self, query: ListRefundsQuery) -> RefundPage | CursorPage:
        return await refund_list(self._refund_queries, RefundQuery(
            user_id=query.user_id, statuses=query.statuses, page=query.page or 1, limit=query.limit),
            query.page, query.starting_after)


async def refund_list(refund_queries: RefundQueries, query: RefundQuery, page: int | None,
                      starting_after: str | None) -> RefundPage | CursorPage:
    """A numbered page of `query`, or the refunds after the cursor `starting_after`."""
    cursor = checked_cursor(starting_after, page)
    if cursor is None:
        refunds, total = await refund_queries.refunds(query)
        return RefundPage(tuple(RefundView.of(r) for r in refunds), query.page, query.limit, total)
    found = await refund_queries.refunds_after(query, cursor)
    if found is None:
        raise unknown_cursor()
    refunds, has_more = found
    return CursorPage(tuple(RefundView.of(r) for r in refunds), has_more)


@attrs.define
class TransactionRefunds:
    """The refunds of one of the caller's transactions, oldest first (its detail shows them)."""

    _refund_queries: RefundQueries

    async def __call__(self, user_id: str, transaction_id: str) -> tuple[RefundView, ...]:
        return tuple(RefundView.of(r) for r in await self._refund_queries.refunds_of(transaction_id)
                     if r.user_id == user_id)


async def hold_receives(uow: UnitOfWork, membership: Membership, refund: Refund, now: datetime) -> None:
    """Take the refund's receives out of the balance while it waits (a ledger entry)."""
    if refund.receives:
        membership.hold_for_refund(refund.receives, refund.transaction_id, now)
        await uow.memberships.update(membership)


async def release_receives(uow: UnitOfWork, membership: Membership, refund: Refund, held: int,
                           now: datetime) -> None:
    """Give back the `held` receives of a refund that was rejected or cancelled."""
    if held:
        membership.release_refund_hold(held, refund.transaction_id, now)
        await uow.memberships.update(membership)
