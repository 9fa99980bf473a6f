"""The catalog: receive pricing with bulk discount tiers (half-up to the fen) and the monthly plans."""
from decimal import Decimal

import pytest

from domain.catalog import DEFAULT_CATALOG, DiscountTier, PlanId, ReceivesPricing
from domain.errors import DomainValidationError
from domain.money import CNY, Money

PRICING = DEFAULT_CATALOG.receives


def cny(amount: int) -> Money:
    return Money(amount, CNY)


# ---------------------------------------------------------------------- receives pricing


@pytest.mark.parametrize(
    ("quantity", "subtotal", "discount", "total", "percent"),
    [
        (1, 200, 0, 200, 0),
        (4, 800, 0, 800, 0),
        (5, 1000, 100, 900, 10),
        (7, 1400, 140, 1260, 10),
        (9, 1800, 180, 1620, 10),
        (10, 2000, 300, 1700, 15),
        (19, 3800, 570, 3230, 15),
        (20, 4000, 800, 3200, 20),
        (100, 20000, 4000, 16000, 20),
    ],
)
def test_the_default_pricing_matches_the_contract_examples(quantity, subtotal, discount, total, percent):
    quote = PRICING.quote(quantity)

    assert quote.quantity == quantity
    assert quote.unit_price == cny(200)
    assert quote.subtotal == cny(subtotal)
    assert quote.discount == cny(discount)
    assert quote.total == cny(total)
    assert quote.discount_percent == percent


@pytest.mark.parametrize(
    ("quantity", "percent"), [(1, 0), (4, 0), (5, 10), (9, 10), (10, 15), (19, 15), (20, 20), (100, 20)])
def test_the_discount_tier_is_chosen_by_quantity(quantity, percent):
    assert PRICING.discount_percent_for(quantity) == percent


@pytest.mark.parametrize("quantity", [0, -1, 101, 1000])
def test_a_quantity_outside_1_to_100_is_refused_on_the_amount_field(quantity):
    with pytest.raises(DomainValidationError) as raised:
        PRICING.quote(quantity)

    assert raised.value.field == "amount"
    assert raised.value.details == {"amount": ["Must be between 1 and 100."]}


@pytest.mark.parametrize("quantity", [True, False, 5.0, "5", Decimal(5), None])
def test_a_quantity_that_is_not_a_plain_int_is_refused_on_the_amount_field(quantity):
    with pytest.raises(DomainValidationError) as raised:
        PRICING.quote(quantity)

    assert raised.value.field == "amount"


def test_a_custom_quantity_range_is_enforced_and_reported():
    pricing = ReceivesPricing(cny(100), min_quantity=2, max_quantity=3)

    assert pricing.quote(2).total == cny(200)
    assert pricing.quote(3).total == cny(300)
    for quantity in (1, 4):
        with pytest.raises(DomainValidationError) as raised:
            pricing.quote(quantity)
        assert raised.value.details == {"amount": ["Must be between 2 and 3."]}


def test_a_discount_of_half_a_fen_is_rounded_up():
    pricing = ReceivesPricing(cny(199), tiers=(DiscountTier(5, 10),))

    quote = pricing.quote(5)  # 995 fen, 10 % = 99.5 fen

    assert quote.subtotal == cny(995)
    assert quote.discount == cny(100)
    assert quote.total == cny(895)


def test_half_a_fen_rounds_up_even_when_the_fen_below_is_even():
    pricing = ReceivesPricing(cny(205), tiers=(DiscountTier(1, 10),))

    quote = pricing.quote(1)  # 20.5 fen: half-even would round to 20

    assert quote.discount == cny(21)
    assert quote.total == cny(184)


@pytest.mark.parametrize(("unit_price", "discount"), [(194, 19), (196, 20)])  # 19.4 and 19.6 fen
def test_a_discount_off_the_half_rounds_to_the_nearest_fen(unit_price, discount):
    pricing = ReceivesPricing(cny(unit_price), tiers=(DiscountTier(1, 10),))

    assert pricing.quote(1).discount == cny(discount)


def test_subtotal_is_always_discount_plus_total():
    pricing = ReceivesPricing(cny(199), tiers=(DiscountTier(3, 7), DiscountTier(11, 13)))

    for quantity in range(1, 101):
        quote = pricing.quote(quantity)
        assert quote.discount + quote.total == quote.subtotal


@pytest.mark.parametrize("unit_price", [0, -200])
def test_pricing_refuses_a_unit_price_that_is_not_positive(unit_price):
    with pytest.raises(ValueError):
        ReceivesPricing(cny(unit_price))


@pytest.mark.parametrize("percent", [-1, 101])
def test_pricing_refuses_a_discount_outside_0_to_100_percent(percent):
    with pytest.raises(ValueError):
        ReceivesPricing(cny(200), tiers=(DiscountTier(5, percent),))


# ---------------------------------------------------------------------- plans


def test_the_default_plans_match_the_contract():
    basic, pro, vip = (DEFAULT_CATALOG.plan(plan_id) for plan_id in (PlanId.BASIC, PlanId.PRO, PlanId.VIP))

    assert (basic.price, basic.monthly_receives, basic.is_paid) == (cny(0), 3, False)
    assert (pro.price, pro.monthly_receives, pro.is_paid) == (cny(2900), 20, True)
    assert (vip.price, vip.monthly_receives, vip.is_paid) == (cny(5900), 100, True)
    assert basic.rank < pro.rank < vip.rank
    assert DEFAULT_CATALOG.currency is CNY


def test_plan_ids_are_the_contract_strings():
    assert [plan_id.value for plan_id in PlanId] == ["basic", "pro", "vip"]


def test_a_plan_is_found_by_its_id_or_its_string():
    assert DEFAULT_CATALOG.plan("pro") is DEFAULT_CATALOG.plan(PlanId.PRO)
    assert DEFAULT_CATALOG.plan("vip").id is PlanId.VIP


def test_an_unknown_plan_is_refused_on_the_new_plan_field():
    with pytest.raises(DomainValidationError) as raised:
        DEFAULT_CATALOG.plan("platinum")

    assert raised.value.field == "new_plan"


def test_the_free_plan_is_the_lowest_ranked_one():
    assert DEFAULT_CATALOG.free_plan.id is PlanId.BASIC
    assert not DEFAULT_CATALOG.free_plan.is_paid
