"""Property tests of the domain: pricing, proration, the ledger and the state machines."""
from datetime import datetime, timedelta, timezone
from decimal import ROUND_HALF_UP, Decimal
from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule, run_state_machine_as_test

from domain.catalog import DEFAULT_CATALOG, Catalog, DiscountTier, Plan, PlanId, ReceivesPricing
from domain.errors import InsufficientReceivesError, InvalidTransitionError
from domain.ledger import Balance
from domain.membership import Membership, PlanChangeKind
from domain.money import CNY, Money, round_half_up
from domain.period import period_bounds
from domain.refund import TRANSITIONS as REFUND_TRANSITIONS
from domain.refund import Refund, RefundStatus
from domain.session import TRANSITIONS as SESSION_TRANSITIONS
from domain.session import PaymentSession, SessionStatus
from domain.transaction import TRANSITIONS as TRANSACTION_TRANSITIONS
from domain.transaction import Transaction, TransactionStatus
from domain.transitions import check_transition, terminal_states

UTC = timezone.utc
CATALOG = DEFAULT_CATALOG
BASIC, PRO, VIP = (CATALOG.plan(plan_id) for plan_id in (PlanId.BASIC, PlanId.PRO, PlanId.VIP))
ONE_SECOND = timedelta(seconds=1)

FAST = settings(max_examples=150, deadline=None)

moments = st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2099, 12, 1), timezones=st.just(UTC))


def half_up(numerator: int, denominator: int) -> int:
    """The contract's rounding, computed independently of `round_half_up` (exact for these sizes)."""
    return int((Decimal(numerator) / Decimal(denominator)).quantize(Decimal(1), rounding=ROUND_HALF_UP))


# ---------------------------------------------------------------------- (a) pricing


def contract_percent(quantity: int) -> int:
    """The contract's tiers: ≥ 5 → 10 %, ≥ 10 → 15 %, ≥ 20 → 20 %, for the whole quantity."""
    return 20 if quantity >= 20 else 15 if quantity >= 10 else 10 if quantity >= 5 else 0


@FAST
@given(st.integers(min_value=1, max_value=100))
def test_receive_pricing_follows_the_contract_formula_for_every_quantity(quantity):
    subtotal = 200 * quantity
    percent = contract_percent(quantity)
    discount = half_up(subtotal * percent, 100)

    quote = CATALOG.receives.quote(quantity)

    assert quote.discount_percent == percent
    assert quote.subtotal == Money(subtotal, CNY)
    assert quote.discount == Money(discount, CNY)
    assert quote.total == Money(subtotal - discount, CNY)


@FAST
@given(st.integers(min_value=1, max_value=100), st.integers(min_value=1, max_value=100))
def test_the_unit_price_of_receives_never_rises_with_quantity(first, second):
    fewer, more = sorted((first, second))

    def unit_price(quantity: int) -> Fraction:
        return Fraction(CATALOG.receives.quote(quantity).total.amount, quantity)

    assert unit_price(more) <= unit_price(fewer)


@st.composite
def pricings(draw):
    """A configured pricing: a unit price and tiers whose discount grows with quantity."""
    unit_price = draw(st.integers(min_value=1, max_value=100_000))
    minimums = sorted(draw(st.sets(st.integers(min_value=2, max_value=100), max_size=4)))
    percents = sorted(draw(st.lists(st.integers(min_value=0, max_value=100),
                                    min_size=len(minimums), max_size=len(minimums))))
    return ReceivesPricing(Money(unit_price, CNY), tiers=tuple(map(DiscountTier, minimums, percents)))


@FAST
@given(pricings(), st.integers(min_value=1, max_value=100))
def test_any_configured_pricing_rounds_the_discount_of_the_quantitys_tier_half_up(pricing, quantity):
    tier = max((t for t in pricing.tiers if t.min_quantity <= quantity), key=lambda t: t.min_quantity, default=None)
    percent = tier.discount_percent if tier else 0
    subtotal = pricing.unit_price.amount * quantity

    quote = pricing.quote(quantity)

    assert quote.discount_percent == percent
    assert quote.discount.amount == half_up(subtotal * percent, 100)
    assert quote.total.amount == subtotal - quote.discount.amount


@FAST
@given(st.one_of(
    st.tuples(st.integers(min_value=-(10**12), max_value=10**12), st.integers(min_value=1, max_value=10**6)),
    st.tuples(st.integers(min_value=-(10**6), max_value=10**6).map(lambda n: 2 * n + 1), st.just(2)),  # halves
))
def test_round_half_up_is_the_nearest_int_with_halves_away_from_zero(ratio):
    numerator, denominator = ratio
    value = Fraction(numerator, denominator)

    rounded = round_half_up(value)

    assert abs(rounded - value) <= Fraction(1, 2)
    if abs(rounded - value) == Fraction(1, 2):
        assert abs(rounded) > abs(value)
    assert rounded == half_up(numerator, denominator)


# ---------------------------------------------------------------------- (b) proration


def paid_membership(plan: Plan, anchor: datetime, catalog: Catalog = CATALOG) -> Membership:
    membership = Membership.start("u1", catalog.free_plan, anchor)
    assert membership.apply_upgrade(plan, catalog, anchor)
    return membership


def assert_prorated(proration, old_price: int, new_price: int, remaining: int, period: int, end: datetime):
    exact_credit = old_price * Fraction(remaining, period)
    exact_debit = new_price * Fraction(remaining, period)

    assert abs(proration.credit.amount - exact_credit) <= Fraction(1, 2)
    assert abs(proration.debit.amount - exact_debit) <= Fraction(1, 2)
    if abs(proration.credit.amount - exact_credit) == Fraction(1, 2):
        assert proration.credit.amount > exact_credit  # a half rounds up
    if abs(proration.debit.amount - exact_debit) == Fraction(1, 2):
        assert proration.debit.amount > exact_debit
    assert proration.charge == proration.debit - proration.credit
    assert 0 <= proration.charge.amount <= new_price - old_price
    assert proration.period_end == end


@FAST
@given(moments, st.sampled_from([(PRO, VIP)]), st.data())
def test_an_upgrade_between_paid_plans_is_prorated_within_half_a_fen(anchor, plans, data):
    old, new = plans
    start, end = period_bounds(anchor, 0)
    now = start + data.draw(st.timedeltas(min_value=timedelta(0), max_value=end - start - timedelta(microseconds=1)))
    membership = paid_membership(old, anchor)

    proration = membership.quote_upgrade(new, CATALOG, now)

    assert_prorated(proration, old.price.amount, new.price.amount,
                    (end - now) // ONE_SECOND, (end - start) // ONE_SECOND, end)


@st.composite
def paid_plan_pairs(draw):
    """A catalog with two paid plans above the free one, the higher-ranked costing at least as much."""
    old_price = draw(st.integers(min_value=1, max_value=10**7))
    new_price = draw(st.integers(min_value=old_price, max_value=10**7 + 1))
    old = Plan(PlanId.PRO, "Old", Money(old_price, CNY), draw(st.integers(0, 50)), 1)
    new = Plan(PlanId.VIP, "New", Money(new_price, CNY), draw(st.integers(50, 500)), 2)
    return Catalog(CNY, CATALOG.receives, (BASIC, old, new)), old, new


@FAST
@given(moments, paid_plan_pairs(), st.data())
def test_any_paid_upgrade_is_prorated_within_half_a_fen_and_never_charges_more_than_the_difference(
        anchor, catalog_and_plans, data):
    catalog, old, new = catalog_and_plans
    start, end = period_bounds(anchor, 0)
    now = start + data.draw(st.timedeltas(min_value=timedelta(0), max_value=end - start - timedelta(microseconds=1)))
    membership = paid_membership(old, anchor, catalog)

    proration = membership.quote_upgrade(new, catalog, now)

    assert_prorated(proration, old.price.amount, new.price.amount,
                    (end - now) // ONE_SECOND, (end - start) // ONE_SECOND, end)


# ---------------------------------------------------------------------- (c) the ledger


class MembershipLedger(RuleBasedStateMachine):
    """Random purchases, consumptions, refunds, rollovers and plan changes of one membership."""

    @initialize(start=moments)
    def start(self, start):
        self.now = start
        self.membership = Membership.start("u1", BASIC, start)
        self.references = 0

    def reference(self) -> str:
        self.references += 1
        return f"ref-{self.references}"

    @rule(count=st.integers(min_value=1, max_value=100))
    def purchase(self, count):
        before = self.membership.balance

        self.membership.credit_purchase(count, self.reference(), self.now)

        assert self.membership.balance == Balance(before.allowance, before.purchased + count)

    @rule(count=st.integers(min_value=1, max_value=150))
    def consume(self, count):
        before = self.membership.balance
        entries_before = len(self.membership.new_entries)
        if count > before.total:
            with pytest.raises(InsufficientReceivesError):
                self.membership.consume(count, self.reference(), self.now)
            assert self.membership.balance == before
            assert len(self.membership.new_entries) == entries_before
            return

        self.membership.consume(count, self.reference(), self.now)

        from_allowance = min(count, before.allowance)
        assert self.membership.balance == Balance(before.allowance - from_allowance,
                                                  before.purchased - (count - from_allowance))

    @rule(offset=st.integers(min_value=-2, max_value=2))
    def consume_around_the_whole_balance(self, offset):
        count = self.membership.balance.total + offset
        if count >= 1:
            self.consume(count)

    @rule(count=st.integers(min_value=1, max_value=100))
    def revoke_a_refunded_purchase(self, count):
        before = self.membership.balance

        taken = self.membership.revoke_purchase(count, self.reference(), self.now)

        assert taken == min(count, before.purchased)
        assert self.membership.balance == Balance(before.allowance, before.purchased - taken)

    @rule(step=st.one_of(st.timedeltas(min_value=timedelta(0), max_value=timedelta(hours=6)),
                         st.timedeltas(min_value=timedelta(0), max_value=timedelta(days=3)),
                         st.timedeltas(min_value=timedelta(0), max_value=timedelta(days=100))))
    def time_passes(self, step):
        self.now += step
        was_current = self.membership.is_current_at(self.now)
        before = self.membership.balance

        self.membership.roll_forward(self.now, CATALOG)

        assert self.membership.current_period_start <= self.now < self.membership.current_period_end
        if was_current:
            assert self.membership.balance == before
        else:  # a fresh allowance of the new period's plan; purchased receives untouched
            assert self.membership.allowance_used == 0
            assert self.membership.balance == Balance(self.membership.monthly_allowance, before.purchased)
            assert not CATALOG.plan(self.membership.plan).is_paid  # no renewals yet: paid plans lapse

    @rule(plan=st.sampled_from([PRO, VIP]))
    def upgrade(self, plan):
        membership = self.membership
        if membership.classify_change(plan, CATALOG) is not PlanChangeKind.UPGRADE:
            entries_before = len(membership.new_entries)
            assert membership.apply_upgrade(plan, CATALOG, self.now) is False
            assert len(membership.new_entries) == entries_before
            return
        was_paid = CATALOG.plan(membership.plan).is_paid
        end_before, used_before = membership.current_period_end, membership.allowance_used
        purchased_before = membership.purchased_remaining
        proration = membership.quote_upgrade(plan, CATALOG, self.now)

        assert membership.apply_upgrade(plan, CATALOG, self.now) is True

        assert membership.plan is plan.id
        assert membership.purchased_remaining == purchased_before
        assert membership.scheduled_change is None
        if was_paid:
            assert proration.period_end == end_before == membership.current_period_end
            assert membership.allowance_remaining == plan.monthly_receives - used_before
        else:
            assert proration.period_end is None and proration.charge == plan.price
            assert membership.current_period_start == self.now
            assert membership.allowance_remaining == plan.monthly_receives

    @rule(plan=st.sampled_from([BASIC, PRO]))
    def schedule_a_downgrade(self, plan):
        if self.membership.classify_change(plan, CATALOG) is not PlanChangeKind.DOWNGRADE:
            return
        change = self.membership.schedule_change(plan, self.now)
        assert change.effective_at == self.membership.current_period_end
        assert self.membership.scheduled_change == change

    @rule()
    def cancel_the_scheduled_change(self):
        had_one = self.membership.scheduled_change is not None

        assert self.membership.cancel_scheduled_change(self.now) is had_one

        assert self.membership.scheduled_change is None

    @invariant()
    def the_balance_is_the_sum_of_the_ledger(self):
        membership = self.membership
        assert Balance.of(membership.new_entries) == membership.balance
        assert membership.allowance_remaining >= 0
        assert membership.purchased_remaining >= 0
        assert membership.allowance_remaining + membership.allowance_used == membership.monthly_allowance
        assert membership.monthly_allowance == CATALOG.plan(membership.plan).monthly_receives
        assert all(entry.user_id == "u1" and entry.delta != 0 for entry in membership.new_entries)


def test_the_balance_always_equals_the_sum_of_the_ledger_and_never_goes_negative():
    run_state_machine_as_test(
        MembershipLedger, settings=settings(max_examples=120, stateful_step_count=30, deadline=None))


# ---------------------------------------------------------------------- (d) state machines


def walk(table, start, targets, kind):
    """Apply `targets` in turn through the table; yield (before, target, after) for every attempt."""
    current = start
    for target in targets:
        before = current
        try:
            check_transition(table, kind, current, target)
            current = target
        except InvalidTransitionError:
            pass
        yield before, target, current


@pytest.mark.parametrize(
    ("table", "start", "terminal", "late_states", "late_targets"),
    [
        (TRANSACTION_TRANSITIONS, TransactionStatus.PENDING,
         {TransactionStatus.FAILED, TransactionStatus.REFUNDED},
         {TransactionStatus.CANCELLED, TransactionStatus.EXPIRED}, {TransactionStatus.SUCCEEDED}),
        (SESSION_TRANSITIONS, SessionStatus.OPEN,
         {SessionStatus.COMPLETED, SessionStatus.REFUNDED},
         {SessionStatus.FAILED, SessionStatus.CANCELLED, SessionStatus.EXPIRED},
         {SessionStatus.COMPLETED, SessionStatus.REFUNDED}),
        (REFUND_TRANSITIONS, RefundStatus.REQUESTED,
         {RefundStatus.SUCCEEDED, RefundStatus.REJECTED, RefundStatus.CANCELLED}, set(), set()),
    ],
    ids=["transaction", "session", "refund"],
)
@settings(max_examples=80, deadline=None)
@given(data=st.data())
def test_no_walk_through_a_transition_table_leaves_a_terminal_state_or_a_late_state_except_by_payment(
        table, start, terminal, late_states, late_targets, data):
    targets = data.draw(st.lists(st.sampled_from(list(table)), max_size=15))
    assert terminal_states(table) == terminal

    for before, _, after in walk(table, start, targets, "thing"):
        if before in terminal:
            assert after == before
        if before in late_states and after != before:
            assert after in late_targets


TRANSACTION_ACTIONS = {
    "pay": lambda t, now, n: t.mark_paid(f"ps_{n}", now),
    "cancel": lambda t, now, n: t.cancel("changed my mind", now),
    "expire": lambda t, now, n: t.expire(now),
    "fail": lambda t, now, n: t.fail("card_declined", now),
    "failed_attempt": lambda t, now, n: t.record_failed_attempt(f"ps_{n}", "declined", now),
}


@settings(max_examples=150, deadline=None)
@given(st.lists(st.sampled_from(sorted(TRANSACTION_ACTIONS)), max_size=12))
def test_a_transaction_is_paid_at_most_once_and_only_pending_or_late_states_move(actions):
    S = TransactionStatus
    now = datetime(2025, 1, 31, tzinfo=UTC)
    transaction = Transaction.purchase_receives(
        id="txn_1", order_id="P1", user_id="u1", quote=CATALOG.receives.quote(3), payment_method="alipay",
        provider="mock", now=now)
    paid_by = None

    for n, action in enumerate(actions):
        now += timedelta(minutes=1)
        before, events_before = transaction.status, len(transaction.events)
        try:
            TRANSACTION_ACTIONS[action](transaction, now, n)
        except InvalidTransitionError:
            assert transaction.status is before
            assert len(transaction.events) == events_before
            continue
        assert len(transaction.events) == events_before + 1
        if before in {S.FAILED, S.REFUNDED}:
            assert transaction.status is before  # only a failed attempt is recorded, and it moves nothing
        if before in {S.CANCELLED, S.EXPIRED} and transaction.status is not before:
            assert transaction.status is S.SUCCEEDED
            assert transaction.events[-1].late is True
        if action == "pay":
            assert paid_by is None, "paid twice"
            paid_by = transaction.paid_session_id
        assert transaction.paid_session_id == paid_by


SESSION_ACTIONS = {
    "complete": lambda s, now: s.complete(now),
    "refund_duplicate": lambda s, now: s.refund_duplicate(now),
    "fail": lambda s, now: s.fail(now),
    "cancel": lambda s, now: s.cancel(now),
    "expire": lambda s, now: s.expire(now),
}


@settings(max_examples=150, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(sorted(SESSION_ACTIONS)),
                          st.one_of(st.sampled_from([3599, 3600]), st.integers(min_value=0, max_value=7200))),
                max_size=12))
def test_a_session_never_leaves_a_final_status_and_never_reads_open_after_its_expiry(steps):
    S = SessionStatus
    created = datetime(2025, 1, 31, tzinfo=UTC)
    expires_at = created + timedelta(hours=1)
    session = PaymentSession.open(
        id="ps_1", transaction_id="txn_1", user_id="u1", order_id="S1", payment_method="alipay", provider="mock",
        amount=Money(600, CNY), return_url=None, expires_at=expires_at, now=created)

    for action, seconds in steps:
        now = created + timedelta(seconds=seconds)
        before, events_before = session.status, len(session.events)
        assert session.status_at(now) is (S.EXPIRED if before is S.OPEN and now >= expires_at else before)
        try:
            SESSION_ACTIONS[action](session, now)
        except (InvalidTransitionError, ValueError):
            assert session.status is before
            assert len(session.events) == events_before
        else:
            assert len(session.events) == events_before + 1
            assert before not in {S.COMPLETED, S.REFUNDED}
            if before in {S.FAILED, S.CANCELLED, S.EXPIRED}:
                assert session.status in {S.COMPLETED, S.REFUNDED}
            if action == "expire":
                assert now >= expires_at
        assert session.status_at(now) is not S.OPEN or now < expires_at
        assert session.status is not S.OPEN or action == "expire"  # every other move is allowed from open


@settings(max_examples=60, deadline=None)
@given(st.lists(st.sampled_from(["succeed", "fail"]), max_size=6))
def test_a_refund_settles_once_and_for_all(actions):
    created = datetime(2025, 1, 31, tzinfo=UTC)
    session = PaymentSession.open(
        id="ps_2", transaction_id="txn_1", user_id="u1", order_id="S2", payment_method="alipay", provider="mock",
        amount=Money(600, CNY), return_url=None, expires_at=created + timedelta(hours=1), now=created)
    refund = Refund.for_duplicate_payment(id="rf_1", refund_order_id="R1", session=session, now=created)
    settled = None

    for n, action in enumerate(actions):
        now = created + timedelta(minutes=n + 1)
        try:
            refund.succeed("re_1", now) if action == "succeed" else refund.fail(now)
        except InvalidTransitionError:
            assert refund.status is settled
            continue
        assert settled is None
        settled = refund.status
        assert refund.completed_at == now
