"""`POST /subscription`: turn auto-renewal on (with a saved method, by default the user's default
one, or none: renewals by reminder) or off. Only a paid plan renews (409 `invalid_state` on basic);
an unknown, deleted or someone else's saved method → 404, as everywhere saved ids are taken."""
from __future__ import annotations

import attrs

from domain.errors import SavedMethodNotFoundError
from ports.clock import Clock
from ports.unit_of_work import UnitOfWorkFactory
from ports.use_cases.plans.membership_access import current_membership
from ports.use_cases.renewals.charging import RenewalCharges
from ports.use_cases.settings import UseCaseSettings
from ports.use_cases.views import MembershipView


@attrs.frozen
class SetSubscriptionCommand:
    user_id: str
    auto_renew: bool
    saved_method_id: str | None = None


@attrs.define
class SetSubscription:
    _uow: UnitOfWorkFactory
    _charges: RenewalCharges
    _clock: Clock
    _settings: UseCaseSettings

    async def __call__(self, cmd: SetSubscriptionCommand) -> MembershipView:
        now = self._clock.now()
        catalog = self._settings.catalog
        async with self._uow() as uow:
            membership = await current_membership(uow, cmd.user_id, catalog, now, policy=self._settings.renewal)
            membership.check_renewable(catalog)
            method_id = None
            if cmd.saved_method_id is not None:
                method = await self._charges.usable(uow, cmd.user_id, cmd.saved_method_id)
                if method is None:
                    raise SavedMethodNotFoundError(cmd.saved_method_id)
                method_id = method.id
            elif cmd.auto_renew:
                method_id = await self._charges.default_method(uow, cmd.user_id)
            membership.set_auto_renew(cmd.auto_renew, method_id, catalog, self._settings.renewal, now)
            await uow.memberships.update(membership)
            await uow.commit()
        return MembershipView.of(membership)
