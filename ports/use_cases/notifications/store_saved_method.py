"""Store the method a payment saved (docs/saved-methods.md).

A session opened with `save_method` that is paid (applied by a notification, a status query or
an off-session answer) has its method read back from the provider (`saved_method`, outside any
unit of work), then, in one unit of work under the owner's membership lock: the method is stored
(idempotent by the provider's token; the user's first method becomes the default) and the
session records that its saved-method step ended (`method_saved_at`, also when the provider kept
none).

The crash window: a process that dies (or a provider that is down) between the payment being
applied and the method being stored leaves the session paid with `save_method` and no
`method_saved_at`. `heal` (run with the reconciler, every few seconds) finds those sessions a
minute after they were paid, newest first (one that keeps failing never holds up the others),
and does the step again; nothing is stored twice (the token is unique, and the step is recorded
under the transaction's lock).
"""
from __future__ import annotations

import logging
from datetime import timedelta

import attrs

from domain.saved_method import SavedMethod
from domain.session import PaymentSession
from ports.clock import Clock
from ports.ids import IdGenerator
from ports.payment_provider import ProviderRegistry, SavedMethodDetails, saves_methods
from ports.unit_of_work import UnitOfWorkFactory
from ports.use_cases.plans.membership_access import current_membership
from ports.use_cases.settings import UseCaseSettings

log = logging.getLogger("payments.saved_methods")


@attrs.define
class StoreSavedMethods:
    _uow: UnitOfWorkFactory
    _providers: ProviderRegistry
    _clock: Clock
    _ids: IdGenerator
    _settings: UseCaseSettings
    heal_after: timedelta = timedelta(minutes=1)  # the payment's own path goes first
    batch_size: int = 20

    async def after_payment(self, session: PaymentSession) -> SavedMethod | None:
        """Store the method paid session `session` saved, if it asked to. Never raises: what
        fails here is done again by `heal`."""
        if not session.save_method:
            return None
        try:
            return await self.store(session.transaction_id, session.id)
        except Exception:
            log.exception("could not store the method saved by session %s; the heal step will retry", session.id)
            return None

    async def heal(self) -> int:
        """Store the methods of paid sessions whose step never ended; how many sessions it settled."""
        async with self._uow() as uow:
            waiting = await uow.saved_methods.awaiting_method(self._clock.now() - self.heal_after, self.batch_size)
        settled = 0
        for transaction_id, session_id in waiting:
            try:
                await self.store(transaction_id, session_id)
                settled += 1
            except Exception:
                log.exception("could not store the method saved by session %s; will retry", session_id)
        return settled

    async def store(self, transaction_id: str, session_id: str) -> SavedMethod | None:
        """The step itself; the stored method (None: nothing saved, or the step had ended)."""
        async with self._uow() as uow:
            transaction = await uow.transactions.get(transaction_id)
        session = transaction.session(session_id) if transaction is not None else None
        if session is None or not session.awaits_saved_method:
            return None
        provider = self._providers.get(session.provider)
        if provider is None:
            return None  # not loaded here now: left for a process that has it
        details: SavedMethodDetails | None = None
        if saves_methods(provider):
            details = await provider.saved_method(  # type: ignore[attr-defined]  # port 1.6
                session.order_id, provider_reference=session.provider_reference)
        now = self._clock.now()
        async with self._uow() as uow:
            # Lock order: membership (serialises the user's methods: one default), then transaction.
            await current_membership(uow, session.user_id, self._settings.catalog, now,
                                     policy=self._settings.renewal)
            transaction = await uow.transactions.get(transaction_id, for_update=True)
            assert transaction is not None
            if not transaction.record_method_saved(session_id, now):
                return None  # another process ended the step meanwhile
            stored = None
            if details is not None:
                stored = await uow.saved_methods.add(SavedMethod.save(
                    id=self._ids.new_id("spm"), user_id=session.user_id, provider=provider.name,
                    payment_method=details.payment_method or session.payment_method, token=details.token,
                    label=details.label, brand=details.brand, last4=details.last4, exp_month=details.exp_month,
                    exp_year=details.exp_year, is_default=not await uow.saved_methods.has_default(session.user_id),
                    now=now))
                if stored.user_id != session.user_id:
                    log.error("provider %s answered token of another user's method for session %s; not linked",
                              provider.name, session_id)
                    stored = None
            await uow.transactions.update(transaction)
            await uow.commit()
        if stored is not None:
            log.info("stored saved method %s (%s) of session %s", stored.id, stored.label, session_id)
        return stored
