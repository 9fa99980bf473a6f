"""A user's saved methods: list them, choose the default, delete one (docs/saved-methods.md).

Changes run under the owner's membership lock (the lock every change of a user's methods takes),
so the one-default rule holds across processes. Deleting detaches the method at its provider
outside the unit of work, after the deletion committed (a method deleted here is never charged
again by us, whatever the provider answers; a detach that fails is logged: the provider keeps a
token nobody uses). A deleted default passes the default to the newest remaining method.

Renewals: a deleted method can no longer be charged (`chargeable_method` refuses it), so a
membership whose renewal method it was falls back to reminders; the renewals code clears its
own reference to it (see `on_deleted`).
"""
from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

import attrs

from domain.errors import SavedMethodNotFoundError
from ports.clock import Clock
from ports.payment_provider import ProviderRegistry, saves_methods
from ports.unit_of_work import UnitOfWork, UnitOfWorkFactory
from ports.use_cases.plans.membership_access import current_membership
from ports.use_cases.saved_methods.views import SavedMethodView
from ports.use_cases.settings import UseCaseSettings

log = logging.getLogger("payments.saved_methods")
# Called in the deleting unit of work with (uow, user_id, method_id): what else points at the method
# lets go of it there (the renewals' `renewal_method_id`).
DeletionHook = Callable[[UnitOfWork, str, str], Awaitable[None]]


@attrs.define
class ListSavedMethods:
    _uow: UnitOfWorkFactory

    async def __call__(self, user_id: str) -> list[SavedMethodView]:
        async with self._uow() as uow:
            return [SavedMethodView.of(m) for m in await uow.saved_methods.list_for_user(user_id)]


@attrs.define
class SetDefaultSavedMethod:
    _uow: UnitOfWorkFactory
    _clock: Clock
    _settings: UseCaseSettings

    async def __call__(self, user_id: str, method_id: str) -> SavedMethodView:
        now = self._clock.now()
        async with self._uow() as uow:
            await current_membership(uow, user_id, self._settings.catalog, now,  # the user's lock
                                     policy=self._settings.renewal)
            method = await uow.saved_methods.get(method_id, user_id=user_id, for_update=True)
            if method is None or method.deleted:
                raise SavedMethodNotFoundError(method_id)
            if not method.is_default:
                await uow.saved_methods.set_default(user_id, method_id, now)
                await uow.commit()
            method = await self._read(method_id)
        return SavedMethodView.of(method)

    async def _read(self, method_id: str):
        async with self._uow() as uow:
            return await uow.saved_methods.get(method_id)


@attrs.define
class DeleteSavedMethod:
    _uow: UnitOfWorkFactory
    _providers: ProviderRegistry
    _clock: Clock
    _settings: UseCaseSettings
    on_deleted: list[DeletionHook] = attrs.field(factory=list)

    async def __call__(self, user_id: str, method_id: str) -> None:
        now = self._clock.now()
        async with self._uow() as uow:
            await current_membership(uow, user_id, self._settings.catalog, now,  # the user's lock
                                     policy=self._settings.renewal)
            method = await uow.saved_methods.get(method_id, user_id=user_id, for_update=True)
            if method is None or method.deleted:
                raise SavedMethodNotFoundError(method_id)
            was_default = method.is_default
            method.delete(now)
            await uow.saved_methods.update(method)
            if was_default:
                remaining = await uow.saved_methods.list_for_user(user_id)
                if remaining:
                    await uow.saved_methods.set_default(user_id, remaining[0].id, now)
            for hook in self.on_deleted:
                await hook(uow, user_id, method_id)
            customer = await uow.provider_customers.get(user_id, method.provider)
            await uow.commit()
        provider = self._providers.get(method.provider)
        if provider is None or not saves_methods(provider):
            return
        try:
            await provider.detach_saved_method(method.token, customer_reference=customer)  # type: ignore[attr-defined]
        except Exception:  # deleted here whatever the provider says; the token is never used again
            log.exception("could not detach saved method %s at %s", method_id, method.provider)
