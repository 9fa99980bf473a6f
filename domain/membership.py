"""The membership aggregate: a user's plan, its monthly periods and their receives balance.

Invariants:
- Every membership, basic included, runs in monthly anniversary periods from its `anchor`
  (see `domain.period`). The allowance is granted at each period start, never rolls over, and
  what is left of it expires at the period end.
- `balance = allowance_remaining + purchased_remaining`, neither bucket is ever negative, and
  every change of either is recorded as a `LedgerEntry` in `new_entries`, so the balance always
  equals the sum of the user's ledger.
- Consumption takes the allowance first.
- An upgrade from the free plan starts a new period when paid. An upgrade between paid plans
  keeps the period end and applies the new allowance at once, less what was used this period.
- Downgrades are scheduled for the period end; choosing the current plan cancels the schedule.
- Auto-renewal (docs/renewals.md): without `auto_renew`, or with a scheduled move to the free plan,
  a paid period that ends falls back to the free plan. With it, the membership enters the next
  period *awaiting its renewal payment* (`grace_until` set): it keeps its plan and what is left of
  the old allowance; it is `past_due` at once without a renewal method, and once a charge of the
  method was declined (`renewal_declined`). A paid renewal (`apply_renewal`) grants the new
  allowance in that period, which started at the old period end; a renewal paid before the end
  (`prepay_renewal`) starts the next period as any period does. Unpaid at `grace_until`, the
  membership is on the free plan from then. `renewal_check_at` is when the renewal job must next
  look at the membership (kept up to date by every method here).

Methods take `now`; the domain never reads a clock. A membership must be `roll_forward`-ed to
`now` before it is changed (`PeriodNotCurrentError` otherwise).
"""
from __future__ import annotations

import enum
from datetime import datetime
from fractions import Fraction

import attrs

from domain import events
from domain.catalog import Catalog, Plan, PlanId
from domain.errors import DomainValidationError, InsufficientReceivesError, InvalidTransitionError
from domain.ledger import Balance, Bucket, LedgerEntry, LedgerKind
from domain.money import Money
from domain.period import period_bounds, period_index_at, whole_seconds
from domain.renewal import DEFAULT_POLICY, RenewalPolicy


class PeriodNotCurrentError(RuntimeError):
    """A programming error: the membership was changed without being rolled forward to `now`."""


class MembershipStatus(str, enum.Enum):
    ACTIVE = "active"
    PAST_DUE = "past_due"


class PlanChangeKind(str, enum.Enum):
    UPGRADE = "upgrade"
    DOWNGRADE = "downgrade"
    UNCHANGED = "unchanged"


@attrs.frozen
class ScheduledChange:
    plan: PlanId
    effective_at: datetime


@attrs.frozen
class Proration:
    """What an upgrade costs: `charge = debit − credit`.

    Between paid plans, with r = remaining seconds ÷ period seconds: credit = old price × r and
    debit = new price × r, each rounded half-up to the fen; `period_end` is kept. From the free
    plan: credit 0, debit = charge = the full price, `period_end` None (a new period starts).
    """

    credit: Money
    debit: Money
    charge: Money
    period_end: datetime | None


@attrs.define(eq=False)
class Membership:
    user_id: str
    _plan: PlanId
    _monthly_allowance: int
    _anchor: datetime
    _period_index: int
    _allowance_remaining: int
    _allowance_used: int
    _purchased_remaining: int
    _scheduled_change: ScheduledChange | None
    created_at: datetime
    updated_at: datetime
    version: int = 0
    _auto_renew: bool = False
    _renewal_method_id: str | None = None
    _status: MembershipStatus = MembershipStatus.ACTIVE
    _grace_until: datetime | None = None       # set while the current period's renewal is unpaid
    _next_period_paid: bool = False            # a renewal was paid before the period end
    _renewal_check_at: datetime | None = None  # when the renewal job must next look at it
    events: list[events.Event] = attrs.field(factory=list)
    new_entries: list[LedgerEntry] = attrs.field(factory=list)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Membership) and other.user_id == self.user_id

    def __hash__(self) -> int:
        return hash(self.user_id)

    # ------------------------------------------------------------------ construction
    @classmethod
    def start(cls, user_id: str, plan: Plan, now: datetime) -> Membership:
        """A new membership on `plan` whose first period starts `now` (first use)."""
        membership = cls(
            user_id=user_id, plan=plan.id, monthly_allowance=0, anchor=now, period_index=0,
            allowance_remaining=0, allowance_used=0, purchased_remaining=0, scheduled_change=None,
            created_at=now, updated_at=now,
        )
        membership._begin_period(plan, now)
        return membership

    # ------------------------------------------------------------------ reading
    @property
    def plan(self) -> PlanId:
        return self._plan

    @property
    def status(self) -> MembershipStatus:
        return self._status

    @property
    def auto_renew(self) -> bool:
        return self._auto_renew

    @property
    def renewal_method_id(self) -> str | None:
        return self._renewal_method_id

    @property
    def grace_until(self) -> datetime | None:
        return self._grace_until

    @property
    def awaiting_renewal(self) -> bool:
        """The current period started unpaid: its renewal is due (until `grace_until`)."""
        return self._grace_until is not None

    @property
    def next_period_paid(self) -> bool:
        return self._next_period_paid

    @property
    def renewal_check_at(self) -> datetime | None:
        return self._renewal_check_at

    @property
    def next_renewal_at(self) -> datetime | None:
        """The period end a renewal is charged for (the contract's `next_renewal_at`)."""
        return self.current_period_end if self._auto_renew else None

    def renewal_plan(self, catalog: Catalog) -> Plan | None:
        """The plan the coming (or, while awaited, the current) renewal is for: the plan after a
        scheduled change; None when nothing renews (no auto-renewal, or the free plan next)."""
        if not self._auto_renew:
            return None
        plan = catalog.plan(self._scheduled_change.plan if self._scheduled_change else self._plan)
        return plan if plan.is_paid else None

    def renewal_period_start(self) -> datetime:
        """The start of the period the coming renewal pays for: the current one while it is
        awaited, else the next one (the current period's end)."""
        return self.current_period_start if self.awaiting_renewal else self.current_period_end

    @property
    def monthly_allowance(self) -> int:
        return self._monthly_allowance

    @property
    def anchor(self) -> datetime:
        return self._anchor

    @property
    def period_index(self) -> int:
        return self._period_index

    @property
    def current_period_start(self) -> datetime:
        return period_bounds(self._anchor, self._period_index)[0]

    @property
    def current_period_end(self) -> datetime:
        return period_bounds(self._anchor, self._period_index)[1]

    @property
    def allowance_remaining(self) -> int:
        return self._allowance_remaining

    @property
    def allowance_used(self) -> int:
        return self._allowance_used

    @property
    def purchased_remaining(self) -> int:
        return self._purchased_remaining

    @property
    def balance(self) -> Balance:
        return Balance(self._allowance_remaining, self._purchased_remaining)

    @property
    def scheduled_change(self) -> ScheduledChange | None:
        return self._scheduled_change

    def is_current_at(self, now: datetime) -> bool:
        return now < self.current_period_end and (self._grace_until is None or now < self._grace_until)

    # ------------------------------------------------------------------ periods
    def roll_forward(self, now: datetime, catalog: Catalog, policy: RenewalPolicy = DEFAULT_POLICY) -> None:
        """Move to the period that contains `now`: expire the old allowance, apply a scheduled
        change (or the lapse of an unrenewed paid plan) at the first boundary, grant the new
        allowance. Periods skipped entirely leave no entries (nothing was granted in them).
        A paid plan with auto-renewal enters the next period awaiting its renewal instead (see the
        module docstring), and an awaited renewal still unpaid at `grace_until` lapses then."""
        if self.is_current_at(now):
            return
        if self.awaiting_renewal:
            self._lapse_unpaid(catalog, now)
            return
        boundary = self.current_period_end
        renewing = self.renewal_plan(catalog) if catalog.plan(self._plan).is_paid else None
        if renewing is not None and not self._next_period_paid:
            self._await_renewal(boundary, policy, now)
            if not self.is_current_at(now):
                self._lapse_unpaid(catalog, now)
            return
        self._entry(LedgerKind.ALLOWANCE_EXPIRY, Bucket.ALLOWANCE, -self._allowance_remaining,
                    self._period_reference(), now)
        self._allowance_remaining = 0
        next_plan = catalog.plan(self._plan)
        if self._scheduled_change is not None and self._scheduled_change.effective_at <= boundary:
            next_plan = catalog.plan(self._scheduled_change.plan)
            self._scheduled_change = None
            reason = "scheduled_change"
        else:
            reason = "lapsed"
        if next_plan.is_paid and not self._next_period_paid:  # not renewed: back to the free plan
            next_plan, reason = catalog.free_plan, "lapsed"
        elif self._next_period_paid:
            reason = "renewal"
        if next_plan.id != self._plan:
            self.events.append(events.PlanChanged(now, self.user_id, self._plan.value, next_plan.id.value, reason))
            self._plan = next_plan.id
        if self._next_period_paid:  # the paid period is the one after the boundary, whenever `now` is
            self._next_period_paid = False
            self._period_index += 1
            self._begin_period(next_plan, now, policy)
            self.roll_forward(now, catalog, policy)
            return
        self._period_index = period_index_at(self._anchor, now)
        self._begin_period(next_plan, now, policy)

    def _await_renewal(self, boundary: datetime, policy: RenewalPolicy, now: datetime) -> None:
        """The period after `boundary` starts unpaid: the plan and the old allowance stay until
        `grace_until`. Without a renewal method nobody is charged: `past_due` at once."""
        self._period_index += 1
        self._grace_until = policy.grace_until(boundary)
        self._renewal_check_at = boundary  # the job charges (or, by reminder, waits) from now on
        if self._renewal_method_id is None:
            self._mark_past_due(now)
        self.updated_at = now

    def _mark_past_due(self, now: datetime) -> None:
        if self._status is not MembershipStatus.PAST_DUE:
            self._status = MembershipStatus.PAST_DUE
            self.events.append(events.MembershipPastDue(now, self.user_id, self._grace_until))

    def _lapse_unpaid(self, catalog: Catalog, now: datetime) -> None:
        """The awaited renewal was not paid by `grace_until`: the free plan from then on. The job
        still has to fail the renewal transaction: it is due at once."""
        lapsed_at = self._grace_until
        assert lapsed_at is not None
        self._entry(LedgerKind.ALLOWANCE_EXPIRY, Bucket.ALLOWANCE, -self._allowance_remaining,
                    self._period_reference(-1), now)
        self._allowance_remaining = 0
        free = catalog.free_plan
        if free.id != self._plan:
            self.events.append(events.PlanChanged(now, self.user_id, self._plan.value, free.id.value, "lapsed"))
            self._plan = free.id
        self._scheduled_change = None
        self._end_renewals()
        self._renewal_check_at = lapsed_at
        self._anchor = lapsed_at
        self._period_index = period_index_at(lapsed_at, now)
        self._begin_period(free, now)

    def _end_renewals(self) -> None:
        self._auto_renew = False
        self._renewal_method_id = None
        self._status = MembershipStatus.ACTIVE
        self._grace_until = None
        self._next_period_paid = False

    def _begin_period(self, plan: Plan, now: datetime, policy: RenewalPolicy = DEFAULT_POLICY) -> None:
        self._monthly_allowance = plan.monthly_receives
        self._allowance_used = 0
        self._allowance_remaining = plan.monthly_receives
        self._entry(LedgerKind.ALLOWANCE_GRANT, Bucket.ALLOWANCE, plan.monthly_receives,
                    self._period_reference(), now)
        self.events.append(events.PeriodStarted(
            now, self.user_id, plan.id.value, self.current_period_start, self.current_period_end))
        if plan.is_paid and self._auto_renew:
            self._renewal_check_at = policy.notice_at(self.current_period_end)
        elif not plan.is_paid:  # nothing renews; a check still set lets the job tidy up its renewals
            self._auto_renew, self._renewal_method_id = False, None
        self.updated_at = now

    def _period_reference(self, offset: int = 0) -> str:
        return f"period:{self._anchor.isoformat()}#{self._period_index + offset}"

    # ------------------------------------------------------------------ renewals
    def set_auto_renew(self, on: bool, method_id: str | None, catalog: Catalog, policy: RenewalPolicy,
                       now: datetime) -> None:
        """Turn auto-renewal on (with `method_id` as the renewal method, or none: renewals by
        reminder) or off. Only a paid plan renews. While a renewal is awaited, turning it on makes
        the job look again at once (a new method is charged); off stops the retries, and the
        awaited renewal can still be paid until `grace_until`."""
        self._require_current(now)
        self.check_renewable(catalog)
        self._auto_renew = on
        self._renewal_method_id = method_id if on else None
        if self.awaiting_renewal:
            self._renewal_check_at = now if on else self._grace_until
        else:
            # Off: the job still looks at the period end (a renewal opened by reminder is cancelled).
            end = self.current_period_end
            self._renewal_check_at = policy.notice_at(end) if on else end
        self.events.append(events.AutoRenewChanged(now, self.user_id, on, self._renewal_method_id))
        self.updated_at = now

    def check_renewable(self, catalog: Catalog) -> None:
        """Only a paid plan renews: `InvalidTransitionError` (409 `invalid_state`) on the free plan."""
        if not catalog.plan(self._plan).is_paid:
            raise InvalidTransitionError("membership", self._plan.value, "auto-renewal",
                                         "Only a paid plan renews; this membership is on the free plan.")

    def forget_renewal_method(self, method_id: str, now: datetime) -> bool:
        """The saved method `method_id` was deleted: renewals fall back to reminders."""
        if self._renewal_method_id != method_id:
            return False
        self._renewal_method_id = None
        if self.awaiting_renewal:
            self._renewal_check_at = now
        self.events.append(events.AutoRenewChanged(now, self.user_id, self._auto_renew, None))
        self.updated_at = now
        return True

    def schedule_renewal_check(self, at: datetime | None) -> None:
        """When the renewal job looks at this membership next (None: never, until something changes)."""
        self._renewal_check_at = at

    def renewal_opened(self, now: datetime) -> None:
        """A renewal to be paid by the payer was opened: the main backend is told."""
        self.events.append(events.RenewalDue(now, self.user_id))
        self.updated_at = now

    def renewal_declined(self, now: datetime) -> None:
        """A charge of the renewal method was declined (or needs the payer): `past_due`."""
        self._require_current(now)
        if self.awaiting_renewal:
            self._mark_past_due(now)
            self.updated_at = now

    def renewal_fits(self, plan_to: PlanId, period_start: datetime, catalog: Catalog, now: datetime) -> bool:
        """Whether a renewal to `plan_to` for the period starting `period_start` can still be
        delivered: that period is awaited now, or it is the next one and not paid yet."""
        self._require_current(now)
        if not catalog.plan(plan_to).is_paid or not catalog.plan(self._plan).is_paid:
            return False
        if self.awaiting_renewal:
            return period_start == self.current_period_start
        return period_start == self.current_period_end and not self._next_period_paid

    def apply_renewal(self, plan_to: Plan, period_start: datetime, catalog: Catalog, policy: RenewalPolicy,
                      now: datetime) -> bool:
        """The renewal for the period starting `period_start` was paid. Awaited (the period has
        begun): `active`, on `plan_to`, with its fresh allowance, in the period that began at the
        old period end. Paid early: the next period will start on `plan_to` at the period end.
        False, changing nothing, when it no longer fits (`renewal_fits`)."""
        if not self.renewal_fits(plan_to.id, period_start, catalog, now):
            return False
        if not self.awaiting_renewal:
            self._next_period_paid = True
            if plan_to.id != self._plan:
                self._scheduled_change = ScheduledChange(plan_to.id, self.current_period_end)
            self._renewal_check_at = self.current_period_end
            self.events.append(events.RenewalPaid(now, self.user_id, plan_to.id.value, period_start))
            self.updated_at = now
            return True
        self._entry(LedgerKind.ALLOWANCE_EXPIRY, Bucket.ALLOWANCE, -self._allowance_remaining,
                    self._period_reference(-1), now)
        self._allowance_remaining = 0
        if plan_to.id != self._plan:
            self.events.append(events.PlanChanged(now, self.user_id, self._plan.value, plan_to.id.value, "renewal"))
            self._plan = plan_to.id
        self._scheduled_change = None
        self._status = MembershipStatus.ACTIVE
        self._grace_until = None
        self.events.append(events.RenewalPaid(now, self.user_id, plan_to.id.value, period_start))
        self._begin_period(plan_to, now, policy)
        if not self._auto_renew:
            self._renewal_check_at = None
        return True

    def _require_no_awaited_renewal(self) -> None:
        """A plan change is priced for a paid period: not while this one's renewal is unpaid."""
        if self.awaiting_renewal:
            raise InvalidTransitionError("membership", self._status.value, "plan change",
                                         "The renewal of this period is unpaid: pay it (or let it lapse) first.")

    def _require_current(self, now: datetime) -> None:
        if not self.is_current_at(now):
            raise PeriodNotCurrentError(f"membership of {self.user_id} must be rolled forward to {now}")

    # ------------------------------------------------------------------ receives
    def consume(self, count: int, reference: str, now: datetime) -> None:
        """Take `count` receives, the allowance first. All or nothing."""
        self._require_current(now)
        _require_positive(count, "count")
        if count > self.balance.total:
            raise InsufficientReceivesError(count, self.balance.total)
        from_allowance = min(count, self._allowance_remaining)
        from_purchased = count - from_allowance
        self._entry(LedgerKind.CONSUMPTION, Bucket.ALLOWANCE, -from_allowance, reference, now)
        self._entry(LedgerKind.CONSUMPTION, Bucket.PURCHASED, -from_purchased, reference, now)
        self._allowance_remaining -= from_allowance
        self._allowance_used += from_allowance
        self._purchased_remaining -= from_purchased
        self.events.append(events.ReceivesConsumed(now, self.user_id, count, reference))
        self.updated_at = now

    def credit_purchase(self, count: int, reference: str, now: datetime) -> None:
        """Add `count` purchased receives (they never expire)."""
        self._require_current(now)
        _require_positive(count, "count")
        self._purchased_remaining += count
        self._entry(LedgerKind.PURCHASE, Bucket.PURCHASED, count, reference, now)
        self.events.append(events.ReceivesCredited(now, self.user_id, count, reference))
        self.updated_at = now

    def revoke_purchase(self, count: int, reference: str, now: datetime) -> int:
        """Take back up to `count` purchased receives after a refund; returns how many were
        still there to take (receives already consumed are not clawed back)."""
        self._require_current(now)
        _require_positive(count, "count")
        taken = min(count, self._purchased_remaining)
        self._purchased_remaining -= taken
        self._entry(LedgerKind.REFUND, Bucket.PURCHASED, -taken, reference, now)
        if taken:
            self.events.append(events.ReceivesAdjusted(now, self.user_id, -taken, reference))
        self.updated_at = now
        return taken

    def hold_for_refund(self, count: int, reference: str, now: datetime) -> None:
        """Hold `count` purchased receives for a refund (they leave `purchased_remaining` at once,
        so they cannot be spent while it waits). All or nothing: receives already used cannot be."""
        self._require_current(now)
        _require_positive(count, "receives")
        if count > self._purchased_remaining:
            raise InsufficientReceivesError(count, self._purchased_remaining)
        self._purchased_remaining -= count
        self._entry(LedgerKind.REFUND, Bucket.PURCHASED, -count, reference, now)
        self.events.append(events.ReceivesAdjusted(now, self.user_id, -count, reference))
        self.updated_at = now

    def release_refund_hold(self, count: int, reference: str, now: datetime) -> None:
        """Give back `count` receives held for a refund that was rejected or cancelled."""
        self._require_current(now)
        _require_positive(count, "receives")
        self._purchased_remaining += count
        self._entry(LedgerKind.REFUND_RELEASE, Bucket.PURCHASED, count, reference, now)
        self.events.append(events.ReceivesAdjusted(now, self.user_id, count, reference))
        self.updated_at = now

    # ------------------------------------------------------------------ plans
    def end_paid_plan(self, catalog: Catalog, now: datetime) -> None:
        """A refunded plan ends at once: the membership returns to the free plan in a new period
        starting `now` (what is left of the old allowance expires; a scheduled change is dropped)."""
        self._require_current(now)
        free = catalog.free_plan
        self._scheduled_change = None
        if self._auto_renew or self.awaiting_renewal or self._next_period_paid:
            self._renewal_check_at = now  # the job cancels a renewal still open
        self._end_renewals()
        self._entry(LedgerKind.ALLOWANCE_EXPIRY, Bucket.ALLOWANCE, -self._allowance_remaining,
                    self._period_reference(), now)
        self._allowance_remaining = 0
        if free.id != self._plan:
            self.events.append(events.PlanChanged(now, self.user_id, self._plan.value, free.id.value, "refund"))
            self._plan = free.id
        self._anchor, self._period_index = now, 0
        self._begin_period(free, now)

    def classify_change(self, new_plan: Plan, catalog: Catalog) -> PlanChangeKind:
        current = catalog.plan(self._plan)
        if new_plan.rank > current.rank:
            return PlanChangeKind.UPGRADE
        if new_plan.rank < current.rank:
            return PlanChangeKind.DOWNGRADE
        return PlanChangeKind.UNCHANGED

    def quote_upgrade(self, new_plan: Plan, catalog: Catalog, now: datetime) -> Proration:
        self._require_current(now)
        self._require_no_awaited_renewal()
        current = catalog.plan(self._plan)
        if new_plan.rank <= current.rank:
            raise DomainValidationError(f"{new_plan.id.value} is not an upgrade.", field="new_plan")
        if not current.is_paid:
            zero = Money.zero(new_plan.price.currency)
            return Proration(zero, new_plan.price, new_plan.price, None)
        start, end = self.current_period_start, self.current_period_end
        remaining = Fraction(whole_seconds(end - now), whole_seconds(end - start))
        credit = current.price.scaled(remaining)
        debit = new_plan.price.scaled(remaining)
        return Proration(credit, debit, debit - credit, end)

    def upgrade_still_fits(self, plan_from: PlanId, new_plan: Plan, proration: Proration | None,
                           catalog: Catalog, now: datetime) -> bool:
        """Whether an upgrade priced from `plan_from` with `proration` can still be applied as
        priced: the member is still on `plan_from`, `new_plan` is still above it, and a prorated
        charge still covers the current period (its `period_end` is this period's end)."""
        self._require_current(now)
        if self._plan != plan_from or new_plan.rank <= catalog.plan(self._plan).rank:
            return False
        return proration is None or proration.period_end is None or proration.period_end == self.current_period_end

    def apply_upgrade(self, new_plan: Plan, catalog: Catalog, now: datetime) -> bool:
        """Move to the paid `new_plan` (its payment succeeded). From the free plan a new period
        starts now; between paid plans the period end stays and the allowance grows at once.
        Returns False, changing nothing, when `new_plan` is no longer an upgrade."""
        self._require_current(now)
        current = catalog.plan(self._plan)
        if new_plan.rank <= current.rank:
            return False
        self.events.append(events.PlanChanged(now, self.user_id, current.id.value, new_plan.id.value, "upgrade"))
        self._plan = new_plan.id
        self._scheduled_change = None
        if not current.is_paid:
            self._entry(LedgerKind.ALLOWANCE_EXPIRY, Bucket.ALLOWANCE, -self._allowance_remaining,
                        self._period_reference(), now)
            self._anchor, self._period_index = now, 0
            self._begin_period(new_plan, now)
            return True
        remaining = max(0, new_plan.monthly_receives - self._allowance_used)
        self._entry(LedgerKind.ALLOWANCE_GRANT, Bucket.ALLOWANCE, remaining - self._allowance_remaining,
                    self._period_reference(), now)
        self._monthly_allowance = new_plan.monthly_receives
        self._allowance_remaining = remaining
        self.updated_at = now
        return True

    def schedule_change(self, new_plan: Plan, now: datetime) -> ScheduledChange:
        """Schedule a downgrade to `new_plan` for the end of the current period."""
        self._require_current(now)
        self._require_no_awaited_renewal()
        self._scheduled_change = ScheduledChange(new_plan.id, self.current_period_end)
        self.events.append(events.PlanChangeScheduled(now, self.user_id, new_plan.id.value,
                                                      self._scheduled_change.effective_at))
        self.updated_at = now
        return self._scheduled_change

    def cancel_scheduled_change(self, now: datetime) -> bool:
        """Drop the scheduled change; returns whether there was one."""
        if self._scheduled_change is None:
            return False
        self.events.append(events.ScheduledChangeCancelled(now, self.user_id, self._scheduled_change.plan.value))
        self._scheduled_change = None
        self.updated_at = now
        return True

    # ------------------------------------------------------------------ ledger
    def _entry(self, kind: LedgerKind, bucket: Bucket, delta: int, reference: str, now: datetime) -> None:
        if delta:
            self.new_entries.append(LedgerEntry(self.user_id, kind, bucket, delta, reference, now))


def _require_positive(count: int, field: str) -> None:
    if type(count) is not int or count < 1:
        raise DomainValidationError("Must be a positive whole number.", field=field)
