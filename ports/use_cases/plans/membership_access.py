"""Loading a user's membership as of now: created on first use (on the free plan) and rolled
forward to the current period, within the caller's unit of work."""
from __future__ import annotations

import dataclasses
from datetime import datetime

from domain.catalog import Catalog
from domain.membership import Membership
from domain.renewal import DEFAULT_POLICY, RenewalPolicy
from ports.repositories import OrderOwner
from ports.unit_of_work import UnitOfWork


async def current_membership(uow: UnitOfWork, user_id: str, catalog: Catalog, now: datetime,
                             *, for_update: bool = True, policy: RenewalPolicy = DEFAULT_POLICY) -> Membership:
    """The user's membership, locked when `for_update`. Creating or rolling it forward is
    written through the unit of work; the caller commits.

    Lock order across use cases is membership → transaction → session, so that two units of
    work touching the same user can never deadlock.
    """
    membership = await uow.memberships.get(user_id, for_update=for_update)
    return await _made_current(uow, user_id, membership, catalog, now, for_update=for_update, policy=policy)


async def membership_of_order(uow: UnitOfWork, order_id: str, catalog: Catalog, now: datetime,
                              *, policy: RenewalPolicy = DEFAULT_POLICY,
                              with_transaction: bool = False) -> tuple[OrderOwner, Membership] | None:
    """Who the provider order `order_id` belongs to, with their membership, current and locked,
    found in one read (`MembershipRepository.lock_for_order`); None when no session has that order
    id. The first lock of the order membership → transaction → session, as `current_membership`.
    With `with_transaction`, `OrderOwner.transaction` is the order's transaction, locked next
    (in the same read when the membership existed, else once it was created)."""
    owner = await uow.memberships.lock_for_order(order_id, with_transaction=with_transaction)
    if owner is None:
        return None
    membership = await _made_current(uow, owner.user_id, owner.membership, catalog, now, for_update=True,
                                     policy=policy)
    if with_transaction and owner.transaction is None:  # the membership was created just now
        owner = dataclasses.replace(owner, transaction=await uow.transactions.get(owner.transaction_id,
                                                                                  for_update=True))
    return owner, membership


async def _made_current(uow: UnitOfWork, user_id: str, membership: Membership | None, catalog: Catalog,
                        now: datetime, *, for_update: bool, policy: RenewalPolicy) -> Membership:
    """`membership` as read (None: the user has none yet), created or rolled forward to `now`."""
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
