"""Apply a provider notification (webhook): verified, de-duplicated, matched, then applied once.

1. The plugin verifies the signature over the raw bytes and its freshness; a failure changes
   nothing and is answered with the provider's refusal (401).
2. In one unit of work: the order is found with its owner's membership locked and then its
   transaction with its sessions locked (the lock order membership → transaction → session of
   every use case), in one read (`membership_of_order`; two when the membership is created);
   amount, currency and merchant must match what was asked, else nothing changes, an anomaly is
   logged, and the notification is acknowledged so the provider stops re-sending; then the
   transaction applies it (`Transaction.confirm_payment`, `end_attempt`: a confirmed payment is
   never lost, and pays its transaction at most once).
   Last, the provider's event id is recorded with the writes (on PostgreSQL in the batch sent at
   commit, not a round trip of its own): an id recorded before, or by a concurrent delivery that
   committed first, fails the commit (`DuplicateEventError`), so a re-delivery changes nothing
   and is acknowledged as a duplicate.
3. After the commit: the orders of attempts it ended are closed, and a payment that must go back
   (a transaction paid twice, a plan change priced for a state the member has left) is refunded.
4. Processing that fails (the database is away) is answered with the provider's "re-send" (the
   notification is re-delivered and applied then), never a 500.
"""
from __future__ import annotations

import enum
import logging
from collections.abc import Mapping
from datetime import datetime

import attrs

from domain.errors import InvalidSignatureError, ProviderNotFoundError
from domain.membership import Membership
from domain.audit import SYSTEM_ACTOR, AuditAction, refund_entry
from domain.refund import Refund, RefundStatus
from domain.session import PaymentSession
from domain.transaction import Confirmation, Transaction, TransactionType
from ports.clock import Clock
from ports.ids import IdGenerator
from ports.payment_provider import (
    Acknowledgement,
    NotificationOutcome,
    PaymentProvider,
    ProviderEvent,
    ProviderEventKind,
    ProviderRegistry,
    prepare_notification,
)
from ports.repositories import DuplicateEventError
from ports.unit_of_work import UnitOfWork, UnitOfWorkFactory
from ports.use_cases.plans.membership_access import membership_of_order
from ports.use_cases.refunds.settle_refund import settle_refund
from ports.use_cases.risk.signals import LinkedPayers
from ports.use_cases.notifications.store_saved_method import StoreSavedMethods
from ports.use_cases.refunds.submit_refund import SubmitRefund
from ports.use_cases.sessions.provider_orders import ProviderOrders
from ports.use_cases.settings import UseCaseSettings

log = logging.getLogger("payments.notifications")
_PAYMENT_KINDS = frozenset({ProviderEventKind.PAYMENT_SUCCEEDED, ProviderEventKind.PAYMENT_FAILED,
                            ProviderEventKind.PAYMENT_CLOSED})


class NotificationEffect(str, enum.Enum):
    """What one notification (or status query) did."""

    APPLIED = "applied"                        # it changed what it reports
    DUPLICATE = "duplicate"                    # seen before (same event id, or already applied)
    ANOMALY = "anomaly"                        # authentic, but not matching its order: nothing changed
    IGNORED = "ignored"                        # nothing to do (unknown order, an attempt that had ended)
    REFUNDED_DUPLICATE = "refunded_duplicate"  # a second payment of a paid transaction: sent back
    REFUNDED_STALE = "refunded_stale"          # a plan change paid after the member moved on: sent back
    REJECTED = "rejected"                      # the signature was missing, wrong or stale
    RETRY = "retry"                            # processing failed: the provider is asked to re-send

    @property
    def changed_something(self) -> bool:
        return self not in (NotificationEffect.DUPLICATE, NotificationEffect.IGNORED, NotificationEffect.ANOMALY,
                            NotificationEffect.REJECTED, NotificationEffect.RETRY)


E = NotificationEffect


@attrs.frozen
class HandleNotificationCommand:
    provider: str
    headers: Mapping[str, str]
    body: bytes


@attrs.frozen
class NotificationResult:
    effect: NotificationEffect
    acknowledgement: Acknowledgement


@attrs.frozen
class _Applied:
    effect: NotificationEffect
    refund_id: str | None = None
    to_close: tuple[PaymentSession, ...] = ()
    payer: str | None = None  # the keyed hash of the payer a success linked to its user (docs/risk.md)
    saved_by: PaymentSession | None = None  # a paid session that asked to save its method


@attrs.define
class HandleNotification:
    _uow: UnitOfWorkFactory
    _providers: ProviderRegistry
    _orders: ProviderOrders
    _refunds: SubmitRefund
    _clock: Clock
    _ids: IdGenerator
    _settings: UseCaseSettings
    _payers: LinkedPayers | None = None  # docs/risk.md: who paid, as a keyed hash, for linked payers
    _saver: StoreSavedMethods | None = None  # docs/saved-methods.md: the method a paid session saved

    @property
    def saved_methods(self) -> StoreSavedMethods | None:
        """The saved-method step (the reconciler runs its heal step)."""
        return self._saver

    @property
    def orders(self) -> ProviderOrders:
        """The provider side of sessions it ends (the reconciler also opens orders again with it)."""
        return self._orders

    async def __call__(self, cmd: HandleNotificationCommand) -> NotificationResult:
        provider = self._providers.get(cmd.provider)
        if provider is None:
            raise ProviderNotFoundError(cmd.provider)
        try:
            await prepare_notification(provider, cmd.headers, cmd.body)
        except Exception:  # the hook must not raise; if it does, verification decides alone
            log.exception("%s could not prepare to verify a notification", provider.name)
        try:
            event = provider.parse_notification(cmd.headers, cmd.body)
        except InvalidSignatureError as error:
            log.warning("rejected a %s notification: %s", provider.name, error.message)
            return NotificationResult(E.REJECTED, provider.acknowledge(NotificationOutcome.REJECTED))
        try:
            effect = await self.apply_event(provider, event)
        except Exception:  # applying is idempotent: the re-delivery the provider is asked for is safe
            log.exception("could not apply %s notification %s; asking for a re-delivery",
                          provider.name, event.event_id)
            return NotificationResult(E.RETRY, provider.acknowledge(NotificationOutcome.RETRY))
        return NotificationResult(effect, provider.acknowledge(NotificationOutcome.ACCEPTED))

    async def apply_event(self, provider: PaymentProvider, event: ProviderEvent) -> NotificationEffect:
        """Apply a verified event, from a notification or from what a status query found, then do
        what must follow outside the unit of work (close ended orders, send a refund)."""
        applied = await self._apply(provider, event)
        if self._payers is not None and applied.payer is not None:  # committed: flag linked users
            await self._payers.check(applied.payer, self._clock.now())
        await self._orders.close(applied.to_close)
        if applied.refund_id is not None:
            await self._refunds(applied.refund_id)
        if applied.saved_by is not None and self._saver is not None:
            await self._saver.after_payment(applied.saved_by)
        return applied.effect

    async def _apply(self, provider: PaymentProvider, event: ProviderEvent) -> _Applied:
        now = self._clock.now()
        try:
            async with self._uow() as uow:
                applied = await self._changes(uow, provider, event, now)
                if applied.effect is not E.ANOMALY:  # an anomaly changes nothing, its event id included
                    # Last, queued with the writes: an event recorded before fails the commit.
                    await uow.processed_events.record(provider.name, event.event_id, now)
                    await uow.commit()
                return applied
        except DuplicateEventError:  # a re-delivery (or one applied meanwhile): nothing was committed
            return _Applied(E.DUPLICATE)

    async def _changes(self, uow: UnitOfWork, provider: PaymentProvider, event: ProviderEvent,
                       now: datetime) -> _Applied:
        """What `event` does, written through `uow` (not committed)."""
        # Lock order: membership, then the transaction with its sessions (found with the order, in
        # one read: see membership_access).
        payment = event.kind in _PAYMENT_KINDS
        found = await membership_of_order(uow, event.order_id, self._settings.catalog, now,
                                          policy=self._settings.renewal,
                                          with_transaction=payment) if event.order_id else None
        transaction = None
        if payment:
            transaction = found[0].transaction if found else None
            anomaly = self._mismatch(provider, event, transaction)
            if anomaly:
                log.error("anomaly in %s notification %s for order %s: %s",
                          provider.name, event.event_id, event.order_id, anomaly)
                return _Applied(E.ANOMALY)
        if found is None:
            return _Applied(E.IGNORED)
        if event.kind in (ProviderEventKind.REFUND_SUCCEEDED, ProviderEventKind.REFUND_FAILED):
            return await self._refund_ended(uow, event, now)
        if event.kind not in _PAYMENT_KINDS:
            return _Applied(E.IGNORED)
        assert transaction is not None  # else an anomaly ("unknown order"), answered above
        session_id = _session_with_order(transaction, event.order_id).id
        if event.kind is ProviderEventKind.PAYMENT_SUCCEEDED:
            applied = await self._payment_succeeded(uow, transaction, session_id, found[1], now)
            if self._payers is not None and applied.effect is E.APPLIED:  # the payer, with the payment
                applied = attrs.evolve(applied, payer=await self._payers.record(
                    uow, provider.name, event.payer_id, transaction.user_id, now))
        elif _one_click_declined(transaction, session_id, event) and transaction.decline_off_session(
                session_id, event.failure_reason or "declined", now, fail_transaction=True):
            applied = _Applied(E.APPLIED)  # as its own answer would have (docs/saved-methods.md)
        elif transaction.end_attempt(session_id, closed=event.kind is ProviderEventKind.PAYMENT_CLOSED,
                                     reason=event.failure_reason, now=now):
            applied = _Applied(E.APPLIED)
        else:
            applied = _Applied(E.IGNORED)
        if applied.effect is not E.IGNORED and applied.effect is not E.DUPLICATE:
            await uow.transactions.update(transaction)
        return applied

    @staticmethod
    def _mismatch(provider: PaymentProvider, event: ProviderEvent, transaction: Transaction | None) -> str | None:
        if transaction is None:
            return "unknown order"
        session = _session_with_order(transaction, event.order_id)
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

    async def _payment_succeeded(self, uow: UnitOfWork, transaction: Transaction, session_id: str,
                                 membership: Membership, now: datetime) -> _Applied:
        confirmed = transaction.confirm_payment(session_id, now)
        if confirmed.outcome is Confirmation.ALREADY_APPLIED:
            return _Applied(E.DUPLICATE)  # applied before, under another event id or by a status query
        if confirmed.outcome is Confirmation.PAID_TWICE:
            refund = Refund.for_duplicate_payment(id=self._ids.new_id("rf"),
                                                  refund_order_id=self._ids.new_order_id("R", now),
                                                  session=confirmed.session, now=now)
            await uow.refunds.add(refund)
            await self._audit_automatic(uow, refund, now)
            log.warning("transaction %s was paid twice; refunding session %s (%s)",
                        transaction.id, session_id, refund.id)
            return _Applied(E.REFUNDED_DUPLICATE, refund_id=refund.id)
        refund_id = await self._deliver(uow, transaction, confirmed.session, membership, now)
        return _Applied(E.REFUNDED_STALE if refund_id else E.APPLIED, refund_id=refund_id, to_close=confirmed.ended,
                        saved_by=confirmed.session if confirmed.session.save_method else None)

    async def _deliver(self, uow: UnitOfWork, transaction: Transaction, session: PaymentSession,
                       membership: Membership, now: datetime) -> str | None:
        """Deliver what was paid for to `membership` (current and locked). A plan change priced
        for a state the member has left (another plan change won, or the prorated period ended)
        is refunded in full instead; returns that refund's id."""
        catalog = self._settings.catalog
        if transaction.type is TransactionType.PURCHASE_RECEIVES:
            membership.credit_purchase(transaction.receives, transaction.id, now)
        elif transaction.type is TransactionType.PLAN_RENEWAL:  # docs/renewals.md
            if not membership.apply_renewal(catalog.plan(transaction.plan_to), transaction.renewal_period_start,
                                            catalog, self._settings.renewal, now):
                return await self._refund_stale(uow, transaction, session, membership, now)
        elif transaction.type is TransactionType.PLAN_UPGRADE:
            new_plan = catalog.plan(transaction.plan_to)
            if not membership.upgrade_still_fits(transaction.plan_from, new_plan, transaction.proration, catalog, now):
                return await self._refund_stale(uow, transaction, session, membership, now)
            membership.apply_upgrade(new_plan, catalog, now)
        await uow.memberships.update(membership)
        return None

    async def _refund_stale(self, uow: UnitOfWork, transaction: Transaction, session: PaymentSession,
                            membership: Membership, now: datetime) -> str:
        """A plan change (or renewal) paid for a state the member has left: refunded in full."""
        refund = Refund.for_stale_plan_change(id=self._ids.new_id("rf"),
                                              refund_order_id=self._ids.new_order_id("R", now),
                                              session=session, now=now)
        transaction.record_refund(refund.amount, now)
        await uow.refunds.add(refund)
        await self._audit_automatic(uow, refund, now)
        log.warning("plan change %s was paid after %s moved on (now %s): refunding it (%s)",
                    transaction.id, transaction.user_id, membership.plan.value, refund.id)
        return refund.id

    async def _audit_automatic(self, uow: UnitOfWork, refund: Refund, now: datetime) -> None:
        await uow.audit_log.add(refund_entry(self._ids.new_id("aud"), SYSTEM_ACTOR, AuditAction.REFUND_AUTOMATIC,
                                             refund, None, now, reason=refund.reason))

    @staticmethod
    async def _refund_ended(uow: UnitOfWork, event: ProviderEvent, now: datetime) -> _Applied:
        found = (await uow.refunds.get_by_refund_order_id(event.refund_order_id)
                 if event.refund_order_id else None)
        if found is None or found.status is not RefundStatus.PROCESSING:
            return _Applied(E.IGNORED)
        succeeded = event.kind is ProviderEventKind.REFUND_SUCCEEDED
        refund = await settle_refund(uow, found.id, succeeded, event.provider_reference, event.failure_reason, now)
        if refund is None or refund.status is not (RefundStatus.SUCCEEDED if succeeded else RefundStatus.FAILED):
            return _Applied(E.IGNORED)
        if not succeeded:
            log.error("refund %s of session %s failed at %s", refund.id, refund.session_id, refund.provider)
        return _Applied(E.APPLIED)


def _one_click_declined(transaction: Transaction, session_id: str, event: ProviderEvent) -> bool:
    """A one-click purchase's off-session charge found declined later (its answer was lost): it
    fails the transaction, as the answer would have. A renewal's stays pending (paid later)."""
    return (event.kind is ProviderEventKind.PAYMENT_FAILED and transaction.session(session_id).off_session
            and transaction.type is not TransactionType.PLAN_RENEWAL)


def _session_with_order(transaction: Transaction, order_id: str | None) -> PaymentSession:
    return next(s for s in transaction.sessions if s.order_id == order_id)
