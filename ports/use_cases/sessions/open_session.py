"""Open a new payment session for a pending transaction (a retry after a failed or expired
attempt, or another payment method or flow). The transaction's other open sessions are cancelled
and their provider orders closed; the new session gets its own order id. Its flow is the one asked
for, else the method's first (not the earlier session's: a payer switching devices asks again)."""
from __future__ import annotations

import attrs

from domain.errors import DomainValidationError, TransactionNotFoundError
from ports.clock import Clock
from ports.ids import IdGenerator
from ports.payment_provider import ProviderRegistry
from ports.unit_of_work import UnitOfWorkFactory
from ports.use_cases.sessions.flows import choose_flow
from ports.use_cases.sessions.provider_orders import ProviderOrders, order_lines
from ports.use_cases.risk.gate import RiskGate
from ports.use_cases.sessions.saving import check_can_save
from ports.use_cases.settings import UseCaseSettings
from ports.use_cases.views import SessionView


@attrs.frozen
class OpenSessionCommand:
    user_id: str
    transaction_id: str
    payment_method: str | None = None
    return_url: str | None = None
    flow: str | None = None  # qr_code | redirect | mobile_redirect; default the method's first
    save_method: bool = False  # keep the method when this session's payment succeeds (docs/saved-methods.md)


@attrs.define
class OpenSession:
    _uow: UnitOfWorkFactory
    _providers: ProviderRegistry
    _orders: ProviderOrders
    _clock: Clock
    _ids: IdGenerator
    _settings: UseCaseSettings
    _risk: RiskGate | None = None  # docs/risk.md: asked before a payment is opened

    async def __call__(self, cmd: OpenSessionCommand) -> SessionView:
        return_url = self._settings.check_return_url(cmd.return_url)
        now = self._clock.now()
        if self._risk is not None:  # the transaction's amount is read with the rest (one statement)
            await self._risk.admit(cmd.user_id, None, now, transaction_id=cmd.transaction_id)
        async with self._uow() as uow:
            transaction = await uow.transactions.get(cmd.transaction_id, user_id=cmd.user_id, for_update=True)
            if transaction is None:
                raise TransactionNotFoundError(cmd.transaction_id)
            method = cmd.payment_method or transaction.payment_method
            if method is None:  # a renewal opened by reminder for a payer who never paid here (docs/renewals.md)
                raise DomainValidationError("Required: this transaction has no payment method yet.",
                                            field="payment_method")
            provider = self._providers.for_method(method)
            flow = choose_flow(provider, method, cmd.flow)  # refused before anything is written
            check_can_save(provider, method, cmd.save_method)
            self._orders.admit(provider.name)  # an open circuit refuses at once (rolled back)
            opened = transaction.open_session(
                id=self._ids.new_id("ps"), order_id=self._ids.new_order_id("S", now), payment_method=method,
                provider=provider.name, return_url=return_url, ttl=self._settings.session_ttl, now=now,
                flow=flow.value, save_method=cmd.save_method)
            await uow.transactions.update(transaction)
            await uow.commit()
        await self._orders.close(opened.replaced)
        session = await self._orders.open(opened.session, transaction.description, order_lines(transaction))
        return SessionView.of(session, self._clock.now())
