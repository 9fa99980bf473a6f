"""`flow` on `POST /receives`, `POST /plan` and `POST /sessions`, over HTTP: without one a session
takes its method's first flow in `GET /methods`; each of `qr_code`, `redirect`, `mobile_redirect`
reaches the provider (the mock's answer and its checkout page fit it: a code to scan only for
`qr_code`, a phone's page for `mobile_redirect`); a value outside the three, or one the method's
provider does not offer, is 422 `validation_error` with `details.flow` and stores nothing; the flow
is part of the body an `Idempotency-Key` replays."""
from __future__ import annotations

from pathlib import Path

import pytest
import respx

import plugins
from adapters.clock import SystemClock
from e2e_support import (
    METHODS,
    PLAN,
    RECEIVES,
    SESSIONS,
    assert_session,
    buy,
    error_of,
    membership,
    ok,
    pay,
    transaction,
    transaction_count,
)
from entrypoints.cli import mint_token
from entrypoints.config import load_config
from entrypoints.container import build_container
from entrypoints.http.app import create_app
from live import CheckoutPage

FLOWS = ["qr_code", "redirect", "mobile_redirect"]
JWT_SECRET = "e2e-test-secret-that-is-long-enough-0123456789"


async def checkout_page(api, payment_session: dict) -> CheckoutPage:
    """The mock's checkout page of the session, as the payer's browser gets it."""
    response = await api.client.get(f"/mock-checkout/{payment_session['id']}")
    return CheckoutPage.parse(response.status, response.content_type, await response.text())


async def assert_opened_with(api, payment_session: dict, flow: str) -> None:
    """The session's order was opened at the mock with `flow`: its instructions and its page fit it."""
    assert_session(payment_session)
    assert payment_session["payment_url"] == f"http://payments.test/mock-checkout/{payment_session['id']}"
    assert payment_session["qr_code"] == (payment_session["payment_url"] if flow == "qr_code" else None)
    page = await checkout_page(api, payment_session)
    assert page.status == 200 and page.payable
    assert page.elements["checkout"].attrs["data-flow"] == flow
    assert ("qr" in page.elements) == (flow == "qr_code")  # a code to scan only where one is scanned


async def first_flows(api) -> dict[str, str]:
    return {m["id"]: m["flows"][0] for m in (await ok(await api.get(METHODS)))["methods"]}


async def a_pending_purchase(api, **extra) -> dict:
    return await buy(api, 3, "wechat_pay", **extra)


# ---------------------------------------------------------------------- the default
@pytest.mark.parametrize("method", ["wechat_pay", "alipay", "credit_card", "mock"])
async def test_without_a_flow_a_purchase_is_opened_with_the_methods_first_flow(api, method):
    first = (await first_flows(api))[method]

    bought = await buy(api, 3, method)

    assert first == ("redirect" if method == "credit_card" else "qr_code")  # the defaults did not change
    await assert_opened_with(api, bought["session"], first)


async def test_without_a_flow_an_upgrade_and_a_new_session_take_the_methods_first_flow(api):
    upgrade = await ok(await api.post(PLAN, {"new_plan": "pro", "payment_method": "credit_card"}), 201)
    await assert_opened_with(api, upgrade["session"], "redirect")

    pending = await a_pending_purchase(api, flow="redirect")
    new = await ok(await api.post(SESSIONS, {"transaction_id": pending["transaction"]["id"]}), 201)
    await assert_opened_with(api, new, "qr_code")  # the method's first, not the earlier session's


# ---------------------------------------------------------------------- each flow
@pytest.mark.parametrize("flow", FLOWS)
async def test_a_purchase_is_opened_with_the_flow_it_asks_for(api, flow):
    bought = await buy(api, 3, "alipay", flow=flow)

    await assert_opened_with(api, bought["session"], flow)
    await pay(api, bought["session"])  # and is paid as any other
    assert (await membership(api))["receives"]["purchased_remaining"] == 3


@pytest.mark.parametrize("flow", FLOWS)
async def test_an_upgrade_is_opened_with_the_flow_it_asks_for(api, flow):
    started = await ok(await api.post(PLAN, {"new_plan": "vip", "payment_method": "wechat_pay", "flow": flow}), 201)

    await assert_opened_with(api, started["session"], flow)


@pytest.mark.parametrize("flow", FLOWS)
async def test_a_new_session_is_opened_with_the_flow_it_asks_for(api, flow):
    pending = await a_pending_purchase(api)

    new = await ok(await api.post(SESSIONS, {"transaction_id": pending["transaction"]["id"], "flow": flow}), 201)

    await assert_opened_with(api, new, flow)


async def test_a_phone_gets_a_page_laid_out_for_it(api):
    bought = await buy(api, 3, "wechat_pay", flow="mobile_redirect")

    page = await checkout_page(api, bought["session"])

    assert 'name="viewport" content="width=device-width' in page.html
    assert "flow-mobile_redirect" in page.elements["checkout"].attrs["class"]


async def test_a_downgrade_takes_an_offered_flow_and_ignores_it(api):
    started = await ok(await api.post(PLAN, {"new_plan": "pro", "payment_method": "alipay"}), 201)
    await pay(api, started["session"])

    body = await ok(await api.post(PLAN, {"new_plan": "basic", "payment_method": "alipay", "flow": "redirect"}))

    assert body["session"] is None and body["transaction"]["type"] == "plan_downgrade"


# ---------------------------------------------------------------------- refused
@pytest.mark.parametrize("flow", ["app", "QR_CODE", "", 1, True, ["qr_code"]])
@pytest.mark.parametrize("endpoint", ["receives", "plan", "sessions"])
async def test_a_flow_outside_the_three_is_a_validation_error_naming_flow_and_stores_nothing(api, endpoint, flow):
    pending = await a_pending_purchase(api) if endpoint == "sessions" else None
    before = await transaction_count(api)
    path, body = {"receives": (RECEIVES, {"amount": 3, "payment_method": "wechat_pay"}),
                  "plan": (PLAN, {"new_plan": "pro", "payment_method": "wechat_pay"}),
                  "sessions": (SESSIONS, {"transaction_id": pending and pending["transaction"]["id"]})}[endpoint]

    error = await error_of(await api.post(path, {**body, "flow": flow}), 422, "validation_error")

    assert set(error["details"]) == {"flow"}
    assert await transaction_count(api) == before
    if pending is not None:
        assert [s["id"] for s in (await transaction(api, pending["transaction"]["id"]))["sessions"]] == [
            pending["session"]["id"]]


async def test_the_refusal_is_in_chinese_when_asked(api):
    response = await api.post(RECEIVES, {"amount": 3, "payment_method": "wechat_pay", "flow": "app"},
                              headers={"Accept-Language": "zh-CN"})

    error = await error_of(response, 422, "validation_error")
    assert error["message"] == "请求无效：各字段的问题见 details。" and set(error["details"]) == {"flow"}
    assert response.headers["Content-Language"] == "zh-CN"


async def test_null_is_no_flow(api):
    bought = await buy(api, 3, "credit_card", flow=None)

    await assert_opened_with(api, bought["session"], "redirect")


# ---------------------------------------------------------------------- idempotency
async def test_a_replay_with_the_same_flow_answers_the_first_response_and_another_flow_is_a_reused_key(api):
    body = {"amount": 3, "payment_method": "alipay", "flow": "mobile_redirect"}
    first = await api.post(RECEIVES, body, headers={"Idempotency-Key": "flow-1"})
    created = await ok(first, 201)

    replay = await api.post(RECEIVES, {"flow": "mobile_redirect", "payment_method": "alipay", "amount": 3},
                            headers={"Idempotency-Key": "flow-1"})
    assert await ok(replay, 201) == created and replay.headers["Idempotent-Replayed"] == "true"

    for other in ({**body, "flow": "qr_code"}, {k: v for k, v in body.items() if k != "flow"}):
        await error_of(await api.post(RECEIVES, other, headers={"Idempotency-Key": "flow-1"}), 422,
                       "idempotency_key_reused")
    assert await transaction_count(api) == 1


async def test_a_refused_flow_keeps_nothing_so_the_same_key_can_be_corrected(api):
    key = {"Idempotency-Key": "flow-2"}
    await error_of(await api.post(SESSIONS, {"transaction_id": "txn_x", "flow": "app"}, headers=key), 422,
                   "validation_error")
    await error_of(await api.post(RECEIVES, {"amount": 3, "payment_method": "wechat_pay", "flow": "app"},
                                  headers=key), 422, "validation_error")

    bought = await ok(await api.post(RECEIVES, {"amount": 3, "payment_method": "wechat_pay", "flow": "redirect"},
                                     headers=key), 201)
    await assert_opened_with(api, bought["session"], "redirect")


# ---------------------------------------------------------------------- a provider that offers fewer flows
EXAMPLE_SETTINGS = {"PAYMENTS_EXAMPLE_API_URL": "https://api.examplepay.test/v1",
                    "PAYMENTS_EXAMPLE_API_KEY": "sk_test_e2e", "PAYMENTS_EXAMPLE_WEBHOOK_SECRET": "whsec_e2e",
                    "PAYMENTS_EXAMPLE_MERCHANT_ID": "M900800700"}


class ExampleApi:
    """The app's test client, with a member's token on each request (what e2e_support's helpers use)."""

    def __init__(self, client) -> None:
        self.client = client

    @staticmethod
    def _headers(user: str | None, extra: dict) -> dict[str, str]:
        return {**extra, **({"Authorization": f"Bearer {mint_token(JWT_SECRET, user, None, 3600)}"} if user else {})}

    async def get(self, path: str, *, user: str | None = "u1", headers: dict | None = None, **kwargs):
        return await self.client.get(path, headers=self._headers(user, headers or {}), **kwargs)

    async def post(self, path: str, json=None, *, user: str | None = "u1", headers: dict | None = None, **kwargs):
        return await self.client.post(path, json=json, headers=self._headers(user, headers or {}), **kwargs)


@pytest.fixture
async def example_api(aiohttp_client, fresh_sqlite_url: str, tmp_path: Path):
    """The app over SQLite with Alipay routed to the example plugin (tests/example_plugin), which
    offers `qr_code` and `redirect` only; ExamplePay's side is its in-memory fake, through respx."""
    if "example" not in plugins.available():
        pytest.fail("the example provider plugin is not installed: `.venv/bin/pip install -e tests/example_plugin`",
                    pytrace=False)
    from payments_example_provider import ExamplePayRemote

    remote = ExamplePayRemote(api_key=EXAMPLE_SETTINGS["PAYMENTS_EXAMPLE_API_KEY"], clock=SystemClock(),
                              webhook_secret=EXAMPLE_SETTINGS["PAYMENTS_EXAMPLE_WEBHOOK_SECRET"],
                              merchant_id=EXAMPLE_SETTINGS["PAYMENTS_EXAMPLE_MERCHANT_ID"])
    config = load_config({"PAYMENTS_JWT_SECRET": JWT_SECRET, "PAYMENTS_DATABASE_URL": fresh_sqlite_url,
                          "PAYMENTS_PUBLIC_URL": "http://payments.test",
                          "PAYMENTS_METHOD_ROUTES": "alipay=example,wechat_pay=mock,mock=mock",
                          "PAYMENTS_MOCK_STATE_PATH": str(tmp_path / "mock-remote.sqlite3"), **EXAMPLE_SETTINGS})
    with respx.mock(base_url=EXAMPLE_SETTINGS["PAYMENTS_EXAMPLE_API_URL"], assert_all_called=False) as examplepay:
        examplepay.route().mock(side_effect=remote.handle)
        yield ExampleApi(await aiohttp_client(create_app(build_container(config), background_jobs=False)))


async def test_a_flow_the_methods_provider_does_not_offer_is_refused_on_every_endpoint_and_stores_nothing(
        example_api):
    methods = {m["id"]: m for m in (await ok(await example_api.get(METHODS)))["methods"]}
    assert methods["alipay"]["flows"] == ["qr_code", "redirect"]
    pending = await buy(example_api, 3, "wechat_pay")

    refusals = [
        await example_api.post(RECEIVES, {"amount": 3, "payment_method": "alipay", "flow": "mobile_redirect"}),
        await example_api.post(PLAN, {"new_plan": "pro", "payment_method": "alipay", "flow": "mobile_redirect"}),
        await example_api.post(SESSIONS, {"transaction_id": pending["transaction"]["id"], "payment_method": "alipay",
                                          "flow": "mobile_redirect"}),
    ]

    for response in refusals:
        error = await error_of(response, 422, "validation_error")
        assert set(error["details"]) == {"flow"}
        assert "qr_code, redirect" in error["details"]["flow"][0]  # what it does offer
    assert await transaction_count(example_api) == 1
    detail = await transaction(example_api, pending["transaction"]["id"])
    assert [(s["id"], s["status"]) for s in detail["sessions"]] == [(pending["session"]["id"], "open")]
    assert detail["transaction"]["payment_method"] == "wechat_pay"
    assert (await membership(example_api))["plan"] == "basic"


async def test_an_offered_flow_is_opened_at_that_provider(example_api):
    bought = await buy(example_api, 3, "alipay", flow="redirect")

    assert (bought["session"]["provider"], bought["session"]["status"]) == ("example", "open")
    assert bought["session"]["payment_url"].startswith("https://pay.examplepay.test/checkout/")
