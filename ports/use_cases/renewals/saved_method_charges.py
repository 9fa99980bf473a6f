"""`RenewalCharges` over the saved-methods use cases (docs/saved-methods.md): a renewal method is a
saved method that `chargeable_method` accepts, and a renewal is charged by `ChargeOffSession` like a
one-click purchase, except that a decline leaves it pending (retried, or paid by the payer)."""
from __future__ import annotations

import attrs

from domain.errors import PaymentMethodUnavailableError, SavedMethodNotFoundError
from domain.transaction import Transaction
from ports.payment_provider import ProviderRegistry
from ports.unit_of_work import UnitOfWork
from ports.use_cases.renewals.charging import RenewalMethod
from ports.use_cases.saved_methods.charge_off_session import ChargeOffSession, chargeable_method


@attrs.define
class SavedMethodRenewals:
    _charger: ChargeOffSession
    _providers: ProviderRegistry

    async def usable(self, uow: UnitOfWork, user_id: str, method_id: str) -> RenewalMethod | None:
        try:
            method, _ = await chargeable_method(uow, self._providers, user_id, method_id)
        except (SavedMethodNotFoundError, PaymentMethodUnavailableError):
            return None
        return RenewalMethod(method.id, method.provider, method.payment_method)

    async def default_method(self, uow: UnitOfWork, user_id: str) -> str | None:
        for method in await uow.saved_methods.list_for_user(user_id):
            if method.is_default:
                return method.id
        return None

    def open_attempt(self, transaction: Transaction, method: RenewalMethod) -> str:
        return self._charger.open_attempt(transaction, method).id  # type: ignore[arg-type]  # its fields

    async def charge(self, transaction_id: str, session_id: str) -> None:
        await self._charger.charge(transaction_id, session_id, fail_transaction=False)
