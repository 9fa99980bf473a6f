"""GetPricing: the configured catalog (receive prices, discount tiers and plans)."""
from builders import buy
from domain.catalog import DEFAULT_CATALOG, Catalog, DiscountTier, Plan, PlanId, ReceivesPricing
from domain.money import CNY, Money
from world import World


async def test_the_default_catalog_prices_receives_at_200_fen_with_three_tiers():
    world = World()

    catalog = await world.get_pricing()

    assert catalog.currency == CNY
    r = catalog.receives
    assert (r.unit_price, r.min_quantity, r.max_quantity) == (Money(200, CNY), 1, 100)
    assert [(t.min_quantity, t.discount_percent) for t in r.tiers] == [(5, 10), (10, 15), (20, 20)]


async def test_the_default_catalog_lists_basic_pro_and_vip_monthly():
    world = World()

    catalog = await world.get_pricing()

    assert [(p.id.value, p.name, p.price.amount, p.monthly_receives) for p in catalog.plans] == [
        ("basic", "Basic", 0, 3), ("pro", "Pro", 2900, 20), ("vip", "VIP", 5900, 100)]
    assert [p.rank for p in catalog.plans] == [0, 1, 2]


async def test_a_configured_catalog_is_the_one_shown_and_charged():
    catalog = Catalog(
        currency=CNY,
        receives=ReceivesPricing(unit_price=Money(150, CNY), max_quantity=50, tiers=(DiscountTier(3, 50),)),
        plans=DEFAULT_CATALOG.plans[:2] + (Plan(PlanId.VIP, "VIP", Money(9900, CNY), 200, 2),),
    )
    world = World(catalog=catalog)

    shown = await world.get_pricing()
    bought = await buy(world, "alice", 3)

    assert shown == catalog
    assert bought.transaction.total == Money(225, CNY)
