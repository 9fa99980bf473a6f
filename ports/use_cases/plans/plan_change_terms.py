"""What a plan change would do to a membership as of `now`: its kind, an upgrade's proration, a
downgrade's effective time. ChangePlan acts on these terms and QuotePlanChange only reports them,
so a quote and a change made at the same moment cannot disagree."""
from __future__ import annotations

from datetime import datetime

import attrs

from domain.catalog import Catalog, Plan
from domain.membership import Membership, PlanChangeKind, Proration


@attrs.frozen
class PlanChangeTerms:
    """`proration` is set for an upgrade only; `effective_at` (the current period's end, when a
    downgrade takes effect) for a downgrade only; an unchanged plan has neither."""

    kind: PlanChangeKind
    proration: Proration | None
    effective_at: datetime | None


def plan_change_terms(membership: Membership, new_plan: Plan, catalog: Catalog, now: datetime) -> PlanChangeTerms:
    """The terms of moving `membership` (rolled forward to `now`) to `new_plan`. Pure: changes nothing."""
    kind = membership.classify_change(new_plan, catalog)
    if kind is PlanChangeKind.UPGRADE:
        return PlanChangeTerms(kind, membership.quote_upgrade(new_plan, catalog, now), None)
    if kind is PlanChangeKind.DOWNGRADE:
        return PlanChangeTerms(kind, None, membership.current_period_end)
    return PlanChangeTerms(kind, None, None)
