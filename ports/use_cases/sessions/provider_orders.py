"""The provider side of a payment session, shared by the use cases that open and end sessions.

The order of work is always: (1) the pending session was committed by the caller; (2) the
provider is called outside any unit of work, with the session's own `order_id` as its
idempotency key; (3) the outcome is recorded: the instructions in one atomic statement, a
failure in a second unit of work.
"""
from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterable

import attrs

from domain.errors import ProviderError, ProviderUnavailableError
from domain.session import PaymentSession
from domain.transaction import Transaction, TransactionType
from ports.circuit_breakers import CircuitBreakers
from ports.clock import Clock
from ports.payment_provider import Flow, LineKind, OrderLine, PaymentOrder, ProviderRegistry, call_with_reference
from ports.repositories import InstructionsRepository
from ports.unit_of_work import UnitOfWorkFactory
from ports.use_cases.sessions.customers import ProviderCustomers
from ports.use_cases.settings import UseCaseSettings

log = logging.getLogger("payments.flow")


@attrs.frozen
class RetryPolicy:
    """How an unknown outcome (timeout, 5xx) of opening a provider order is retried: with the same
    order id, which the provider treats as the same order (never a second one), `attempts` times
    in all, waiting `delay_seconds` × the attempt number in between. Then the session fails and
    its order is closed. `sleep` is injected so that tests never wait."""

    attempts: int = 3
    delay_seconds: float = 0.2
    sleep: Callable[[float], Awaitable[object]] = asyncio.sleep


def order_lines(transaction: Transaction) -> tuple[OrderLine, ...]:
    """How `transaction`'s total is made up, for the provider to show the payer: the receives and
    their discount, or the new plan and the credit for the current one (lines of 0 are left out)."""
    if transaction.type is TransactionType.PURCHASE_RECEIVES:
        lines = [OrderLine(LineKind.RECEIVES, transaction.subtotal, quantity=transaction.receives),
                 OrderLine(LineKind.DISCOUNT, transaction.discount)]
    elif transaction.proration is not None and transaction.plan_to is not None:
        lines = [OrderLine(LineKind.PLAN, transaction.proration.debit, plan=transaction.plan_to.value),
                 OrderLine(LineKind.PLAN_CREDIT, transaction.proration.credit,
                           plan=transaction.plan_from.value if transaction.plan_from else None)]
    else:
        return ()
    return tuple(line for line in lines if line.amount.amount or not line.kind.reduces)


@attrs.frozen
class ProviderOrders:
    _uow: UnitOfWorkFactory
    _instructions: InstructionsRepository
    _providers: ProviderRegistry
    _clock: Clock
    _settings: UseCaseSettings
    _retry: RetryPolicy = RetryPolicy()
    _circuits: CircuitBreakers = attrs.field(factory=CircuitBreakers)  # per process (ports/circuit_breakers.py)
    _customers: ProviderCustomers | None = None  # the user's customer on orders that save the method

    def admit(self, provider: str) -> None:
        """Refuse a new session for `provider` at once while its circuit is open
        (`ProviderCircuitOpenError`); called before anything is written."""
        self._circuits.admit(provider)

    async def open(self, session: PaymentSession, description: str,
                   lines: tuple[OrderLine, ...] = ()) -> PaymentSession:
        """Create the provider order for a committed open session and store its instructions.
        A provider failure ends the session `failed` (its transaction stays pending and
        records why) and is raised again for the caller to report. `lines`: `order_lines` of
        the session's transaction (the same every time its order is opened); the flow is the
        session's own, so an order opened again (a retry, the reconciler) asks for the same one."""
        provider = self._providers.get(session.provider)
        if provider is None:
            raise ProviderError(f"provider {session.provider!r} is not loaded")
        customer = None
        if session.save_method and self._customers is not None:  # docs/saved-methods.md
            try:
                customer = await self._customers.ensure(session.user_id, provider)
            except ProviderError as error:
                await self._record_failure(session, error)
                raise
        order = PaymentOrder(
            order_id=session.order_id, session_id=session.id, amount=session.amount, description=description,
            payment_method=session.payment_method, expires_at=session.expires_at,
            notify_url=self._settings.notify_url(provider.name), return_url=session.return_url, lines=lines,
            flow=Flow(session.flow) if session.flow is not None else None,
            save_method=session.save_method, customer_reference=customer,
        )
        for attempt in range(1, self._retry.attempts + 1):
            try:
                instructions = await provider.open_payment(order)
                self._circuits.record_success(provider.name)
                break
            except ProviderUnavailableError as error:  # outcome unknown: ask again for the same order
                opened = self._circuits.record_unavailable(provider.name)
                if attempt == self._retry.attempts or opened:  # an open circuit ends the retries too
                    await self._record_failure(session, error)
                    await self.close([session])  # it may exist at the provider: make it unpayable
                    raise
                await self._retry.sleep(self._retry.delay_seconds * attempt)
            except ProviderError as error:
                self._circuits.record_success(provider.name)  # a definite refusal: the provider answers
                await self._record_failure(session, error)
                raise
        session.attach_instructions(instructions.payment_url, instructions.qr_code,
                                    instructions.provider_reference, self._clock.now())
        await self._instructions.attach(session)  # a session that ended meanwhile keeps its state
        return session

    async def _record_failure(self, session: PaymentSession, error: ProviderError) -> None:
        async with self._uow() as uow:
            transaction = await uow.transactions.get(session.transaction_id, for_update=True)
            assert transaction is not None
            if transaction.fail_attempt(session.id, error.code, self._clock.now()):
                await uow.transactions.update(transaction)
                await uow.commit()

    async def close(self, sessions: Iterable[PaymentSession]) -> None:
        """Close the provider orders of ended sessions. Best effort: a late payment on an order
        that could not be closed is still credited (and refunded if the transaction was paid).
        Off-session charges are not closed: nobody can pay them (the provider settles them alone)."""
        for session in sessions:
            if session.off_session:
                continue
            provider = self._providers.get(session.provider)
            if provider is None or not provider.capabilities.can_close:
                continue
            try:
                await call_with_reference(provider.close_payment, session.order_id, session.provider_reference)
            except ProviderError as error:
                log.warning("could not close provider order %s at %s: %s", session.order_id, session.provider, error)
