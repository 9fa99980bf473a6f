"""Apply a provider notification (webhook): verified, de-duplicated, matched, then applied once.

1. The plugin verifies the signature over the raw bytes and its freshness; a failure changes
   nothing and is answered with the provider's refusal (401).
2. In one unit of work: the provider's event id is recorded (a re-delivery is acknowledged and
   changes nothing); the order is found; amount, currency and merchant must match what was
   asked, else nothing changes, an anomaly is logged, and the notification is acknowledged so the
   provider stops re-sending; then the transition is applied idempotently.
3. A confirmed payment is never lost: it succeeds a pending, cancelled or expired transaction
   and delivers what was bought. A transaction is paid at most once: a second paid session is
   marked `refunded` and its money is sent back (the refund is submitted after the commit).
"""
from __future__ import annotations

import logging
from collections.abc import Mapping

import attrs

from domain.errors import InvalidSignatureError, ProviderNotFoundError
from domain.refund import Refund, RefundStatus
from domain.session import PaymentSession, SessionStatus
from domain.transaction import TransactionStatus, TransactionType
from ports.clock import Clock
from ports.ids import IdGenerator
from ports.payment_provider import (
    Acknowledgement,
    NotificationOutcome,
    PaymentProvider,
    ProviderEvent,
    ProviderEventKind,
    ProviderRegistry,
)
from ports.unit_of_work import UnitOfWork, UnitOfWorkFactory
from ports.use_cases.plans.membership_access import current_membership
from ports.use_cases.sessions.provider_orders import ProviderOrders
from ports.use_cases.refunds.submit_refund import SubmitRefund
from ports.use_cases.settings import UseCaseSettings

log = logging.getLogger("payments.notifications")
PAYABLE = frozenset({TransactionStatus.PENDING, TransactionStatus.CANCELLED, TransactionStatus.EXPIRED})


@attrs.frozen
class HandleNotificationCommand:
    provider: str
    headers: Mapping[str, str]
    body: bytes


@attrs.frozen
class NotificationResult:
    effect: str  # applied | duplicate | anomaly | ignored | refunded_duplicate | refunded_stale | rejected
    acknowledgement: Acknowledgement


@attrs.frozen
class _Applied:
    effect: str
    refund_id: str | None = None
    to_close: tuple[PaymentSession, ...] = ()


@attrs.define
class HandleNotification:
    _uow: UnitOfWorkFactory
    _providers: ProviderRegistry
    _orders: ProviderOrders
    _refunds: SubmitRefund
    _clock: Clock
    _ids: IdGenerator
    _settings: UseCaseSettings

    async def __call__(self, cmd: HandleNotificationCommand) -> NotificationResult:
        provider = self._providers.get(cmd.provider)
        if provider is None:
            raise ProviderNotFoundError(cmd.provider)
        try:
            event = provider.parse_notification(cmd.headers, cmd.body)
        except InvalidSignatureError as error:
            log.warning("rejected a %s notification: %s", provider.name, error.message)
            return NotificationResult("rejected", provider.acknowledge(NotificationOutcome.REJECTED))
        effect = await self.apply_event(provider, event)
        return NotificationResult(effect, provider.acknowledge(NotificationOutcome.ACCEPTED))

    async def apply_event(self, provider: PaymentProvider, event: ProviderEvent) -> str:
        """Apply a verified event, from a notification or from what a status query found, then do
        what must follow outside the unit of work (close replaced orders, send a refund)."""
        applied = await self._apply(provider, event)
        await self._orders.close(applied.to_close)
        if applied.refund_id is not None:
            await self._refunds(applied.refund_id)
        return applied.effect

    async def _apply(self, provider: PaymentProvider, event: ProviderEvent) -> _Applied:
        now = self._clock.now()
        async with self._uow() as uow:
            found = await uow.sessions.get_by_order_id(event.order_id) if event.order_id else None
            if event.kind in (ProviderEventKind.PAYMENT_SUCCEEDED, ProviderEventKind.PAYMENT_FAILED,
                              ProviderEventKind.PAYMENT_CLOSED):
                anomaly = self._mismatch(provider, event, found)
                if anomaly:
                    log.error("anomaly in %s notification %s for order %s: %s",
                              provider.name, event.event_id, event.order_id, anomaly)
                    return _Applied("anomaly")
            if found is not None:
                # Lock order: membership, then transaction, then sessions (see membership_access).
                membership = await current_membership(uow, found.user_id, self._settings.catalog, now)
            if not await uow.processed_events.add(provider.name, event.event_id, now):
                return _Applied("duplicate")
            if found is None:
                await uow.commit()
                return _Applied("ignored")
            if event.kind is ProviderEventKind.PAYMENT_SUCCEEDED:
                applied = await self._payment_succeeded(uow, found, membership, now)
            elif event.kind in (ProviderEventKind.PAYMENT_FAILED, ProviderEventKind.PAYMENT_CLOSED):
                applied = await self._payment_ended(uow, found, event, now)
            elif event.kind in (ProviderEventKind.REFUND_SUCCEEDED, ProviderEventKind.REFUND_FAILED):
                applied = await self._refund_ended(uow, event, now)
            else:
                applied = _Applied("ignored")
            await uow.commit()
            return applied

    @staticmethod
    def _mismatch(provider: PaymentProvider, event: ProviderEvent, session: PaymentSession | None) -> str | None:
        if session is None:
            return "unknown order"
        if session.provider != provider.name:
            return f"order belongs to provider {session.provider}"
        if event.amount is not None and event.amount != session.amount:
            return f"amount {event.amount.format()} differs from the order's {session.amount.format()}"
        if event.amount is None and event.kind is ProviderEventKind.PAYMENT_SUCCEEDED:
            return "a payment without an amount"
        if event.merchant_id is not None and provider.merchant_id is not None \
                and event.merchant_id != provider.merchant_id:
            return f"merchant {event.merchant_id} is not ours"
        return None

    @staticmethod
    async def _lock(uow: UnitOfWork, found: PaymentSession):
        """The session's transaction, then all its sessions, locked (in the global lock order);
        returns the transaction, this session as now stored, and the others."""
        locked = await uow.transactions.get_with_sessions(found.transaction_id, for_update=True)
        assert locked is not None
        transaction, sessions = locked
        session = next(s for s in sessions if s.id == found.id)
        return transaction, session, [s for s in sessions if s.id != found.id]

    async def _payment_succeeded(self, uow: UnitOfWork, found: PaymentSession, membership, now) -> _Applied:
        transaction, session, others = await self._lock(uow, found)
        if session.is_paid:
            return _Applied("duplicate")  # applied before, under another event id or by a status query
        if transaction.is_paid or transaction.status not in PAYABLE:
            session.refund_duplicate(now)
            refund = Refund.for_duplicate_payment(id=self._ids.new_id("rf"),
                                                  refund_order_id=self._ids.new_order_id("R", now),
                                                  session=session, now=now)
            await uow.sessions.update(session)
            await uow.refunds.add(refund)
            log.warning("transaction %s was paid twice; refunding session %s (%s)",
                        transaction.id, session.id, refund.id)
            return _Applied("refunded_duplicate", refund_id=refund.id)
        session.complete(now)
        transaction.mark_paid(session.id, now)
        to_close = []
        for other in others:
            if other.status is SessionStatus.OPEN:
                (other.expire if now >= other.expires_at else other.cancel)(now)
                await uow.sessions.update(other)
                to_close.append(other)
        refund_id = await self._deliver(uow, transaction, session, membership, now)
        await uow.sessions.update(session)
        await uow.transactions.update(transaction)
        return _Applied("refunded_stale" if refund_id else "applied", refund_id=refund_id, to_close=tuple(to_close))

    async def _deliver(self, uow: UnitOfWork, transaction, session: PaymentSession, membership, now) -> str | None:
        """Deliver what was paid for to `membership` (current and locked). A plan change priced
        for a state the member has left (another plan change won, or the prorated period ended)
        is refunded in full instead; returns that refund's id."""
        catalog = self._settings.catalog
        if transaction.type is TransactionType.PURCHASE_RECEIVES:
            membership.credit_purchase(transaction.receives, transaction.id, now)
        elif transaction.type is TransactionType.PLAN_UPGRADE:
            new_plan = catalog.plan(transaction.plan_to)
            if not membership.upgrade_still_fits(transaction.plan_from, new_plan, transaction.proration, catalog, now):
                refund = Refund.for_stale_plan_change(id=self._ids.new_id("rf"),
                                                      refund_order_id=self._ids.new_order_id("R", now),
                                                      session=session, now=now)
                transaction.record_refund(refund.amount, now)
                await uow.refunds.add(refund)
                log.warning("plan change %s was paid after %s moved on (now %s): refunding it (%s)",
                            transaction.id, transaction.user_id, membership.plan.value, refund.id)
                return refund.id
            membership.apply_upgrade(new_plan, catalog, now)
        await uow.memberships.update(membership)
        return None

    @staticmethod
    async def _refund_ended(uow: UnitOfWork, event: ProviderEvent, now) -> _Applied:
        refund = (await uow.refunds.get_by_refund_order_id(event.refund_order_id, for_update=True)
                  if event.refund_order_id else None)
        if refund is None or refund.status is not RefundStatus.PENDING:
            return _Applied("ignored")
        if event.kind is ProviderEventKind.REFUND_SUCCEEDED:
            refund.succeed(event.provider_reference, now)
        else:
            refund.fail(now)
            log.error("refund %s of session %s failed at %s", refund.id, refund.session_id, refund.provider)
        await uow.refunds.update(refund)
        return _Applied("applied")

    async def _payment_ended(self, uow: UnitOfWork, found: PaymentSession, event: ProviderEvent, now) -> _Applied:
        transaction, session, _ = await self._lock(uow, found)
        if session.status is not SessionStatus.OPEN:
            return _Applied("ignored")
        if event.kind is ProviderEventKind.PAYMENT_CLOSED and now >= session.expires_at:
            session.expire(now)
        else:
            session.fail(now)
            transaction.record_failed_attempt(session.id, event.failure_reason or "payment_failed", now)
            await uow.transactions.update(transaction)
        await uow.sessions.update(session)
        return _Applied("applied")
