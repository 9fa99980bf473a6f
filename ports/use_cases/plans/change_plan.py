"""Change plan: upgrade (prorated, paid through a session), downgrade (scheduled for the period
end, settled at once with a zero transaction) or re-choose the current plan (cancels a scheduled
change). A new plan change cancels the user's earlier pending plan-change transaction.

What a change would do (its kind, proration, effective time) comes from `plan_change_terms`, which
QuotePlanChange reports without acting on it.

An upgrade with `saved_method_id` is paid at once by an off-session charge of that saved method
(docs/saved-methods.md); with `save_method` the method is kept when the upgrade is paid."""
from __future__ import annotations

from datetime import datetime

import attrs

from domain.catalog import Plan
from domain.errors import DomainValidationError, PlanUnchangedError, TooManyPendingError
from domain.membership import Membership, PlanChangeKind, Proration
from domain.money import Money
from domain.session import PaymentSession
from domain.transaction import Transaction
from ports.clock import Clock
from ports.ids import IdGenerator
from ports.payment_provider import ProviderRegistry
from ports.unit_of_work import UnitOfWork, UnitOfWorkFactory
from ports.use_cases.plans.membership_access import current_membership
from ports.use_cases.plans.plan_change_terms import plan_change_terms
from ports.use_cases.sessions.flows import check_flow_if_served, choose_flow
from ports.use_cases.sessions.provider_orders import ProviderOrders, order_lines
from ports.use_cases.risk.gate import RiskGate
from ports.use_cases.experiments.user_prices import UserPrices, expose, prices_for
from ports.use_cases.sessions.saving import OneClickCharges, check_can_save
from ports.use_cases.settings import UseCaseSettings
from ports.use_cases.views import MembershipView, ProrationView, SessionView, TransactionView


@attrs.frozen
class ChangePlanCommand:
    user_id: str
    new_plan: str
    payment_method: str | None = None
    return_url: str | None = None
    flow: str | None = None  # qr_code | redirect | mobile_redirect; default the method's first
    save_method: bool = False  # keep the method when the upgrade is paid (docs/saved-methods.md)
    saved_method_id: str | None = None  # pay the upgrade at once with this saved method (instead of payment_method)


@attrs.frozen
class UpgradeStarted:
    """`session` is None when nothing was due (a prorated charge that rounds to 0 fen): the
    upgrade then took effect at once and its transaction is already `succeeded`."""

    transaction: TransactionView
    session: SessionView | None
    proration: ProrationView


@attrs.frozen
class DowngradeScheduled:
    transaction: TransactionView
    effective_at: datetime


@attrs.frozen
class ScheduledChangeCancelled:
    membership: MembershipView


PlanChangeResult = UpgradeStarted | DowngradeScheduled | ScheduledChangeCancelled


@attrs.define
class ChangePlan:
    _uow: UnitOfWorkFactory
    _providers: ProviderRegistry
    _orders: ProviderOrders
    _clock: Clock
    _ids: IdGenerator
    _settings: UseCaseSettings
    _risk: RiskGate | None = None  # docs/risk.md: asked before a payment is opened
    _prices: UserPrices | None = None  # docs/experiments.md: the user's variant prices it (None: the catalog)
    _charges: OneClickCharges | None = None  # docs/saved-methods.md: upgrades paid with a saved method

    async def __call__(self, cmd: ChangePlanCommand) -> PlanChangeResult:
        priced = await prices_for(self._prices, self._settings, cmd.user_id)
        catalog = priced.catalog
        new_plan = catalog.plan(cmd.new_plan)
        return_url = self._settings.check_return_url(cmd.return_url)
        saved = None
        if cmd.saved_method_id is not None and self._charges is not None:  # one-click: 404 before anything
            saved = await self._charges.resolve(cmd.user_id, cmd.saved_method_id)
            cmd = attrs.evolve(cmd, payment_method=saved[0].payment_method, save_method=False)
        # Like a return_url, a flow is checked whatever the change turns out to be (a downgrade
        # ignores it): the same request may need a payment another time.
        check_flow_if_served(self._providers, cmd.payment_method, cmd.flow)
        now = self._clock.now()
        await expose(self._prices, priced)  # a change at the variant's prices: exposed to it
        async with self._uow() as uow:
            membership = await current_membership(uow, cmd.user_id, catalog, now, policy=self._settings.renewal)
            terms = plan_change_terms(membership, new_plan, catalog, now)
            kind = terms.kind
            if kind is PlanChangeKind.UNCHANGED:
                if not membership.cancel_scheduled_change(now):
                    raise PlanUnchangedError(new_plan.id.value)
                await uow.memberships.update(membership)
                await uow.commit()
                return ScheduledChangeCancelled(MembershipView.of(membership))
            if kind is PlanChangeKind.UPGRADE:
                if cmd.payment_method is None:
                    raise DomainValidationError("Required for an upgrade.", field="payment_method")
                provider = saved[1] if saved is not None else self._providers.for_method(cmd.payment_method)
                check_can_save(provider, cmd.payment_method, cmd.save_method)
                flow = choose_flow(provider, cmd.payment_method, cmd.flow)
                if self._risk is not None and terms.proration is not None:  # its flag waits for this rollback
                    await self._risk.admit(cmd.user_id, terms.proration.charge.amount, now, defer_flag=True)
                self._orders.admit(provider.name)  # an open circuit refuses at once (rolled back)
            superseded = await self._cancel_pending_plan_changes(uow, cmd.user_id, now)
            plan_from = membership.plan
            if kind is PlanChangeKind.DOWNGRADE:
                transaction = Transaction.plan_downgrade(
                    id=self._ids.new_id("txn"), order_id=self._ids.new_order_id("P", now), user_id=cmd.user_id,
                    plan_from=plan_from, plan_to=new_plan.id, zero=Money.zero(catalog.currency), now=now,
                    price_variant=priced.price_variant)
                change = membership.schedule_change(new_plan, now)
                await uow.transactions.add(transaction)
                await uow.memberships.update(membership)
                await uow.commit()
                await self._orders.close(superseded)
                return DowngradeScheduled(TransactionView.of(transaction), change.effective_at)
            proration = terms.proration
            assert proration is not None  # an upgrade's terms always carry one
            if proration.charge.is_zero:
                return await self._upgrade_for_free(uow, membership, new_plan, proration, cmd, superseded, now,
                                                    priced.price_variant)
            transaction = Transaction.plan_upgrade(
                id=self._ids.new_id("txn"), order_id=self._ids.new_order_id("P", now), user_id=cmd.user_id,
                plan_from=plan_from, plan_to=new_plan.id, proration=proration,
                payment_method=cmd.payment_method, provider=provider.name, now=now,
                price_variant=priced.price_variant)
            session = transaction.open_session(
                id=self._ids.new_id("ps"), order_id=self._ids.new_order_id("S", now),
                payment_method=cmd.payment_method, provider=provider.name, return_url=return_url,
                ttl=self._settings.session_ttl, now=now, flow=flow.value, save_method=cmd.save_method,
                saved_method_id=cmd.saved_method_id).session
            if await uow.transactions.add(transaction) >= self._settings.max_pending:
                raise TooManyPendingError(self._settings.max_pending)  # the unit of work rolls back
            await uow.commit()
        await self._orders.close(superseded)
        if session.off_session and self._charges is not None:  # paid at once with the saved method
            transaction, for_payer = await self._charges.one_click(transaction, session, return_url)
            return UpgradeStarted(TransactionView.of(transaction),
                                  SessionView.of(for_payer, self._clock.now()) if for_payer else None,
                                  ProrationView.of(proration))
        session = await self._orders.open(session, transaction.description, order_lines(transaction))
        return UpgradeStarted(TransactionView.of(transaction), SessionView.of(session, self._clock.now()),
                              ProrationView.of(proration))

    async def _upgrade_for_free(self, uow: UnitOfWork, membership: Membership, new_plan: Plan,
                                proration: Proration, cmd: ChangePlanCommand, superseded: list[PaymentSession],
                                now: datetime, price_variant: str | None = None) -> UpgradeStarted:
        """Near a period's end the prorated charge can round to nothing: like a zero-amount
        invoice, it is settled at once without a payment session."""
        transaction = Transaction.plan_upgrade(
            id=self._ids.new_id("txn"), order_id=self._ids.new_order_id("P", now), user_id=cmd.user_id,
            plan_from=membership.plan, plan_to=new_plan.id, proration=proration,
            payment_method=cmd.payment_method, provider=None, now=now, price_variant=price_variant)
        transaction.mark_paid(None, now)
        membership.apply_upgrade(new_plan, self._settings.catalog, now)
        await uow.transactions.add(transaction)
        await uow.memberships.update(membership)
        await uow.commit()
        await self._orders.close(superseded)
        return UpgradeStarted(TransactionView.of(transaction), None, ProrationView.of(proration))

    async def _cancel_pending_plan_changes(self, uow: UnitOfWork, user_id: str, now: datetime) -> list[PaymentSession]:
        """Cancel the user's pending plan changes; returns their sessions that were open."""
        closed: list[PaymentSession] = []
        for earlier in await uow.transactions.list_pending_plan_changes(user_id, for_update=True):
            closed.extend(earlier.cancel("superseded by a new plan change", now))
            await uow.transactions.update(earlier)
        return closed
