"""The renewal job (docs/renewals.md): every process runs it; each round claims the memberships whose
`renewal_check_at` is due (`FOR UPDATE SKIP LOCKED`, so processes split the work) and moves each one
step on, idempotently:

- a paid plan with auto-renewal and no renewal method: `PAYMENTS_RENEWAL_NOTICE_DAYS` before the
  period end its `plan_renewal` is opened, pending, to be paid through a session
  (`membership.renewal_due`);
- with a renewal method: at the period end (the membership then awaits its renewal) an off-session
  attempt is opened in the same unit of work as the renewal, committed, then charged outside it
  (`RenewalCharges`); a declined charge leaves the renewal pending and the membership `past_due`
  (`membership.past_due`), and is retried on `PAYMENTS_RENEWAL_RETRY_DAYS`;
- a renewal that no longer fits (the plan lapsed, was refunded, a move to basic) is cancelled, or
  `failed` once its grace period is over (the membership is then basic: `Membership.roll_forward`).

At most one renewal per user and period: the job holds the membership's lock when it opens one and
looks for it first, and the unique index (user_id, renewal_period_start) refuses a second whatever
happens. A charge in flight is leased (`CHARGE_LEASE`): a process killed mid-charge leaves the
attempt open; after the lease it is charged again under the same order id (the provider's
idempotency key), and the reconciler queries it meanwhile, so it is charged once.
"""
from __future__ import annotations

import logging
from datetime import datetime, timedelta

import attrs

from domain.catalog import Plan
from domain.errors import ProviderError
from domain.membership import Membership
from domain.risk import RiskDeclinedError
from domain.session import PaymentSession, SessionStatus
from domain.transaction import Transaction, TransactionStatus, TransactionType
from ports.clock import Clock
from ports.ids import IdGenerator
from ports.queries import PaymentQueries, TransactionQuery
from ports.repositories import DuplicateKeyError
from ports.unit_of_work import UnitOfWork, UnitOfWorkFactory
from ports.use_cases.experiments.user_prices import UserPrices, prices_for
from ports.use_cases.renewals.charging import RenewalCharges, RenewalMethod
from ports.use_cases.risk.gate import RiskGate
from ports.use_cases.sessions.provider_orders import ProviderOrders
from ports.use_cases.settings import UseCaseSettings

log = logging.getLogger("payments.renewals")

CHARGE_LEASE = timedelta(minutes=10)  # an attempt in flight is not charged again before this
UNPAID = "renewal_unpaid"             # failure_reason of a renewal still unpaid when its grace ended
NO_LONGER_DUE = "renewal no longer due"
ERROR_BACKOFF = timedelta(minutes=5)  # a membership whose visit failed is looked at again then


@attrs.define
class RenewalReport:
    visited: int = 0
    opened: int = 0      # renewals opened (with or without a method)
    charged: int = 0     # off-session attempts charged
    failed: int = 0      # renewals failed at the end of their grace
    cancelled: int = 0   # renewals that no longer fit


@attrs.define
class _Step:
    charges: list[tuple[str, str]] = attrs.field(factory=list)  # (transaction id, attempt session id)
    to_close: list[PaymentSession] = attrs.field(factory=list)


@attrs.define
class RenewMemberships:
    _uow: UnitOfWorkFactory
    _charges: RenewalCharges
    _orders: ProviderOrders
    _clock: Clock
    _ids: IdGenerator
    _settings: UseCaseSettings
    _queries: PaymentQueries | None = None  # the method last paid with: a reminder's default
    _prices: UserPrices | None = None  # docs/experiments.md: the user's variant prices it (None: the catalog)
    _risk: RiskGate | None = None  # docs/risk.md: asked before each off-session charge, as before any payment
    batch_size: int = 50
    lease: timedelta = CHARGE_LEASE

    async def __call__(self) -> RenewalReport:
        """One round: every membership due now (in batches), then the charges it opened."""
        report = RenewalReport()
        while True:
            now = self._clock.now()
            step, claimed = _Step(), []
            try:
                async with self._uow() as uow:
                    memberships = await uow.memberships.claim_due_renewals(now, self.batch_size)
                    claimed = [m.user_id for m in memberships]
                    for membership in memberships:
                        await self._visit(uow, membership, now, step, report)
                    await uow.commit()
            except Exception:
                if not claimed:
                    raise  # the claim itself failed (the database is away): the next round retries
                log.exception("renewal round of %d memberships failed; each is tried alone", len(claimed))
                step = _Step()
                for user_id in claimed:
                    await self._alone(user_id, now, step, report)
            await self._after(step, report)
            if len(claimed) < self.batch_size:
                return report

    async def _alone(self, user_id: str, now: datetime, step: _Step, report: RenewalReport) -> None:
        """One membership of a batch that failed, in its own unit of work; one that fails again is
        put off (`ERROR_BACKOFF`), so it never holds the others back."""
        alone = _Step()
        try:
            async with self._uow() as uow:
                membership = await uow.memberships.get(user_id, for_update=True)
                if membership is None or membership.renewal_check_at is None or membership.renewal_check_at > now:
                    return
                await self._visit(uow, membership, now, alone, report)
                await uow.commit()
        except Exception:
            log.exception("renewal of %s failed; tried again in %s", user_id, ERROR_BACKOFF)
            async with self._uow() as uow:
                membership = await uow.memberships.get(user_id, for_update=True)
                if membership is not None:
                    membership.schedule_renewal_check(now + ERROR_BACKOFF)
                    await uow.memberships.update(membership)
                    await uow.commit()
            return
        step.charges.extend(alone.charges)
        step.to_close.extend(alone.to_close)

    async def settle(self, user_id: str) -> None:
        """Look at one user's membership now (after a charge: past_due and the next retry when it
        was declined; nothing when it was paid, which renewed it)."""
        now = self._clock.now()
        step = _Step()
        async with self._uow() as uow:
            membership = await uow.memberships.get(user_id, for_update=True)
            if membership is None:
                return
            await self._visit(uow, membership, now, step, RenewalReport(), charge=False)
            await uow.commit()
        await self._orders.close(step.to_close)

    async def _after(self, step: _Step, report: RenewalReport) -> None:
        await self._orders.close(step.to_close)
        for transaction_id, session_id in step.charges:
            report.charged += 1
            try:
                await self._charges.charge(transaction_id, session_id)
            except ProviderError as error:  # outcome unknown: the lease runs out, the same attempt again
                log.warning("renewal %s: charge %s failed (%s); it will be tried again", transaction_id,
                            session_id, error.code)
                continue
            user_id = await self._owner(transaction_id)
            if user_id is not None:
                await self.settle(user_id)

    async def _owner(self, transaction_id: str) -> str | None:
        async with self._uow() as uow:
            transaction = await uow.transactions.get(transaction_id)
        return transaction.user_id if transaction else None

    # ---------------------------------------------------------------------------- one membership
    async def _visit(self, uow: UnitOfWork, membership: Membership, now: datetime, step: _Step,
                     report: RenewalReport, *, charge: bool = True) -> None:
        catalog, policy = self._settings.catalog, self._settings.renewal
        report.visited += 1
        if not membership.is_current_at(now):
            membership.roll_forward(now, catalog, policy)
        await self._tidy(uow, membership, now, step, report)
        membership.schedule_renewal_check(None)
        if membership.awaiting_renewal:
            await self._awaited(uow, membership, now, step, report, charge)
        elif membership.next_period_paid:
            membership.schedule_renewal_check(membership.current_period_end)
        elif catalog.plan(membership.plan).is_paid and (plan := membership.renewal_plan(catalog)) is not None:
            await self._coming(uow, membership, plan, now, report)
        await uow.memberships.update(membership)

    async def _tidy(self, uow: UnitOfWork, membership: Membership, now: datetime, step: _Step,
                    report: RenewalReport) -> None:
        """Pending renewals the membership no longer awaits: failed once their grace is over, else
        cancelled (their open orders closed after the commit)."""
        catalog, policy = self._settings.catalog, self._settings.renewal
        for renewal in await uow.transactions.pending_renewals(membership.user_id):
            assert renewal.renewal_period_start is not None and renewal.plan_to is not None
            if membership.renewal_fits(renewal.plan_to, renewal.renewal_period_start, catalog, now):
                continue
            if now >= policy.grace_until(renewal.renewal_period_start):
                step.to_close.extend(renewal.replace_open_sessions(now))
                renewal.fail(UNPAID, now)
                report.failed += 1
                log.info("renewal %s of %s unpaid at the end of its grace: failed", renewal.id, renewal.user_id)
            else:
                step.to_close.extend(renewal.cancel(NO_LONGER_DUE, now))
                report.cancelled += 1
            await uow.transactions.update(renewal)

    async def _coming(self, uow: UnitOfWork, membership: Membership, plan: Plan, now: datetime,
                      report: RenewalReport) -> None:
        """Before the period end: nothing to do with a renewal method (charged at the end); without
        one, the renewal is opened `notice_days` before the end for the payer to pay."""
        end = membership.current_period_end
        if await self._method(uow, membership, now) is not None:
            membership.schedule_renewal_check(end)
            return
        notice = self._settings.renewal.notice_at(end)
        if now < notice:
            membership.schedule_renewal_check(notice)
            return
        if await uow.transactions.renewal_for(membership.user_id, end) is None:
            if await self._open(uow, membership, plan, end, None, now) is not None:
                membership.renewal_opened(now)
                report.opened += 1
        membership.schedule_renewal_check(end)

    async def _awaited(self, uow: UnitOfWork, membership: Membership, now: datetime, step: _Step,
                       report: RenewalReport, charge: bool) -> None:
        """The period began unpaid: open its renewal if need be, and charge the renewal method at
        the period end and on each retry day; without one the payer pays it, or it lapses."""
        policy = self._settings.renewal
        start, grace_until = membership.current_period_start, membership.grace_until
        assert grace_until is not None
        membership.schedule_renewal_check(grace_until)
        method = await self._method(uow, membership, now)
        renewal = await uow.transactions.renewal_for(membership.user_id, start)
        plan = membership.renewal_plan(self._settings.catalog)
        if renewal is None and plan is not None:
            renewal = await self._open(uow, membership, plan, start, method, now)
            if renewal is not None:
                report.opened += 1
                if method is None:
                    membership.renewal_opened(now)
        if renewal is None or not renewal.is_pending:
            return
        if method is None or not membership.auto_renew:
            membership.renewal_declined(now)  # nobody charges it: past_due until paid or lapsed
            return
        attempts = [s for s in renewal.sessions if s.off_session]
        in_flight = next((s for s in attempts if s.status is SessionStatus.OPEN), None)
        if in_flight is not None:
            if now < in_flight.created_at + self.lease or not charge:
                membership.schedule_renewal_check(min(in_flight.created_at + self.lease, grace_until))
                return
            step.charges.append((renewal.id, in_flight.id))  # outcome unknown: the same order id again
            membership.schedule_renewal_check(min(now + self.lease, grace_until))
            return
        latest_due = max([start, *(start + timedelta(days=d) for d in policy.retry_days
                                   if start + timedelta(days=d) <= now)])
        tried = any(s.saved_method_id == method.id and s.created_at >= latest_due for s in attempts)
        if not tried and charge and await self._admitted(membership.user_id, renewal, now):
            session_id = self._charges.open_attempt(renewal, method)
            await uow.transactions.update(renewal)
            step.charges.append((renewal.id, session_id))
            membership.schedule_renewal_check(min(now + self.lease, grace_until))
            return
        if attempts or (not tried and charge):  # declined by the provider, or by the risk gate
            membership.renewal_declined(now)
        next_charge = policy.next_charge_at(start, now)
        membership.schedule_renewal_check(min(next_charge, grace_until) if next_charge else grace_until)

    async def _admitted(self, user_id: str, renewal: Transaction, now: datetime) -> bool:
        """Whether the risk gate lets the renewal be charged now (a blocked user, or one over the
        velocity limits, is not charged: the renewal goes past_due and is asked again on the next
        retry day, or the payer pays it through a session, which the gate checks too)."""
        if self._risk is None:
            return True
        try:
            await self._risk.admit(user_id, renewal.total.amount, now, defer_flag=True)
        except RiskDeclinedError as declined:
            log.warning("renewal %s of %s not charged: risk declined (%s)", renewal.id, user_id, declined)
            return False
        return True

    async def _method(self, uow: UnitOfWork, membership: Membership, now: datetime) -> RenewalMethod | None:
        """The renewal method if it can still be charged; a deleted one is forgotten (reminders)."""
        if membership.renewal_method_id is None:
            return None
        method = await self._charges.usable(uow, membership.user_id, membership.renewal_method_id)
        if method is None:
            membership.forget_renewal_method(membership.renewal_method_id, now)
        return method

    async def _open(self, uow: UnitOfWork, membership: Membership, plan: Plan, period_start: datetime,
                    method: RenewalMethod | None, now: datetime) -> Transaction | None:
        """The renewal for the period starting `period_start`, at the plan's full price in the
        prices the user sees (their price variant, as a plan change is priced); None when one
        exists already (the unique index refused a second)."""
        priced = await prices_for(self._prices, self._settings, membership.user_id)
        renewal = Transaction.plan_renewal(
            id=self._ids.new_id("txn"), order_id=self._ids.new_order_id("P", now), user_id=membership.user_id,
            plan_from=membership.plan, plan_to=plan.id, price=priced.catalog.plan(plan.id).price,
            price_variant=priced.price_variant,
            period_start=period_start,
            payment_method=method.payment_method if method else await self._last_paid_with(membership.user_id),
            provider=method.provider if method else None, now=now)
        try:
            await uow.transactions.add(renewal)
        except DuplicateKeyError:
            log.warning("renewal of %s for %s exists already: not opened twice", membership.user_id, period_start)
            return None
        log.info("renewal %s of %s opened for the period from %s (%s)", renewal.id, membership.user_id,
                 period_start, "charged off-session" if method else "by reminder")
        return renewal

    async def _last_paid_with(self, user_id: str) -> str | None:
        """The payment method of the user's latest paid plan transaction: what a session of a
        renewal paid by reminder uses unless the payer picks another (`POST /sessions`)."""
        if self._queries is None:
            return None
        paid, _ = await self._queries.history(user_id, TransactionQuery(
            types=(TransactionType.PLAN_UPGRADE, TransactionType.PLAN_RENEWAL),
            statuses=(TransactionStatus.SUCCEEDED,), limit=1))
        return paid[0].payment_method if paid else None

