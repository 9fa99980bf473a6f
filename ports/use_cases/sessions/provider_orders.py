"""The provider side of a payment session, shared by the use cases that open sessions.

The order of work is always: (1) the pending session was committed by the caller; (2) the
provider is called outside any unit of work, with the session's own `order_id` as its
idempotency key; (3) the outcome is recorded in a second unit of work.
"""
from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable

import attrs

from domain.errors import ProviderError, ProviderUnavailableError
from domain.session import PaymentSession
from domain.transaction import Transaction, TransactionType
from ports.clock import Clock
from ports.ids import IdGenerator
from ports.payment_provider import PaymentOrder, ProviderRegistry
from ports.unit_of_work import UnitOfWorkFactory
from ports.use_cases.settings import UseCaseSettings

log = logging.getLogger("payments.flow")
# An unknown outcome (timeout, 5xx) is retried with the same order id, which the provider treats
# as the same order: never a second provider order. Then the session fails and its order is closed.
OPEN_ATTEMPTS = 3
RETRY_DELAY_SECONDS = 0.2


def describe(transaction: Transaction) -> str:
    """The line the payer sees at the provider."""
    if transaction.type is TransactionType.PURCHASE_RECEIVES:
        return f"{transaction.receives} receives"
    return f"{transaction.plan_to.value.upper() if transaction.plan_to else ''} plan".strip()


@attrs.frozen
class RequestIds:
    """The ids of what one request creates: random, or, when the client sent an Idempotency-Key,
    derived from (user, operation, key). A retry whose first attempt died after committing then
    finds the transaction it made and resumes it, instead of making a second one."""

    _ids: IdGenerator
    _seed: str | None

    @classmethod
    def of(cls, ids: IdGenerator, user_id: str, operation: str, request_key: str | None) -> RequestIds:
        return cls(ids, None if request_key is None else f"{user_id}\x00{operation}\x00{request_key}")

    @property
    def derived(self) -> bool:
        return self._seed is not None

    def id(self, prefix: str) -> str:
        return self._ids.new_id(prefix) if self._seed is None else self._ids.derived_id(prefix, f"{self._seed}/{prefix}")

    def order_id(self, kind: str, now) -> str:
        return (self._ids.new_order_id(kind, now) if self._seed is None
                else self._ids.derived_order_id(kind, f"{self._seed}/{kind}"))


@attrs.frozen
class ProviderOrders:
    _uow: UnitOfWorkFactory
    _providers: ProviderRegistry
    _clock: Clock
    _settings: UseCaseSettings

    async def open(self, session: PaymentSession, description: str) -> PaymentSession:
        """Create the provider order for a committed open session and store its instructions.
        A provider failure ends the session `failed` (its transaction stays pending and
        records why) and is raised again for the caller to report."""
        provider = self._providers.get(session.provider)
        if provider is None:
            raise ProviderError(f"provider {session.provider!r} is not loaded")
        order = PaymentOrder(
            order_id=session.order_id, session_id=session.id, amount=session.amount, description=description,
            payment_method=session.payment_method, expires_at=session.expires_at,
            notify_url=self._settings.notify_url(provider.name), return_url=session.return_url,
        )
        instructions = None
        for attempt in range(OPEN_ATTEMPTS):
            try:
                instructions = await provider.open_payment(order)
                break
            except ProviderUnavailableError as error:  # outcome unknown: ask again for the same order
                if attempt + 1 == OPEN_ATTEMPTS:
                    await self._record_failure(session, error)
                    await self.close([session])  # it may exist at the provider: make it unpayable
                    raise
                await asyncio.sleep(RETRY_DELAY_SECONDS * (attempt + 1))
            except ProviderError as error:
                await self._record_failure(session, error)
                raise
        assert instructions is not None
        session.attach_instructions(instructions.payment_url, instructions.qr_code,
                                    instructions.provider_reference, self._clock.now())
        async with self._uow(single_statement=True) as uow:
            await uow.sessions.attach_instructions(session)  # a session ended meanwhile keeps its state
            await uow.commit()
        return session

    async def _record_failure(self, session: PaymentSession, error: ProviderError) -> None:
        now = self._clock.now()
        async with self._uow() as uow:
            transaction = await uow.transactions.get(session.transaction_id, for_update=True)
            stored = await uow.sessions.get(session.id, for_update=True)
            assert transaction is not None and stored is not None
            if stored.is_open_at(now):
                stored.fail(now)
                transaction.record_failed_attempt(stored.id, error.code, now)
                await uow.sessions.update(stored)
                await uow.transactions.update(transaction)
                await uow.commit()

    async def close(self, sessions: Iterable[PaymentSession]) -> None:
        """Close the provider orders of ended sessions. Best effort: a late payment on an order
        that could not be closed is still credited (and refunded if the transaction was paid)."""
        for session in sessions:
            provider = self._providers.get(session.provider)
            if provider is None or not provider.capabilities.can_close:
                continue
            try:
                await provider.close_payment(session.order_id)
            except ProviderError as error:
                log.warning("could not close provider order %s at %s: %s", session.order_id, session.provider, error)


async def resume(uow, transaction_id: str, session_id: str, user_id: str):
    """The (transaction, session) an earlier attempt of the same request created, or None."""
    transaction = await uow.transactions.get(transaction_id, user_id=user_id)
    if transaction is None:
        return None
    session = await uow.sessions.get(session_id, user_id=user_id)
    assert session is not None, f"transaction {transaction_id} was stored without its first session"
    return transaction, session
