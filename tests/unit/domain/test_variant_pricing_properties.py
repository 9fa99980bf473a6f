"""The pricing properties of `test_properties.py`, extended to any variant a price experiment may
have (whatever unit price, tiers and plan prices `PriceVariant.check` accepts):

- totals follow the contract's formula with the variant's unit price and tiers (discount half-up);
- the price of a receive never rises with the quantity: exactly, per receive before the total's
  rounding (u × (100 − percent) / 100); and per purchase (total ÷ quantity) by no more than the
  rounding of the two totals, and not at all when no tier leaves a fraction of a fen;
- proration between paid plans follows the contract with the variant's plan prices, and an
  upgrade never charges a negative amount;
- a variant only changes prices: plans, ranks and allowances are the catalog's.
"""
from datetime import datetime, timedelta, timezone
from decimal import ROUND_HALF_UP, Decimal
from fractions import Fraction

from hypothesis import assume, given, settings
from hypothesis import strategies as st

from domain.catalog import DEFAULT_CATALOG, DiscountTier, PlanId
from domain.errors import DomainValidationError
from domain.experiment import PriceVariant
from domain.membership import Membership
from domain.period import period_bounds

UTC = timezone.utc
FAST = settings(max_examples=200, deadline=None)
QUANTITIES = st.integers(min_value=1, max_value=100)


def half_up(numerator: int, denominator: int) -> int:
    return int((Decimal(numerator) / Decimal(denominator)).quantize(Decimal(1), rounding=ROUND_HALF_UP))


@st.composite
def variants(draw, whole_fen: bool = False):
    """Any variant the domain accepts: a unit price or the catalog's, tiers or the catalog's
    (discounts never smaller for bigger tiers), paid plan prices keeping the plans' order."""
    unit_price = draw(st.one_of(st.none(), st.integers(min_value=1, max_value=100_000)))
    tiers = None
    if draw(st.booleans()):
        minimums = sorted(draw(st.sets(st.integers(min_value=1, max_value=100), max_size=4)))
        percents = sorted(draw(st.lists(st.integers(min_value=0, max_value=99),
                                        min_size=len(minimums), max_size=len(minimums))))
        tiers = tuple(map(DiscountTier, minimums, percents))
    if whole_fen:
        unit = unit_price if unit_price is not None else DEFAULT_CATALOG.receives.unit_price.amount
        percents = [t.discount_percent for t in (tiers if tiers is not None else DEFAULT_CATALOG.receives.tiers)]
        assume(all(unit * percent % 100 == 0 for percent in percents))
    pro = draw(st.one_of(st.none(), st.integers(min_value=1, max_value=50_000)))
    vip = draw(st.one_of(st.none(), st.integers(min_value=1, max_value=100_000)))
    plans = tuple((plan, price) for plan, price in (("pro", pro), ("vip", vip)) if price is not None)
    variant = PriceVariant("v", 1, unit_price=unit_price, tiers=tiers, plan_prices=plans)
    try:
        variant.check(DEFAULT_CATALOG, "variants[0]")
    except DomainValidationError:
        assume(False)
    return variant


@FAST
@given(variants(), QUANTITIES)
def test_a_variants_totals_follow_the_contract_formula(variant, quantity):
    pricing = variant.catalog(DEFAULT_CATALOG).receives
    unit = variant.unit_price if variant.unit_price is not None else 200
    tiers = variant.tiers if variant.tiers is not None else DEFAULT_CATALOG.receives.tiers
    reached = [t for t in tiers if t.min_quantity <= quantity]
    percent = max(reached, key=lambda t: t.min_quantity).discount_percent if reached else 0

    quote = pricing.quote(quantity)

    assert quote.discount_percent == percent
    assert quote.subtotal.amount == unit * quantity
    assert quote.discount.amount == half_up(unit * quantity * percent, 100)
    assert quote.total.amount == quote.subtotal.amount - quote.discount.amount >= 1


@FAST
@given(variants(), QUANTITIES, QUANTITIES)
def test_within_a_variant_the_price_of_a_receive_never_rises_with_quantity(variant, first, second):
    fewer, more = sorted((first, second))
    pricing = variant.catalog(DEFAULT_CATALOG).receives

    def exact(quantity: int) -> Fraction:  # per receive, before the total is rounded to the fen
        return pricing.unit_price.amount * Fraction(100 - pricing.discount_percent_for(quantity), 100)

    def charged(quantity: int) -> Fraction:
        return Fraction(pricing.quote(quantity).total.amount, quantity)

    assert exact(more) <= exact(fewer)
    # Each total is within half a fen of quantity × exact: the charged price per receive can only
    # differ from the exact one by that rounding.
    assert charged(more) <= charged(fewer) + Fraction(1, 2 * fewer) + Fraction(1, 2 * more)


@FAST
@given(variants(whole_fen=True), QUANTITIES, QUANTITIES)
def test_when_no_tier_leaves_a_fraction_of_a_fen_the_charged_price_per_receive_never_rises(variant, first, second):
    fewer, more = sorted((first, second))
    pricing = variant.catalog(DEFAULT_CATALOG).receives

    def charged(quantity: int) -> Fraction:
        return Fraction(pricing.quote(quantity).total.amount, quantity)

    assert charged(more) <= charged(fewer)


@FAST
@given(variants(), st.integers(min_value=0, max_value=27 * 86400))
def test_upgrading_pro_to_vip_within_a_variant_prorates_its_prices_and_never_charges_a_negative_amount(
        variant, elapsed_seconds):
    catalog = variant.catalog(DEFAULT_CATALOG)
    pro, vip = catalog.plan(PlanId.PRO), catalog.plan(PlanId.VIP)
    anchor = datetime(2027, 2, 1, tzinfo=UTC)
    membership = Membership.start("u1", catalog.free_plan, anchor)
    assert membership.apply_upgrade(pro, catalog, anchor)
    now = anchor + timedelta(seconds=elapsed_seconds)
    start, end = period_bounds(anchor, 0)
    remaining, length = int((end - now).total_seconds()), int((end - start).total_seconds())

    proration = membership.quote_upgrade(vip, catalog, now)

    assert proration.credit.amount == half_up(pro.price.amount * remaining, length)
    assert proration.debit.amount == half_up(vip.price.amount * remaining, length)
    assert proration.charge.amount == proration.debit.amount - proration.credit.amount >= 0


@FAST
@given(variants())
def test_a_variant_changes_prices_only(variant):
    catalog = variant.catalog(DEFAULT_CATALOG)

    assert [(p.id, p.name, p.rank, p.monthly_receives) for p in catalog.plans] == \
        [(p.id, p.name, p.rank, p.monthly_receives) for p in DEFAULT_CATALOG.plans]
    assert catalog.free_plan.price.is_zero
    assert (catalog.receives.min_quantity, catalog.receives.max_quantity) == (1, 100)
