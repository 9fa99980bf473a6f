"""The membership aggregate: periods, the allowance and purchased buckets, upgrades and downgrades."""
from datetime import datetime, timedelta, timezone

import pytest

from domain import events
from domain.catalog import DEFAULT_CATALOG, PlanId
from domain.errors import DomainValidationError, InsufficientReceivesError
from domain.ledger import Balance, Bucket, LedgerEntry, LedgerKind
from domain.membership import (
    Membership,
    MembershipStatus,
    PeriodNotCurrentError,
    PlanChangeKind,
    Proration,
    ScheduledChange,
)
from domain.money import CNY, Money

UTC = timezone.utc
CATALOG = DEFAULT_CATALOG
BASIC, PRO, VIP = (CATALOG.plan(plan_id) for plan_id in (PlanId.BASIC, PlanId.PRO, PlanId.VIP))

T0 = datetime(2025, 1, 31, 10, tzinfo=UTC)  # a basic membership's first use: periods end Feb 28, Mar 31, …
PAID_ANCHOR = datetime(2025, 3, 1, tzinfo=UTC)  # a paid period of 31 days, ending Apr 1
PAID_END = datetime(2025, 4, 1, tzinfo=UTC)


def at(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=UTC)


def cny(amount: int) -> Money:
    return Money(amount, CNY)


def new_basic(now: datetime = T0) -> Membership:
    return Membership.start("u1", BASIC, now)


def new_paid(plan=PRO, since: datetime = PAID_ANCHOR) -> Membership:
    """A membership upgraded from basic to `plan`, paid at `since` (which anchors its periods)."""
    membership = Membership.start("u1", BASIC, since)
    assert membership.apply_upgrade(plan, CATALOG, since)
    return membership


def moves(membership: Membership, since: int = 0) -> list[tuple[LedgerKind, Bucket, int]]:
    return [(e.kind, e.bucket, e.delta) for e in membership.new_entries[since:]]


def snapshot(membership: Membership) -> tuple:
    return (membership.plan, membership.balance, membership.allowance_used, membership.monthly_allowance,
            membership.anchor, membership.period_index, membership.scheduled_change,
            list(membership.new_entries), list(membership.events), membership.updated_at)


def assert_ledger_matches(membership: Membership) -> None:
    assert Balance.of(membership.new_entries) == membership.balance


# ---------------------------------------------------------------------- start


def test_a_new_membership_starts_a_period_now_with_the_basic_allowance():
    membership = new_basic()

    assert membership.plan is PlanId.BASIC
    assert membership.status is MembershipStatus.ACTIVE
    assert membership.balance == Balance(allowance=3, purchased=0)
    assert membership.monthly_allowance == 3
    assert membership.allowance_used == 0
    assert (membership.current_period_start, membership.current_period_end) == (T0, at(2025, 2, 28, 10))
    assert membership.scheduled_change is None
    assert (membership.created_at, membership.updated_at) == (T0, T0)
    [grant] = membership.new_entries
    assert grant == LedgerEntry("u1", LedgerKind.ALLOWANCE_GRANT, Bucket.ALLOWANCE, 3, grant.reference, T0)
    assert membership.events == [events.PeriodStarted(T0, "u1", "basic", T0, at(2025, 2, 28, 10))]


def test_memberships_are_the_same_entity_when_their_users_are():
    assert new_basic() == Membership.start("u1", BASIC, T0 + timedelta(days=3))
    assert new_basic() != Membership.start("u2", BASIC, T0)
    assert len({new_basic(), new_basic()}) == 1


# ---------------------------------------------------------------------- receives


def test_a_purchase_adds_receives_that_are_recorded_in_the_ledger():
    membership = new_basic()

    membership.credit_purchase(10, "txn_1", T0 + timedelta(hours=1))

    assert membership.balance == Balance(allowance=3, purchased=10)
    assert membership.new_entries[-1] == LedgerEntry(
        "u1", LedgerKind.PURCHASE, Bucket.PURCHASED, 10, "txn_1", T0 + timedelta(hours=1))
    assert membership.events[-1] == events.ReceivesCredited(T0 + timedelta(hours=1), "u1", 10, "txn_1")
    assert membership.updated_at == T0 + timedelta(hours=1)
    assert_ledger_matches(membership)


def test_consumption_takes_the_allowance_first():
    membership = new_basic()
    membership.credit_purchase(5, "txn_1", T0)

    membership.consume(2, "match-1", T0)

    assert membership.balance == Balance(allowance=1, purchased=5)
    assert membership.allowance_used == 2
    assert moves(membership, 2) == [(LedgerKind.CONSUMPTION, Bucket.ALLOWANCE, -2)]


def test_consumption_beyond_the_allowance_takes_the_rest_from_purchased_receives():
    membership = new_basic()
    membership.credit_purchase(5, "txn_1", T0)

    membership.consume(4, "match-1", T0 + timedelta(minutes=1))

    assert membership.balance == Balance(allowance=0, purchased=4)
    assert membership.allowance_used == 3
    assert membership.new_entries[2:] == [
        LedgerEntry("u1", LedgerKind.CONSUMPTION, Bucket.ALLOWANCE, -3, "match-1", T0 + timedelta(minutes=1)),
        LedgerEntry("u1", LedgerKind.CONSUMPTION, Bucket.PURCHASED, -1, "match-1", T0 + timedelta(minutes=1)),
    ]
    assert membership.events[-1] == events.ReceivesConsumed(T0 + timedelta(minutes=1), "u1", 4, "match-1")
    assert_ledger_matches(membership)


def test_consumption_with_no_allowance_left_takes_only_purchased_receives():
    membership = new_basic()
    membership.credit_purchase(5, "txn_1", T0)
    membership.consume(3, "match-1", T0)

    membership.consume(2, "match-2", T0)

    assert membership.balance == Balance(allowance=0, purchased=3)
    assert moves(membership, 3) == [(LedgerKind.CONSUMPTION, Bucket.PURCHASED, -2)]


def test_consuming_more_than_the_balance_is_refused_and_changes_nothing():
    membership = new_basic()
    membership.credit_purchase(2, "txn_1", T0)
    before = snapshot(membership)

    with pytest.raises(InsufficientReceivesError) as raised:
        membership.consume(6, "match-1", T0 + timedelta(hours=1))

    assert (raised.value.requested, raised.value.balance) == (6, 5)
    assert raised.value.code == "insufficient_receives"
    assert snapshot(membership) == before


def test_the_whole_balance_can_be_consumed_down_to_zero():
    membership = new_basic()
    membership.credit_purchase(2, "txn_1", T0)

    membership.consume(5, "match-1", T0)

    assert membership.balance == Balance(0, 0)
    assert_ledger_matches(membership)


@pytest.mark.parametrize("count", [0, -1, True, 1.0, "1"])
@pytest.mark.parametrize("operation", ["consume", "credit_purchase", "revoke_purchase"])
def test_receive_counts_must_be_positive_whole_numbers(operation, count):
    membership = new_basic()
    before = snapshot(membership)

    with pytest.raises(DomainValidationError) as raised:
        getattr(membership, operation)(count, "ref", T0)

    assert raised.value.field == "count"
    assert snapshot(membership) == before


def test_revoking_a_refunded_purchase_takes_back_only_what_is_left():
    membership = new_basic()
    membership.credit_purchase(5, "txn_1", T0)
    membership.consume(6, "match-1", T0)  # 3 from the allowance, 3 of the 5 purchased

    taken = membership.revoke_purchase(5, "refund:txn_1", T0)

    assert taken == 2
    assert membership.balance == Balance(0, 0)
    assert membership.new_entries[-1] == LedgerEntry(
        "u1", LedgerKind.REFUND, Bucket.PURCHASED, -2, "refund:txn_1", T0)
    assert_ledger_matches(membership)


def test_revoking_when_nothing_purchased_is_left_takes_nothing_and_records_no_entry():
    membership = new_basic()
    entries_before = list(membership.new_entries)

    assert membership.revoke_purchase(5, "refund:txn_1", T0) == 0
    assert membership.new_entries == entries_before
    assert membership.balance == Balance(3, 0)


# ---------------------------------------------------------------------- periods


def test_rolling_forward_inside_the_current_period_changes_nothing():
    membership = new_basic()
    membership.consume(1, "match-1", T0)
    before = snapshot(membership)

    membership.roll_forward(at(2025, 2, 28, 9, 59, 59), CATALOG)

    assert snapshot(membership) == before


def test_the_allowance_resets_at_the_period_start_and_never_rolls_over():
    membership = new_basic()
    membership.consume(1, "match-1", T0)
    first_period_grant = membership.new_entries[0]
    entries_before = len(membership.new_entries)
    boundary = at(2025, 2, 28, 10)

    membership.roll_forward(boundary, CATALOG)

    assert membership.balance == Balance(allowance=3, purchased=0)
    assert membership.allowance_used == 0
    assert membership.period_index == 1
    assert (membership.current_period_start, membership.current_period_end) == (boundary, at(2025, 3, 31, 10))
    expiry, grant = membership.new_entries[entries_before:]
    assert (expiry.kind, expiry.bucket, expiry.delta) == (LedgerKind.ALLOWANCE_EXPIRY, Bucket.ALLOWANCE, -2)
    assert (grant.kind, grant.bucket, grant.delta) == (LedgerKind.ALLOWANCE_GRANT, Bucket.ALLOWANCE, 3)
    assert expiry.reference == first_period_grant.reference  # the expiry closes the old period
    assert grant.reference != first_period_grant.reference
    assert membership.events[-1] == events.PeriodStarted(boundary, "u1", "basic", boundary, at(2025, 3, 31, 10))
    assert membership.plan is PlanId.BASIC
    assert_ledger_matches(membership)


def test_a_fully_used_allowance_leaves_no_expiry_entry():
    membership = new_basic()
    membership.consume(3, "match-1", T0)
    entries_before = len(membership.new_entries)

    membership.roll_forward(at(2025, 2, 28, 10), CATALOG)

    assert moves(membership, entries_before) == [(LedgerKind.ALLOWANCE_GRANT, Bucket.ALLOWANCE, 3)]


def test_purchased_receives_survive_period_ends():
    membership = new_basic()
    membership.credit_purchase(7, "txn_1", T0)

    membership.roll_forward(at(2025, 2, 28, 10), CATALOG)
    membership.roll_forward(at(2025, 6, 1), CATALOG)

    assert membership.balance == Balance(allowance=3, purchased=7)
    assert_ledger_matches(membership)


def test_periods_skipped_entirely_leave_no_entries():
    membership = new_basic()
    entries_before = len(membership.new_entries)
    now = at(2025, 5, 2)  # periods 1 (Feb 28-Mar 31) and 2 (Mar 31-Apr 30) passed unseen

    membership.roll_forward(now, CATALOG)

    assert membership.period_index == 3
    assert (membership.current_period_start, membership.current_period_end) == (
        at(2025, 4, 30, 10), at(2025, 5, 31, 10))
    assert moves(membership, entries_before) == [
        (LedgerKind.ALLOWANCE_EXPIRY, Bucket.ALLOWANCE, -3),
        (LedgerKind.ALLOWANCE_GRANT, Bucket.ALLOWANCE, 3),
    ]
    assert membership.balance == Balance(3, 0)
    assert membership.anchor == T0


def test_the_period_end_is_exclusive():
    membership = new_basic()

    assert membership.is_current_at(at(2025, 2, 28, 9, 59, 59, 999999))
    assert not membership.is_current_at(at(2025, 2, 28, 10))


@pytest.mark.parametrize(
    "change",
    [
        lambda m, now: m.consume(1, "match-1", now),
        lambda m, now: m.credit_purchase(1, "txn_1", now),
        lambda m, now: m.revoke_purchase(1, "refund:txn_1", now),
        lambda m, now: m.quote_upgrade(PRO, CATALOG, now),
        lambda m, now: m.apply_upgrade(PRO, CATALOG, now),
        lambda m, now: m.schedule_change(BASIC, now),
    ],
    ids=["consume", "credit_purchase", "revoke_purchase", "quote_upgrade", "apply_upgrade", "schedule_change"],
)
def test_a_membership_must_be_rolled_forward_before_it_is_changed(change):
    membership = new_basic()
    before = snapshot(membership)

    with pytest.raises(PeriodNotCurrentError):
        change(membership, at(2025, 2, 28, 10))

    assert snapshot(membership) == before


def test_a_paid_plan_lapses_to_basic_at_its_period_end_without_a_renewal():
    membership = new_paid(PRO)
    membership.consume(4, "match-1", PAID_ANCHOR)
    entries_before = len(membership.new_entries)

    membership.roll_forward(PAID_END, CATALOG)

    assert membership.plan is PlanId.BASIC
    assert membership.monthly_allowance == 3
    assert membership.balance == Balance(allowance=3, purchased=0)
    assert membership.anchor == PAID_ANCHOR  # basic periods keep the paid plan's anniversary
    assert (membership.current_period_start, membership.current_period_end) == (PAID_END, at(2025, 5, 1))
    assert moves(membership, entries_before) == [
        (LedgerKind.ALLOWANCE_EXPIRY, Bucket.ALLOWANCE, -16),
        (LedgerKind.ALLOWANCE_GRANT, Bucket.ALLOWANCE, 3),
    ]
    assert events.PlanChanged(PAID_END, "u1", "pro", "basic", "lapsed") in membership.events
    assert_ledger_matches(membership)


# ---------------------------------------------------------------------- plan changes


@pytest.mark.parametrize(
    ("current", "new", "kind"),
    [
        ("basic", "pro", PlanChangeKind.UPGRADE),
        ("basic", "vip", PlanChangeKind.UPGRADE),
        ("pro", "vip", PlanChangeKind.UPGRADE),
        ("vip", "pro", PlanChangeKind.DOWNGRADE),
        ("vip", "basic", PlanChangeKind.DOWNGRADE),
        ("pro", "basic", PlanChangeKind.DOWNGRADE),
        ("pro", "pro", PlanChangeKind.UNCHANGED),
        ("basic", "basic", PlanChangeKind.UNCHANGED),
    ],
)
def test_a_plan_change_is_classified_by_plan_rank(current, new, kind):
    membership = new_basic() if current == "basic" else new_paid(CATALOG.plan(current))

    assert membership.classify_change(CATALOG.plan(new), CATALOG) is kind


@pytest.mark.parametrize(("plan", "price"), [(PRO, 2900), (VIP, 5900)])
def test_an_upgrade_from_basic_costs_the_full_price_and_starts_a_new_period(plan, price):
    membership = new_basic()
    before = snapshot(membership)

    proration = membership.quote_upgrade(plan, CATALOG, at(2025, 2, 10))

    assert proration == Proration(credit=cny(0), debit=cny(price), charge=cny(price), period_end=None)
    assert snapshot(membership) == before  # a quote changes nothing


def test_a_paid_upgrade_from_basic_starts_a_new_period_at_the_payment_time():
    membership = new_basic()
    membership.credit_purchase(4, "txn_1", T0)
    membership.consume(1, "match-1", T0)
    old_reference = membership.new_entries[0].reference
    entries_before = len(membership.new_entries)
    paid_at = at(2025, 2, 10, 12, 30)

    assert membership.apply_upgrade(PRO, CATALOG, paid_at) is True

    assert membership.plan is PlanId.PRO
    assert membership.anchor == paid_at
    assert membership.period_index == 0
    assert (membership.current_period_start, membership.current_period_end) == (paid_at, at(2025, 3, 10, 12, 30))
    assert membership.balance == Balance(allowance=20, purchased=4)
    assert (membership.monthly_allowance, membership.allowance_used) == (20, 0)
    expiry, grant = membership.new_entries[entries_before:]
    assert (expiry.kind, expiry.delta, expiry.reference) == (LedgerKind.ALLOWANCE_EXPIRY, -2, old_reference)
    assert (grant.kind, grant.delta) == (LedgerKind.ALLOWANCE_GRANT, 20)
    assert grant.reference != old_reference
    assert membership.events[-2:] == [
        events.PlanChanged(paid_at, "u1", "basic", "pro", "upgrade"),
        events.PeriodStarted(paid_at, "u1", "pro", paid_at, at(2025, 3, 10, 12, 30)),
    ]
    assert_ledger_matches(membership)


def test_an_upgrade_between_paid_plans_is_prorated_on_the_remaining_seconds():
    membership = new_paid(PRO)
    now = at(2025, 3, 11)  # 21 of 31 days remain

    proration = membership.quote_upgrade(VIP, CATALOG, now)

    # credit 2900 × 21/31 = 1964.52 → 1965; debit 5900 × 21/31 = 3996.77 → 3997
    assert proration == Proration(credit=cny(1965), debit=cny(3997), charge=cny(2032), period_end=PAID_END)


def test_proration_rounds_each_half_fen_up_separately():
    membership = new_paid(PRO)
    now = PAID_END - timedelta(seconds=13392)  # r = 13392 / 2678400: credit 14.5, debit 29.5

    proration = membership.quote_upgrade(VIP, CATALOG, now)

    assert proration == Proration(credit=cny(15), debit=cny(30), charge=cny(15), period_end=PAID_END)


def test_proration_uses_the_length_of_the_current_period():
    membership = new_paid(PRO, since=at(2025, 2, 1))
    now = at(2025, 2, 15)  # 14 of February's 28 days remain: exactly half

    proration = membership.quote_upgrade(VIP, CATALOG, now)

    assert proration == Proration(credit=cny(1450), debit=cny(2950), charge=cny(1500), period_end=at(2025, 3, 1))


def test_proration_counts_only_whole_remaining_seconds():
    membership = new_paid(PRO)
    now = PAID_END - timedelta(seconds=13392, microseconds=500_000)  # 13392.5 s remain: 13392 count

    proration = membership.quote_upgrade(VIP, CATALOG, now)

    assert (proration.credit, proration.debit) == (cny(15), cny(30))


def test_an_upgrade_at_the_very_start_of_a_paid_period_charges_the_whole_price_difference():
    membership = new_paid(PRO)

    proration = membership.quote_upgrade(VIP, CATALOG, PAID_ANCHOR)

    assert proration == Proration(credit=cny(2900), debit=cny(5900), charge=cny(3000), period_end=PAID_END)


@pytest.mark.parametrize(("current", "new"), [(BASIC, BASIC), (PRO, PRO), (PRO, BASIC), (VIP, PRO), (VIP, VIP)])
def test_only_an_upgrade_can_be_quoted(current, new):
    membership = new_basic() if current is BASIC else new_paid(current)

    with pytest.raises(DomainValidationError) as raised:
        membership.quote_upgrade(new, CATALOG, membership.current_period_start + timedelta(days=1))

    assert raised.value.field == "new_plan"


def test_a_paid_upgrade_between_paid_plans_keeps_the_period_end_and_grants_the_rest_of_the_new_allowance():
    membership = new_paid(PRO)
    membership.credit_purchase(2, "txn_1", at(2025, 3, 2))
    membership.consume(5, "match-1", at(2025, 3, 2))
    entries_before = len(membership.new_entries)
    paid_at = at(2025, 3, 11)

    assert membership.apply_upgrade(VIP, CATALOG, paid_at) is True

    assert membership.plan is PlanId.VIP
    assert (membership.anchor, membership.period_index) == (PAID_ANCHOR, 0)
    assert membership.current_period_end == PAID_END
    assert membership.monthly_allowance == 100
    assert membership.allowance_used == 5
    assert membership.balance == Balance(allowance=95, purchased=2)  # 100 less the 5 used this period
    [grant] = membership.new_entries[entries_before:]
    assert grant == LedgerEntry("u1", LedgerKind.ALLOWANCE_GRANT, Bucket.ALLOWANCE, 80, grant.reference, paid_at)
    assert membership.events[-1] == events.PlanChanged(paid_at, "u1", "pro", "vip", "upgrade")
    assert membership.updated_at == paid_at
    assert_ledger_matches(membership)


def test_the_allowance_granted_by_a_paid_upgrade_belongs_to_the_current_period():
    membership = new_paid(PRO)
    period_reference = membership.new_entries[-1].reference  # the pro grant of this period

    membership.apply_upgrade(VIP, CATALOG, at(2025, 3, 11))

    assert membership.new_entries[-1].reference == period_reference


def test_an_upgraded_paid_plan_still_lapses_at_the_kept_period_end():
    membership = new_paid(PRO)
    membership.apply_upgrade(VIP, CATALOG, at(2025, 3, 11))

    membership.roll_forward(PAID_END, CATALOG)

    assert membership.plan is PlanId.BASIC
    assert membership.balance == Balance(3, 0)
    assert_ledger_matches(membership)


@pytest.mark.parametrize(("current", "new"), [(PRO, PRO), (PRO, BASIC), (VIP, PRO), (VIP, VIP)])
def test_applying_an_upgrade_that_is_no_longer_one_returns_false_and_changes_nothing(current, new):
    membership = new_paid(current)
    before = snapshot(membership)

    assert membership.apply_upgrade(new, CATALOG, at(2025, 3, 11)) is False
    assert snapshot(membership) == before


def test_a_second_payment_for_the_same_upgrade_is_not_applied_twice():
    membership = new_basic()
    assert membership.apply_upgrade(PRO, CATALOG, at(2025, 2, 10)) is True
    before = snapshot(membership)

    assert membership.apply_upgrade(PRO, CATALOG, at(2025, 2, 11)) is False
    assert snapshot(membership) == before


def test_a_downgrade_is_scheduled_for_the_period_end_and_changes_nothing_now():
    membership = new_paid(VIP)
    balance_before = membership.balance
    now = at(2025, 3, 20)

    change = membership.schedule_change(PRO, now)

    assert change == ScheduledChange(PlanId.PRO, PAID_END)
    assert membership.scheduled_change == change
    assert membership.plan is PlanId.VIP
    assert membership.balance == balance_before
    assert membership.events[-1] == events.PlanChangeScheduled(now, "u1", "pro", PAID_END)
    assert membership.updated_at == now


def test_a_scheduled_downgrade_to_basic_applies_at_the_period_end():
    membership = new_paid(VIP)
    membership.consume(30, "match-1", at(2025, 3, 5))
    membership.schedule_change(BASIC, at(2025, 3, 20))
    entries_before = len(membership.new_entries)

    membership.roll_forward(PAID_END + timedelta(hours=1), CATALOG)

    assert membership.plan is PlanId.BASIC
    assert membership.scheduled_change is None
    assert membership.balance == Balance(3, 0)
    assert membership.current_period_start == PAID_END
    assert moves(membership, entries_before) == [
        (LedgerKind.ALLOWANCE_EXPIRY, Bucket.ALLOWANCE, -70),
        (LedgerKind.ALLOWANCE_GRANT, Bucket.ALLOWANCE, 3),
    ]
    assert events.PlanChanged(PAID_END + timedelta(hours=1), "u1", "vip", "basic", "scheduled_change") in (
        membership.events)
    assert_ledger_matches(membership)


def test_a_scheduled_downgrade_to_a_paid_plan_also_ends_on_basic_while_renewals_do_not_exist():
    membership = new_paid(VIP)
    membership.schedule_change(PRO, at(2025, 3, 20))

    membership.roll_forward(PAID_END, CATALOG)

    assert membership.plan is PlanId.BASIC
    assert membership.scheduled_change is None
    assert membership.balance == Balance(3, 0)


def test_a_scheduled_downgrade_does_not_apply_before_the_period_end():
    membership = new_paid(VIP)
    membership.schedule_change(BASIC, at(2025, 3, 20))

    membership.roll_forward(PAID_END - timedelta(seconds=1), CATALOG)

    assert membership.plan is PlanId.VIP
    assert membership.scheduled_change == ScheduledChange(PlanId.BASIC, PAID_END)


def test_cancelling_a_scheduled_change_keeps_the_current_plan():
    membership = new_paid(VIP)
    membership.schedule_change(PRO, at(2025, 3, 20))
    now = at(2025, 3, 21)

    assert membership.cancel_scheduled_change(now) is True

    assert membership.scheduled_change is None
    assert membership.plan is PlanId.VIP
    assert membership.events[-1] == events.ScheduledChangeCancelled(now, "u1", "pro")
    assert membership.updated_at == now


def test_cancelling_when_nothing_is_scheduled_returns_false_and_changes_nothing():
    membership = new_paid(VIP)
    before = snapshot(membership)

    assert membership.cancel_scheduled_change(at(2025, 3, 21)) is False
    assert snapshot(membership) == before


def test_an_upgrade_paid_while_a_downgrade_is_scheduled_drops_the_downgrade():
    membership = new_paid(PRO)
    membership.schedule_change(BASIC, at(2025, 3, 5))

    membership.apply_upgrade(VIP, CATALOG, at(2025, 3, 11))

    assert membership.scheduled_change is None
    assert membership.plan is PlanId.VIP
