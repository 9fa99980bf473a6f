"""Issue 12: unknown query parameters are refused like unknown body fields (422 `validation_error`,
`details` naming each one), on every /api/v1 route, those that take no query parameter at all and
the POSTs included. Left alone: `access_token` on the session event stream, the webhooks
(providers add parameters of their own) and the pages outside the API. Through a real aiohttp
server."""
from __future__ import annotations

import pytest

from e2e_support import (
    CANCEL,
    CONSUME,
    MEMBERSHIP,
    METHODS,
    PLAN,
    PRICING,
    RECEIVES,
    SESSIONS,
    TRANSACTIONS,
    buy,
    error_of,
    mock_provider,
    ok,
    transaction_count,
)

UNKNOWN = {"foo": ["Unknown field."]}


async def test_a_route_that_takes_no_query_parameters_refuses_one(api):
    response = await api.get(MEMBERSHIP, params={"x": "1"})

    error = await error_of(response, 422, "validation_error")
    assert error["details"] == {"x": ["Unknown field."]}


@pytest.mark.parametrize("path", [MEMBERSHIP, PRICING, METHODS, TRANSACTIONS])
async def test_every_read_refuses_an_unknown_parameter(api, path):
    error = await error_of(await api.get(path, params={"foo": "bar"}), 422, "validation_error")

    assert error["details"] == UNKNOWN


async def test_reads_of_one_object_refuse_an_unknown_parameter(api):
    bought = await buy(api, 1)

    for path in (f"{TRANSACTIONS}/{bought['transaction']['id']}", f"{SESSIONS}/{bought['session']['id']}"):
        error = await error_of(await api.get(path, params={"foo": "1"}), 422, "validation_error")
        assert error["details"] == UNKNOWN, path


async def test_a_purchase_with_an_unknown_query_parameter_is_refused_and_buys_nothing(api):
    response = await api.post(RECEIVES, {"amount": 1, "payment_method": "wechat_pay"}, params={"foo": "1"})

    error = await error_of(response, 422, "validation_error")
    assert error["details"] == UNKNOWN
    assert await transaction_count(api) == 0


@pytest.mark.parametrize(("path", "body", "role"), [
    (PLAN, {"new_plan": "pro", "payment_method": "alipay"}, None),
    (SESSIONS, {"transaction_id": "txn_missing"}, None),
    (CANCEL, {"transaction_id": "txn_missing"}, None),
    (CONSUME, {"user_id": "u1", "count": 1, "reference": "r"}, "service"),
])
async def test_every_post_refuses_an_unknown_query_parameter(api, path, body, role):
    response = await api.post(path, body, role=role, params={"foo": "1"})

    error = await error_of(response, 422, "validation_error")
    assert error["details"] == UNKNOWN


async def test_a_refused_keyed_post_keeps_nothing_so_the_corrected_retry_runs(api):
    headers = {"Idempotency-Key": "query-1"}
    body = {"amount": 1, "payment_method": "wechat_pay"}
    await error_of(await api.post(RECEIVES, body, params={"foo": "1"}, headers=headers), 422, "validation_error")

    retried = await api.post(RECEIVES, body, headers=headers)

    await ok(retried, 201)
    assert "Idempotent-Replayed" not in retried.headers


async def test_every_unknown_parameter_is_named_beside_wrong_values(api):
    response = await api.get(TRANSACTIONS, params=[("foo", "1"), ("bar", "2"), ("limit", "0")])

    error = await error_of(response, 422, "validation_error")
    assert set(error["details"]) == {"foo", "bar", "limit"}
    assert error["details"]["foo"] == ["Unknown field."] and error["details"]["bar"] == ["Unknown field."]


async def test_a_misspelt_filter_is_refused_rather_than_ignored(api):
    error = await error_of(await api.get(TRANSACTIONS, params={"statuss": "pending"}), 422, "validation_error")

    assert error["details"] == {"statuss": ["Unknown field."]}


async def test_known_parameters_may_still_repeat(api):
    await buy(api, 1)

    page = await ok(await api.get(TRANSACTIONS, params=[("status", "pending"), ("status", "succeeded"),
                                                        ("type", "purchase_receives"), ("limit", "5")]))

    assert page["total"] == 1 and page["limit"] == 5


async def test_the_token_on_a_route_that_does_not_take_it_from_the_query_is_an_unknown_parameter(api):
    response = await api.get(MEMBERSHIP, params={"access_token": api.token("u1")})

    error = await error_of(response, 422, "validation_error")
    assert error["details"] == {"access_token": ["Unknown field."]}


async def test_the_event_stream_takes_its_access_token_but_nothing_else(api):
    bought = await buy(api, 1)
    await api.post(CANCEL, {"transaction_id": bought["transaction"]["id"]})  # a final session: the stream ends
    events = f"{SESSIONS}/{bought['session']['id']}/events"

    streamed = await api.client.get(events, params={"access_token": api.token("u1")})
    refused = await api.client.get(events, params={"access_token": api.token("u1"), "foo": "1"})

    assert streamed.status == 200 and "event: session" in await streamed.text()
    assert (await error_of(refused, 422, "validation_error"))["details"] == UNKNOWN


async def test_a_webhook_with_parameters_of_its_own_is_still_handled(api):
    mock = await mock_provider(api)
    bought = await buy(api, 1, "mock")
    headers, body = mock.settle(bought["session"]["order_id"], True)

    response = await api.client.post("/api/v1/payments/webhooks/mock", data=body, headers=headers,
                                      params={"provider_trace": "abc"})

    assert response.status == 200 and await response.json() == {"received": True}


@pytest.mark.parametrize("path", ["/healthz", "/metrics", "/api/docs/swagger.json"])
async def test_pages_outside_the_api_ignore_query_parameters(api, path):
    response = await api.client.get(path, params={"foo": "1"})

    assert response.status == 200


async def test_the_mock_checkout_page_ignores_query_parameters(api):
    bought = await buy(api, 1, "mock")

    response = await api.client.get(f"/mock-checkout/{bought['session']['id']}", params={"utm_source": "qr"})

    assert response.status == 200 and response.content_type == "text/html"
