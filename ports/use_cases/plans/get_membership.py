"""The caller's membership as of now (created on `basic` at first use, rolled to the current period)."""
from __future__ import annotations

import attrs

from ports.clock import Clock
from ports.queries import PaymentQueries
from ports.unit_of_work import UnitOfWorkFactory
from ports.use_cases.plans.membership_access import current_membership
from ports.use_cases.settings import UseCaseSettings
from ports.use_cases.views import MembershipView


@attrs.frozen
class GetMembershipQuery:
    user_id: str


@attrs.define
class GetMembership:
    _queries: PaymentQueries
    _uow: UnitOfWorkFactory
    _clock: Clock
    _settings: UseCaseSettings

    async def __call__(self, query: GetMembershipQuery) -> MembershipView:
        now = self._clock.now()
        existing = await self._queries.membership(query.user_id)
        if existing is not None and existing.is_current_at(now):
            return MembershipView.of(existing)  # the common case: a plain read, no lock
        async with self._uow() as uow:
            membership = await current_membership(uow, query.user_id, self._settings.catalog, now, policy=self._settings.renewal)
            await uow.commit()
        return MembershipView.of(membership)
