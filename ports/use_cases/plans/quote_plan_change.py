"""Quote a plan change: what `ChangePlan` would do for the caller at this moment (its kind, an
upgrade's proration, a downgrade's effective time), computed by the same terms, with no side
effect. Nothing is stored: a user with no membership is quoted as the basic membership first use
would create, and a pending plan change is left as it is (only a real change supersedes it).

Quoting the current plan is `unchanged` with neither figure, whether or not a change is scheduled
(re-choosing it would cancel that schedule; the membership shows it)."""
from __future__ import annotations

from datetime import datetime

import attrs

from domain.membership import Membership, PlanChangeKind
from domain.money import Currency
from ports.clock import Clock
from ports.queries import PaymentQueries
from ports.use_cases.experiments.user_prices import UserPrices, prices_for
from ports.use_cases.plans.plan_change_terms import plan_change_terms
from ports.use_cases.settings import UseCaseSettings
from ports.use_cases.views import ProrationView


@attrs.frozen
class QuotePlanChangeQuery:
    user_id: str
    new_plan: str


@attrs.frozen
class PlanChangeQuote:
    kind: PlanChangeKind
    proration: ProrationView | None
    effective_at: datetime | None
    currency: Currency


@attrs.define
class QuotePlanChange:
    _queries: PaymentQueries
    _clock: Clock
    _settings: UseCaseSettings
    _prices: UserPrices | None = None  # docs/experiments.md: quoted at the user's prices (nothing stored)

    async def __call__(self, query: QuotePlanChangeQuery) -> PlanChangeQuote:
        catalog = (await prices_for(self._prices, self._settings, query.user_id)).catalog
        new_plan = catalog.plan(query.new_plan)
        now = self._clock.now()
        terms = plan_change_terms(await self._membership_as_of(query.user_id, now), new_plan, catalog, now)
        proration = ProrationView.of(terms.proration) if terms.proration is not None else None
        return PlanChangeQuote(terms.kind, proration, terms.effective_at, catalog.currency)

    async def _membership_as_of(self, user_id: str, now: datetime) -> Membership:
        """The membership a change would start from: the stored one rolled forward to `now` (a
        copy, never written back), or the one first use would create. An unpaid upgrade has not
        changed its plan, so the quote is against the active plan."""
        catalog = self._settings.catalog
        membership = await self._queries.membership(user_id)
        if membership is None:
            return Membership.start(user_id, catalog.free_plan, now)
        membership.roll_forward(now, catalog, self._settings.renewal)
        return membership
