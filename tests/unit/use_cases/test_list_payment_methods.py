"""ListPaymentMethods: every known method, available when a route names a loaded provider that
declares it, with that provider's flows and currencies."""
from world import World


async def test_with_the_development_routes_every_method_is_served_by_the_mock():
    world = World()

    methods = await world.list_payment_methods()

    assert [(m.id, m.name, m.available, m.flows, m.currencies) for m in methods] == [
        ("wechat_pay", "WeChat Pay", True, ("qr_code",), ("CNY",)),
        ("alipay", "Alipay", True, ("qr_code", "redirect"), ("CNY",)),
        ("credit_card", "Card", True, ("redirect",), ("CNY",)),
        ("mock", "Mock", True, ("qr_code", "redirect"), ("CNY",)),
    ]


async def test_a_method_with_no_route_is_listed_as_unavailable():
    world = World(routes={"wechat_pay": "mock", "mock": "mock"})

    methods = {m.id: m for m in await world.list_payment_methods()}

    assert {m: v.available for m, v in methods.items()} == {
        "wechat_pay": True, "alipay": False, "credit_card": False, "mock": True}
    assert (methods["alipay"].name, methods["alipay"].flows, methods["alipay"].currencies) == ("Alipay", (), ())
    assert methods["credit_card"].icon_url is None


async def test_with_no_routes_nothing_is_available():
    world = World(routes={})

    methods = await world.list_payment_methods()

    assert [m.id for m in methods] == ["wechat_pay", "alipay", "credit_card", "mock"]
    assert not any(m.available for m in methods)
