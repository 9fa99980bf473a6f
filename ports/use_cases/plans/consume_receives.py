"""Consume receives for a match (called by the main backend, role `service`): idempotent by the
caller's `reference`, all or nothing, the allowance first."""
from __future__ import annotations

import attrs

from domain.errors import DomainValidationError
from ports.clock import Clock
from ports.unit_of_work import UnitOfWorkFactory
from ports.use_cases.plans.membership_access import current_membership
from ports.use_cases.settings import UseCaseSettings
from ports.use_cases.views import MembershipView


@attrs.frozen
class ConsumeReceivesCommand:
    user_id: str
    count: int
    reference: str


@attrs.define
class ConsumeReceives:
    _uow: UnitOfWorkFactory
    _clock: Clock
    _settings: UseCaseSettings

    async def __call__(self, cmd: ConsumeReceivesCommand) -> MembershipView:
        if type(cmd.count) is not int or not 1 <= cmd.count <= 100:
            raise DomainValidationError("Must be between 1 and 100.", field="count")
        if not 1 <= len(cmd.reference) <= 255:
            raise DomainValidationError("Must be 1 to 255 characters.", field="reference")
        now = self._clock.now()
        async with self._uow() as uow:
            membership = await current_membership(uow, cmd.user_id, self._settings.catalog, now, policy=self._settings.renewal)
            if await uow.consumptions.add(cmd.user_id, cmd.reference, cmd.count, now):
                membership.consume(cmd.count, cmd.reference, now)  # InsufficientReceivesError: all rolled back
                await uow.memberships.update(membership)
            # else: this reference was consumed before: nothing more, answer the current state
            await uow.commit()
        return MembershipView.of(membership)
