"""GET /api/v1/payments/methods: every known method, available when a provider serves it."""
from e2e_support import METHODS, error_of, ok

METHOD_KEYS = {"id", "name", "available", "icon_url", "flows", "currencies", "status", "can_save"}


async def test_with_the_development_routes_every_method_is_available_through_the_mock(api):
    body = await ok(await api.get(METHODS))

    assert set(body) == {"methods"}
    methods = body["methods"]
    assert [m["id"] for m in methods] == ["wechat_pay", "alipay", "credit_card", "mock"]
    for method in methods:
        assert set(method) == METHOD_KEYS, method
        assert method["available"] is True and method["status"] == "ok"
        assert isinstance(method["name"], str) and method["name"]
        assert method["icon_url"] is None or isinstance(method["icon_url"], str)
        assert method["flows"] and set(method["flows"]) == {"qr_code", "redirect", "mobile_redirect"}  # the mock: all
        assert method["currencies"] == ["CNY"]
    by_id = {m["id"]: m for m in methods}
    assert by_id["wechat_pay"]["name"] == "WeChat Pay"
    assert by_id["wechat_pay"]["flows"] == ["qr_code", "redirect", "mobile_redirect"]
    assert by_id["credit_card"]["flows"][0] == "redirect"  # each method's first flow, its default, is kept


async def test_a_method_no_provider_serves_is_listed_as_unavailable(make_api):
    api = await make_api(PAYMENTS_METHOD_ROUTES="mock=mock,alipay=mock")

    methods = (await ok(await api.get(METHODS)))["methods"]

    assert {m["id"]: m["available"] for m in methods} == {"wechat_pay": False, "alipay": True,
                                                          "credit_card": False, "mock": True}
    unavailable = next(m for m in methods if m["id"] == "wechat_pay")
    assert set(unavailable) == METHOD_KEYS
    assert (unavailable["flows"], unavailable["currencies"], unavailable["status"], unavailable["can_save"]) == \
        ([], [], "unavailable", False)


async def test_the_methods_need_a_token(api):
    await error_of(await api.get(METHODS, user=None), 401, "unauthorized")
