"""The reconciler: asks providers about sessions whose confirmation may have been lost, so a
lost notification still credits and a payment made just before an order closed is not lost.

Each session carries `next_check_at` (see `domain.session.CHECK_DELAYS`). The transactions with
due sessions are claimed in one unit of work (locked rows are skipped, so several processes split
the work) and the next checks are scheduled; then each provider is queried outside any unit of
work, and what it reports is applied exactly like a notification (de-duplicated, matched,
idempotent).

A due session that is still open but has no payment instructions was committed and never
completed (the database failed while its instructions were attached, or the process died, and
no retry came): its provider order is opened again under the same order id (the provider
answers the same order) and the instructions are stored; a provider that refuses ends it
`failed` (`ProviderOrders.open`). Either way it no longer sits open and unpayable. An off-session
charge of a saved method has no instructions by nature: it is only ever queried.

Each run also does the heal step of saved methods (docs/saved-methods.md): paid sessions that
asked to save their method and whose method was never stored get it stored now.
"""
from __future__ import annotations

import logging
from datetime import datetime

import attrs

from domain.errors import ProviderError
from domain.session import PaymentSession
from ports.clock import Clock
from ports.payment_provider import (
    OrderLine,
    PaymentState,
    PaymentStatus,
    ProviderEvent,
    ProviderEventKind,
    ProviderRegistry,
    call_with_reference,
)
from ports.unit_of_work import UnitOfWorkFactory
from ports.use_cases.notifications.handle_notification import HandleNotification, NotificationEffect
from ports.use_cases.sessions.provider_orders import order_lines

log = logging.getLogger("payments.reconciler")
_KINDS = {PaymentState.SUCCEEDED: ProviderEventKind.PAYMENT_SUCCEEDED,
          PaymentState.FAILED: ProviderEventKind.PAYMENT_FAILED,
          PaymentState.CLOSED: ProviderEventKind.PAYMENT_CLOSED}


@attrs.frozen
class ReconcileReport:
    checked: int
    applied: int


@attrs.define
class ReconcilePayments:
    _uow: UnitOfWorkFactory
    _providers: ProviderRegistry
    _notifications: HandleNotification
    _clock: Clock
    batch_size: int = 50

    async def __call__(self) -> ReconcileReport:
        now = self._clock.now()
        due: list[tuple[PaymentSession, str, tuple[OrderLine, ...]]] = []  # with its transaction's description, lines
        async with self._uow() as uow:
            for transaction in await uow.transactions.claim_due_for_check(now, self.batch_size):
                due.extend((session, transaction.description, order_lines(transaction))
                           for session in transaction.take_due_checks(now))
                await uow.transactions.update(transaction)
            await uow.commit()
        applied = 0
        for session, description, lines in due:
            if await self._check(session, description, lines, now):
                applied += 1
        saver = self._notifications.saved_methods
        if saver is not None:
            applied += await saver.heal()
        return ReconcileReport(len(due), applied)

    async def _complete(self, session: PaymentSession, description: str, lines: tuple[OrderLine, ...]) -> bool:
        """Open the provider order of a session left without instructions again (same order id)."""
        try:
            await self._notifications.orders.open(session, description, lines)
        except ProviderError as error:  # the session ended `failed`; its order was closed if it may exist
            log.warning("could not open order %s at %s again: %s", session.order_id, session.provider, error)
            return True
        log.info("completed session %s: order %s at %s opened again, its instructions stored",
                 session.id, session.order_id, session.provider)
        return True

    async def _check(self, session: PaymentSession, description: str, lines: tuple[OrderLine, ...],
                     now: datetime) -> bool:
        if not session.off_session and session.is_open_at(now) and session.payment_url is None \
                and session.qr_code is None:
            return await self._complete(session, description, lines)
        provider = self._providers.get(session.provider)
        if provider is None or not provider.capabilities.can_query:
            return False
        try:
            status = await call_with_reference(provider.query_payment, session.order_id, session.provider_reference)
        except ProviderError as error:
            log.warning("could not query order %s at %s: %s", session.order_id, session.provider, error)
            return False
        event = _event_from(status)
        if event is None:
            return False
        effect = await self._notifications.apply_event(provider, event)
        if effect.changed_something or effect is NotificationEffect.ANOMALY:
            log.info("reconciled order %s at %s: %s (%s)", session.order_id, session.provider,
                     status.state.value, effect.value)
        return effect.changed_something


def _event_from(status: PaymentStatus) -> ProviderEvent | None:
    """What a status query found, as the event a notification would have carried."""
    kind = _KINDS.get(status.state)
    if kind is None:
        return None
    return ProviderEvent(event_id=f"query:{status.order_id}:{status.state.value}", kind=kind,
                         order_id=status.order_id, amount=status.amount,
                         provider_reference=status.provider_reference, failure_reason=status.failure_reason,
                         occurred_at=status.paid_at, payer_id=status.payer_id)
