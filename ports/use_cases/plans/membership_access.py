"""Loading a user's membership as of now: created on first use (on the free plan) and rolled
forward to the current period, within the caller's unit of work."""
from __future__ import annotations

from datetime import datetime

from domain.catalog import Catalog
from domain.membership import Membership
from domain.renewal import DEFAULT_POLICY, RenewalPolicy
from ports.unit_of_work import UnitOfWork


async def current_membership(uow: UnitOfWork, user_id: str, catalog: Catalog, now: datetime,
                             *, for_update: bool = True, policy: RenewalPolicy = DEFAULT_POLICY) -> Membership:
    """The user's membership, locked when `for_update`. Creating or rolling it forward is
    written through the unit of work; the caller commits.

    Lock order across use cases is membership → transaction → session, so that two units of
    work touching the same user can never deadlock.
    """
    membership = await uow.memberships.get(user_id, for_update=for_update)
    if membership is None:
        membership = Membership.start(user_id, catalog.free_plan, now)
        if await uow.memberships.add(membership):
            return membership
        membership = await uow.memberships.get(user_id, for_update=for_update)  # a concurrent first use won
        assert membership is not None
    if not membership.is_current_at(now):
        membership.roll_forward(now, catalog, policy)
        await uow.memberships.update(membership)
    return membership
