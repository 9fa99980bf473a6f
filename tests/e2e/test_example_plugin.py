"""A third-party provider plugin through the real app: the example plugin (tests/example_plugin,
installed with pip) is discovered from its entry point by the composition root, routed to
`alipay`, opens the payment at its provider, and its signed notification credits the member.

The SQL container on a fresh SQLite file builds the providers from their entry points (the
in-memory container registers the mock under every routed provider name, so it cannot load a
real plugin). ExamplePay's server side is the plugin's in-memory fake, reached by respx through
the app's own httpx client: no change to the core, no network."""
from __future__ import annotations

import re
from pathlib import Path

import pytest
import respx

import plugins
from adapters.clock import SystemClock
from e2e_support import JWT_SECRET, METHODS, buy, deliver, membership, ok, transaction
from entrypoints.cli import mint_token
from entrypoints.config import load_config
from entrypoints.container import build_container
from entrypoints.http.app import create_app

EXAMPLE_SETTINGS = {"PAYMENTS_EXAMPLE_API_URL": "https://api.examplepay.test/v1",
                    "PAYMENTS_EXAMPLE_API_KEY": "sk_test_e2e", "PAYMENTS_EXAMPLE_WEBHOOK_SECRET": "whsec_e2e",
                    "PAYMENTS_EXAMPLE_MERCHANT_ID": "M900800700"}
INSTALL = ("the example provider plugin is not installed: run `.venv/bin/pip install -e tests/example_plugin` "
           "in the service's work tree")


class Api:
    """The app's test client, with a member's token on each request (what e2e_support's helpers use)."""

    def __init__(self, client) -> None:
        self.client = client

    @staticmethod
    def _headers(user: str | None) -> dict[str, str]:
        return {"Authorization": f"Bearer {mint_token(JWT_SECRET, user, None, 3600)}"} if user else {}

    async def get(self, path: str, *, user: str | None = "u1", **kwargs):
        return await self.client.get(path, headers=self._headers(user), **kwargs)

    async def post(self, path: str, json=None, *, user: str | None = "u1", **kwargs):
        return await self.client.post(path, json=json, headers=self._headers(user), **kwargs)


@pytest.fixture
def remote():
    """ExamplePay's server side (fails the test, never skips it, when the plugin is not installed)."""
    if "example" not in plugins.available():
        pytest.fail(INSTALL, pytrace=False)
    from payments_example_provider import ExamplePayRemote

    return ExamplePayRemote(api_key=EXAMPLE_SETTINGS["PAYMENTS_EXAMPLE_API_KEY"], clock=SystemClock(),
                            webhook_secret=EXAMPLE_SETTINGS["PAYMENTS_EXAMPLE_WEBHOOK_SECRET"],
                            merchant_id=EXAMPLE_SETTINGS["PAYMENTS_EXAMPLE_MERCHANT_ID"])


@pytest.fixture
async def api(aiohttp_client, fresh_sqlite_url: str, tmp_path: Path, remote):
    config = load_config({"PAYMENTS_JWT_SECRET": JWT_SECRET, "PAYMENTS_DATABASE_URL": fresh_sqlite_url,
                          "PAYMENTS_PUBLIC_URL": "http://payments.test",
                          "PAYMENTS_METHOD_ROUTES": "alipay=example,mock=mock",
                          "PAYMENTS_MOCK_STATE_PATH": str(tmp_path / "mock-remote.sqlite3"), **EXAMPLE_SETTINGS})
    with respx.mock(base_url=EXAMPLE_SETTINGS["PAYMENTS_EXAMPLE_API_URL"], assert_all_called=False) as examplepay:
        examplepay.route().mock(side_effect=remote.handle)
        yield Api(await aiohttp_client(create_app(build_container(config), background_jobs=False)))


async def test_the_methods_list_alipay_as_served_by_the_example_plugin(api):
    from payments_example_provider.provider import ICON_URL

    methods = {m["id"]: m for m in (await ok(await api.get(METHODS)))["methods"]}

    assert methods["alipay"] == {"id": "alipay", "name": "Alipay", "available": True, "icon_url": ICON_URL,
                                 "flows": ["qr_code", "redirect"], "currencies": ["CNY"], "status": "ok",
                                 "can_save": False}
    assert methods["mock"]["available"] is True  # the mock declares no icon: the service's own is listed
    assert re.fullmatch(r"http://payments\.test/assets/methods/mock-[0-9a-f]{16}\.svg", methods["mock"]["icon_url"])
    assert (methods["wechat_pay"]["available"], methods["credit_card"]["available"]) == (False, False)


async def test_a_purchase_with_alipay_opens_its_order_at_the_example_provider(api, remote):
    bought = await buy(api, 10, "alipay")

    session = bought["session"]
    assert (bought["transaction"]["provider"], session["provider"], session["status"]) == ("example", "example", "open")
    at_examplepay = remote.orders[session["order_id"]]
    assert (at_examplepay.status, at_examplepay.amount.amount, session["amount"]) == ("open", 1700, 1700)
    assert session["payment_url"] == f"https://pay.examplepay.test/checkout/{at_examplepay.id}"
    assert session["qr_code"] == f"examplepay://pay?order={at_examplepay.id}"


async def test_a_signed_example_notification_to_its_webhook_credits_the_receives(api, remote):
    bought = await buy(api, 10, "alipay")
    headers, body = remote.pay(bought["session"]["order_id"])

    response = await deliver(api, headers, body, provider="example")

    assert (response.status, await response.json()) == (200, {"status": "ok"})
    assert (await transaction(api, bought["transaction"]["id"]))["transaction"]["status"] == "succeeded"
    assert (await membership(api))["receives"]["purchased_remaining"] == 10


async def test_a_forged_example_notification_is_refused_in_the_plugins_own_format_and_credits_nothing(api, remote):
    bought = await buy(api, 10, "alipay")
    order_id = bought["session"]["order_id"]
    headers, body = remote.notify("order.paid", order_id, remote.orders[order_id].amount, secret="whsec_not_ours")

    response = await deliver(api, headers, body, provider="example")

    assert (response.status, await response.json()) == (401, {"status": "rejected", "reason": "invalid_signature"})
    assert response.headers["Content-Type"] == "application/json; charset=utf-8"  # the plugin's, verbatim
    assert (await transaction(api, bought["transaction"]["id"]))["transaction"]["status"] == "pending"
    assert (await membership(api))["receives"]["purchased_remaining"] == 0
