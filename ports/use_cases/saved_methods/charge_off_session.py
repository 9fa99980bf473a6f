"""Charge a saved method with no payer present: one-click purchases (`POST receives`/`POST plan`
with `saved_method_id`) and renewals.

The attempt is a payment session of its transaction with `saved_method_id` set (no payment URL,
no QR code), so the reconciler, notifications, expiry and the paid-at-most-once rule treat it as
any session. The order of work is the usual one:

1. The caller committed the pending transaction with its attempt (`open_attempt`, in the
   caller's unit of work), or `__call__` opens one on a pending transaction (or takes the open
   attempt whose outcome is unknown: charging its order id again never charges twice).
2. `charge_saved_method` is called outside any unit of work, with the attempt's own order id as
   the provider's idempotency key (one order id per attempt).
3. The answer is applied:
   - SUCCEEDED: exactly as a notification of a paid session (`HandleNotification.apply_event`):
     delivered once, a second payment of a paid transaction refunded;
   - FAILED (declined) or refused (`ProviderError`): the attempt fails; the transaction fails
     with the provider's reason (`fail_transaction`: a one-click purchase) or stays pending
     recording it (a renewal, retried or paid by the payer later);
   - PENDING: the provider's reference is stored; a notification or the reconciler (which queries
     the attempt like any session) settles it;
   - REQUIRES_PAYER (3-D Secure): a normal session of the same method is opened for the payer
     (replacing the attempt) and returned;
   - `ProviderUnavailableError`: the outcome is unknown; the attempt stays open (the reconciler
     queries it) and the error is raised. A retry charges the same attempt again (same order id),
     never a new one, so nothing is charged twice.
"""
from __future__ import annotations

import logging

import attrs

from domain.errors import (
    DomainValidationError,
    InvalidTransitionError,
    PaymentMethodUnavailableError,
    ProviderError,
    ProviderUnavailableError,
    SavedMethodNotFoundError,
    TransactionNotFoundError,
)
from domain.saved_method import SavedMethod
from domain.session import PaymentSession, SessionStatus
from domain.transaction import Transaction
from ports.clock import Clock
from ports.ids import IdGenerator
from ports.payment_provider import (
    ChargeResult,
    ChargeState,
    OffSessionCharge,
    PaymentProvider,
    ProviderEvent,
    ProviderEventKind,
    ProviderRegistry,
    saves_methods,
)
from ports.repositories import InstructionsRepository
from ports.unit_of_work import UnitOfWork, UnitOfWorkFactory
from ports.use_cases.notifications.handle_notification import HandleNotification
from ports.use_cases.sessions.customers import ProviderCustomers
from ports.use_cases.sessions.flows import choose_flow
from ports.use_cases.sessions.provider_orders import ProviderOrders, order_lines
from ports.use_cases.settings import UseCaseSettings

log = logging.getLogger("payments.off_session")


@attrs.frozen
class ChargeOffSessionCommand:
    transaction_id: str
    saved_method_id: str
    user_id: str | None = None  # scope both to this owner (None: the transaction's owner)
    fail_transaction: bool = False  # a decline fails the transaction (one-click) or leaves it pending (renewal)
    return_url: str | None = None  # of the session opened for the payer, if the provider needs them


@attrs.frozen
class OffSessionOutcome:
    """The transaction after the attempt, and the session opened for the payer when the provider
    needed them (REQUIRES_PAYER); `state` is None when the outcome is not known yet."""

    transaction: Transaction
    session: PaymentSession | None
    state: ChargeState | None


async def chargeable_method(uow: UnitOfWork, providers: ProviderRegistry, user_id: str,
                            saved_method_id: str) -> tuple[SavedMethod, PaymentProvider]:
    """The user's saved method (not deleted) and the provider that holds it. Someone else's, a
    deleted or an unknown one: `SavedMethodNotFoundError` (404); a provider no longer loaded or
    no longer saving methods: `PaymentMethodUnavailableError` (422)."""
    method = await uow.saved_methods.get(saved_method_id, user_id=user_id)
    if method is None or method.deleted:
        raise SavedMethodNotFoundError(saved_method_id)
    provider = providers.get(method.provider)
    if provider is None or not saves_methods(provider):
        raise PaymentMethodUnavailableError(method.payment_method)
    return method, provider


@attrs.define
class ChargeOffSession:
    _uow: UnitOfWorkFactory
    _providers: ProviderRegistry
    _orders: ProviderOrders
    _instructions: InstructionsRepository
    _notifications: HandleNotification
    _customers: ProviderCustomers
    _clock: Clock
    _ids: IdGenerator
    _settings: UseCaseSettings

    async def resolve(self, user_id: str, saved_method_id: str) -> tuple[SavedMethod, PaymentProvider]:
        """The user's chargeable saved method and its provider (404 / 422, see `chargeable_method`);
        asked before anything is stored."""
        async with self._uow() as uow:
            return await chargeable_method(uow, self._providers, user_id, saved_method_id)

    async def one_click(self, transaction: Transaction, attempt: PaymentSession,
                        return_url: str | None) -> tuple[Transaction, PaymentSession | None]:
        """A one-click purchase's committed transaction and its attempt: charged now (a decline
        fails the transaction), or, for a retry that finds the attempt ended, the transaction as it
        stands with the session opened for the payer, if one was."""
        if attempt.status is SessionStatus.OPEN:
            outcome = await self.charge(transaction.id, attempt.id, fail_transaction=True, return_url=return_url)
            return outcome.transaction, outcome.session
        transaction = await self._reload(transaction.id)
        latest = transaction.sessions[-1]
        return transaction, None if latest.off_session else latest

    def open_attempt(self, transaction: Transaction, method: SavedMethod, *, session_id: str | None = None,
                     order_id: str | None = None) -> PaymentSession:
        """Step 1, in the caller's unit of work (which stores `transaction` and commits): the
        off-session attempt of a pending transaction, with its own order id."""
        now = self._clock.now()
        return transaction.open_session(
            id=session_id or self._ids.new_id("ps"), order_id=order_id or self._ids.new_order_id("S", now),
            payment_method=method.payment_method, provider=method.provider, return_url=None,
            ttl=self._settings.session_ttl, now=now, saved_method_id=method.id).session

    async def __call__(self, cmd: ChargeOffSessionCommand) -> OffSessionOutcome:
        """Charge `cmd.saved_method_id` for the pending transaction `cmd.transaction_id` (steps
        1-3). An open attempt of the same method (an earlier outcome unknown) is charged again
        under its own order id instead of opening another."""
        async with self._uow() as uow:
            transaction = await uow.transactions.get(cmd.transaction_id, user_id=cmd.user_id, for_update=True)
            if transaction is None:
                raise TransactionNotFoundError(cmd.transaction_id)
            method, _ = await chargeable_method(uow, self._providers, transaction.user_id, cmd.saved_method_id)
            attempt = next((s for s in transaction.sessions if s.off_session and s.status is SessionStatus.OPEN
                            and s.saved_method_id == method.id), None)
            if attempt is None:
                if not transaction.is_pending:
                    raise InvalidTransitionError("transaction", transaction.status.value, "paying",
                                                 f"Only a pending transaction can be paid; this one is "
                                                 f"{transaction.status.value}.")
                attempt = self.open_attempt(transaction, method)
                await uow.transactions.update(transaction)
                await uow.commit()
        return await self.charge(transaction.id, attempt.id, fail_transaction=cmd.fail_transaction,
                                 return_url=cmd.return_url)

    async def charge(self, transaction_id: str, session_id: str, *, fail_transaction: bool,
                     return_url: str | None = None) -> OffSessionOutcome:
        """Steps 2-3 for a committed, open attempt (see the module docstring)."""
        async with self._uow() as uow:
            transaction = await uow.transactions.get(transaction_id)
            assert transaction is not None
            session = transaction.session(session_id)
            method = await uow.saved_methods.get(session.saved_method_id) if session.saved_method_id else None
        if session.status is not SessionStatus.OPEN or method is None:
            return OffSessionOutcome(transaction, None, None)  # settled meanwhile: as it stands
        if method.deleted:  # deleted since the attempt was opened: never charged again
            await self._decline(transaction_id, session_id, "saved_method_deleted", fail_transaction)
            return OffSessionOutcome(await self._reload(transaction_id), None, ChargeState.FAILED)
        provider = self._providers.get(session.provider)
        if provider is None or not saves_methods(provider):
            raise ProviderError(f"provider {session.provider!r} cannot charge saved methods here")
        try:
            customer = await self._customers.ensure(transaction.user_id, provider)
            result: ChargeResult = await provider.charge_saved_method(OffSessionCharge(  # type: ignore[attr-defined]
                order_id=session.order_id, amount=session.amount, description=transaction.description,
                payment_method=session.payment_method, token=method.token, customer_reference=customer,
                lines=order_lines(transaction), notify_url=self._settings.notify_url(provider.name)))
        except ProviderUnavailableError:
            log.warning("off-session charge %s at %s: outcome unknown; it will be queried", session.order_id,
                        provider.name)
            raise
        except ProviderError as error:
            log.warning("off-session charge %s refused by %s: %s", session.order_id, provider.name, error.message)
            result = ChargeResult(session.order_id, ChargeState.FAILED, failure_reason=error.code)
        log.info("off-session charge %s at %s: %s", session.order_id, provider.name, result.state.value)
        if result.provider_reference is not None:
            session.attach_instructions(None, None, result.provider_reference, self._clock.now())
            await self._instructions.attach(session)  # for later queries (a session that ended keeps its state)
        if result.state is ChargeState.SUCCEEDED:
            await self._notifications.apply_event(provider, ProviderEvent(
                event_id=f"charge:{session.order_id}", kind=ProviderEventKind.PAYMENT_SUCCEEDED,
                order_id=session.order_id, amount=session.amount, provider_reference=result.provider_reference,
                occurred_at=self._clock.now(), payer_id=result.payer_id))
        elif result.state is ChargeState.FAILED:
            await self._decline(transaction_id, session_id, result.failure_reason or "declined", fail_transaction)
        elif result.state is ChargeState.REQUIRES_PAYER:
            return await self._open_for_payer(transaction_id, session_id, provider, return_url)
        return OffSessionOutcome(await self._reload(transaction_id), None, result.state)

    async def _decline(self, transaction_id: str, session_id: str, reason: str, fail_transaction: bool) -> None:
        async with self._uow() as uow:
            transaction = await uow.transactions.get(transaction_id, for_update=True)
            assert transaction is not None
            if transaction.decline_off_session(session_id, reason, self._clock.now(), fail_transaction=fail_transaction):
                await uow.transactions.update(transaction)
                await uow.commit()

    async def _open_for_payer(self, transaction_id: str, session_id: str, provider: PaymentProvider,
                              return_url: str | None) -> OffSessionOutcome:
        """The provider needs the payer: a normal session of the attempt's method replaces it."""
        now = self._clock.now()
        async with self._uow() as uow:
            transaction = await uow.transactions.get(transaction_id, for_update=True)
            assert transaction is not None
            attempt = transaction.session(session_id)
            if attempt.status is not SessionStatus.OPEN or not transaction.is_pending:
                return OffSessionOutcome(transaction, None, ChargeState.REQUIRES_PAYER)
            try:
                flow = choose_flow(provider, attempt.payment_method, None)
            except DomainValidationError:
                flow = None
            opened = transaction.open_session(
                id=self._ids.new_id("ps"), order_id=self._ids.new_order_id("S", now),
                payment_method=attempt.payment_method, provider=attempt.provider, return_url=return_url,
                ttl=self._settings.session_ttl, now=now, flow=flow.value if flow else None)
            await uow.transactions.update(transaction)
            await uow.commit()
        session = await self._orders.open(opened.session, transaction.description, order_lines(transaction))
        return OffSessionOutcome(transaction, session, ChargeState.REQUIRES_PAYER)

    async def _reload(self, transaction_id: str) -> Transaction:
        async with self._uow() as uow:
            transaction = await uow.transactions.get(transaction_id)
        assert transaction is not None
        return transaction
