"""When a saved method is deleted (`DeleteSavedMethod`'s hook, in its unit of work, under the user's
membership lock): if it was the renewal method, renewals fall back to reminders at once, so the
Membership never names a method that no longer exists (docs/renewals.md)."""
from __future__ import annotations

import attrs

from ports.clock import Clock
from ports.unit_of_work import UnitOfWork


@attrs.define
class ForgetRenewalMethod:
    _clock: Clock

    async def __call__(self, uow: UnitOfWork, user_id: str, method_id: str) -> None:
        membership = await uow.memberships.get(user_id, for_update=True)
        if membership is not None and membership.forget_renewal_method(method_id, self._clock.now()):
            await uow.memberships.update(membership)
