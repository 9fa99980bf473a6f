"""ListPaymentMethods: every known method, available when a route names a loaded provider that
declares it, with that provider's flows and currencies, and an icon: the provider's own when it
declares one, else the service's."""
import attrs

from plugins.mock.provider import CAPABILITIES
from ports.payment_provider import ProviderCapabilities, ProviderRegistry
from ports.use_cases.catalog.list_payment_methods import ListPaymentMethods
from world import PUBLIC_URL, World

SERVICE_ICONS = {"wechat_pay": "https://pay.test/assets/wechat_pay.svg", "alipay": "https://pay.test/assets/alipay.svg"}


async def test_with_the_development_routes_every_method_is_served_by_the_mock():
    world = World()

    methods = await world.list_payment_methods()

    assert [(m.id, m.name, m.available, m.flows, m.currencies) for m in methods] == [
        ("wechat_pay", "WeChat Pay", True, ("qr_code", "redirect", "mobile_redirect"), ("CNY",)),
        ("alipay", "Alipay", True, ("qr_code", "redirect", "mobile_redirect"), ("CNY",)),
        ("credit_card", "Card", True, ("redirect", "mobile_redirect", "qr_code"), ("CNY",)),
        ("mock", "Mock", True, ("qr_code", "redirect", "mobile_redirect"), ("CNY",)),
    ]


async def test_a_method_with_no_route_is_listed_as_unavailable():
    world = World(routes={"wechat_pay": "mock", "mock": "mock"})

    methods = {m.id: m for m in await world.list_payment_methods()}

    assert {m: v.available for m, v in methods.items()} == {
        "wechat_pay": True, "alipay": False, "credit_card": False, "mock": True}
    assert (methods["alipay"].name, methods["alipay"].flows, methods["alipay"].currencies) == ("Alipay", (), ())
    assert methods["credit_card"].icon_url.startswith(f"{PUBLIC_URL}/assets/methods/credit_card-")  # kept


async def test_with_no_routes_nothing_is_available():
    world = World(routes={})

    methods = await world.list_payment_methods()

    assert [m.id for m in methods] == ["wechat_pay", "alipay", "credit_card", "mock"]
    assert not any(m.available for m in methods)


async def test_every_method_links_the_services_own_icon_on_the_public_url():
    world = World()

    methods = await world.list_payment_methods()

    for method in methods:
        assert method.icon_url.startswith(f"{PUBLIC_URL}/assets/methods/{method.id}-") and \
            method.icon_url.endswith(".svg"), method


class IconProvider:
    """A provider that declares its own icon for WeChat Pay."""

    name = "iconic"
    merchant_id = None
    capabilities = ProviderCapabilities(
        methods=tuple(attrs.evolve(m, icon_url="https://cdn.iconic.test/wechat.svg") if m.id == "wechat_pay" else m
                      for m in CAPABILITIES.methods), currencies=("CNY",))


async def test_a_providers_own_icon_wins_over_the_services():
    registry = ProviderRegistry({"iconic": IconProvider()}, {"wechat_pay": "iconic", "alipay": "iconic"},
                                {"wechat_pay": "WeChat Pay", "alipay": "Alipay", "credit_card": "Card"})

    methods = {m.id: m.icon_url for m in await ListPaymentMethods(registry, SERVICE_ICONS)()}

    assert methods == {"wechat_pay": "https://cdn.iconic.test/wechat.svg",  # the provider's
                       "alipay": "https://pay.test/assets/alipay.svg",  # the service's
                       "credit_card": None}  # neither has one
