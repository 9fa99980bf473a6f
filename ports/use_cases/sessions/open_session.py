"""Open a new payment session for a pending transaction (a retry after a failed or expired
attempt, or another payment method). The transaction's other open sessions are cancelled and
their provider orders closed; the new session gets its own order id."""
from __future__ import annotations

import attrs

from domain.errors import InvalidTransitionError, TransactionNotFoundError
from domain.session import PaymentSession, attempts_lapsed
from ports.clock import Clock
from ports.ids import IdGenerator
from ports.payment_provider import ProviderRegistry
from ports.unit_of_work import UnitOfWorkFactory
from ports.use_cases.sessions.provider_orders import ProviderOrders, describe
from ports.use_cases.settings import UseCaseSettings
from ports.use_cases.views import SessionView


@attrs.frozen
class OpenSessionCommand:
    user_id: str
    transaction_id: str
    payment_method: str | None = None
    return_url: str | None = None


@attrs.define
class OpenSession:
    _uow: UnitOfWorkFactory
    _providers: ProviderRegistry
    _orders: ProviderOrders
    _clock: Clock
    _ids: IdGenerator
    _settings: UseCaseSettings

    async def __call__(self, cmd: OpenSessionCommand) -> SessionView:
        return_url = self._settings.check_return_url(cmd.return_url)
        now = self._clock.now()
        async with self._uow() as uow:
            locked = await uow.transactions.get_with_sessions(cmd.transaction_id, user_id=cmd.user_id,
                                                              for_update=True)
            if locked is None:
                raise TransactionNotFoundError(cmd.transaction_id)
            transaction, sessions = locked
            status = "expired" if attempts_lapsed(sessions, now) else transaction.status.value
            if not transaction.is_pending or status == "expired":
                raise InvalidTransitionError("transaction", status, "paying",
                                             f"Only a pending transaction can be paid; this one is {status}.")
            method = cmd.payment_method or transaction.payment_method
            assert method is not None
            provider = self._providers.for_method(method)
            replaced = [s for s in sessions if s.is_open_at(now)]
            for old in replaced:
                old.cancel(now)
                await uow.sessions.update(old)
            session = PaymentSession.for_transaction(
                transaction, id=self._ids.new_id("ps"), order_id=self._ids.new_order_id("S", now),
                payment_method=method, provider=provider.name, return_url=return_url,
                ttl=self._settings.session_ttl, now=now)
            transaction.payment_method, transaction.provider = method, provider.name
            transaction.updated_at = now
            await uow.transactions.update(transaction)
            await uow.sessions.add(session)
            await uow.commit()
        await self._orders.close(replaced)
        session = await self._orders.open(session, describe(transaction))
        return SessionView.of(session, self._clock.now())

