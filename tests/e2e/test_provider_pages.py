"""Pages that provider plugins serve themselves (the port's optional `web_routes()` hook), mounted by
the app at start-up for every loaded provider that has them, outside production: the mock's
checkout page is one, found across several mocks; any plugin's pages are mounted the same way."""
from __future__ import annotations

import pytest
from aiohttp import web
from dependency_injector import providers

from adapters.clock import SystemClock
from e2e_support import JWT_SECRET, MOCK_SECRET, buy
from entrypoints.cli import mint_token
from entrypoints.config import load_config
from entrypoints.container import build_container
from entrypoints.http.app import create_app
from plugins.mock import MockProvider


class Api:
    def __init__(self, client, container) -> None:
        self.client, self.container = client, container

    async def post(self, path, json=None, *, user="u1", **kwargs):
        headers = {"Authorization": f"Bearer {mint_token(JWT_SECRET, user, None, 3600)}"}
        return await self.client.post(path, json=json, headers=headers, **kwargs)


class Pager(MockProvider):
    """The mock, plus a page `/pages/{key}` that answers only the keys it was given."""

    def __init__(self, name: str, keys: set[str]) -> None:
        super().__init__(webhook_secret=MOCK_SECRET, public_url="http://payments.test", clock=SystemClock(), name=name)
        self.keys = keys

    def web_routes(self) -> list[web.RouteDef]:
        async def page(request: web.Request) -> web.Response:
            if request.match_info["key"] not in self.keys:
                raise web.HTTPNotFound(text=f"{self.name} does not know it", content_type="text/plain")
            return web.Response(text=f"{self.name} page {request.match_info['key']}")

        return [*super().web_routes(), web.get("/pages/{key}", page, allow_head=False)]


@pytest.fixture
def make_app(aiohttp_client):
    async def make(environ: dict[str, str], loaded: dict | None = None) -> Api:
        config = load_config({"PAYMENTS_JWT_SECRET": JWT_SECRET, "PAYMENTS_MOCK_WEBHOOK_SECRET": MOCK_SECRET,
                              "PAYMENTS_PUBLIC_URL": "http://payments.test", **environ})
        container = build_container(config, in_memory=True)
        if loaded is not None:
            for in_memory_adapters in container.adapters.overridden:
                in_memory_adapters.provides.payment_providers.override(providers.Object(loaded))
        return Api(await aiohttp_client(create_app(container, background_jobs=False)), container)
    return make


async def test_the_mock_checkout_page_is_found_at_whichever_mock_opened_the_order(make_app):
    api = await make_app({"PAYMENTS_METHOD_ROUTES": "wechat_pay=wechat_pay,alipay=alipay,mock=mock"})
    bought = await buy(api, 10, "wechat_pay")  # opened at the mock registered as `wechat_pay`
    path = "/mock-checkout/" + bought["session"]["id"]

    page = await api.client.get(path)
    unknown = await api.client.get("/mock-checkout/ps_unknown")

    assert (page.status, page.content_type, bought["session"]["provider"]) == (200, "text/html", "wechat_pay")
    assert bought["session"]["order_id"] in await page.text()
    assert (unknown.status, (await unknown.json())["error"]["code"]) == (404, "not_found")


async def test_every_loaded_providers_pages_are_mounted_and_each_answers_for_what_it_knows(make_app):
    loaded = {"mock": Pager("mock", {"a"}), "other": Pager("other", {"b"})}
    api = await make_app({"PAYMENTS_METHOD_ROUTES": "mock=mock"}, loaded)

    answers = {key: await api.client.get(f"/pages/{key}") for key in ("a", "b", "c")}

    assert [(r.status, await r.text()) for r in list(answers.values())[:2]] == [(200, "mock page a"),
                                                                                (200, "other page b")]
    assert answers["c"].status == 404  # the last one's answer, in the app's error format


async def test_in_production_no_plugin_page_is_mounted(make_app):
    api = await make_app({"PAYMENTS_ENV": "production", "PAYMENTS_METHOD_ROUTES": "mock=example"},
                         {"example": Pager("example", {"a"}), "mock": Pager("mock", {"a"})})

    for path in ("/pages/a", "/mock-checkout/ps_1"):
        response = await api.client.get(path)
        assert (response.status, (await response.json())["error"]["code"]) == (404, "not_found"), path
