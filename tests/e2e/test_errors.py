"""Every error has the contract's shape: unknown routes, wrong methods, bodies that are not JSON
objects, oversized bodies and validation details."""
import json

import pytest

from e2e_support import error_of, mock_provider, transaction_count

POSTS = ["/api/v1/payments/receives", "/api/v1/payments/plan", "/api/v1/payments/sessions",
         "/api/v1/payments/cancel", "/api/v1/internal/receives/consume"]


@pytest.mark.parametrize("path", ["/api/v1/nope", "/api/v1/payments/nope", "/api/v1/payments/receives/extra",
                                  "/api/v2/payments/receives", "/nope", "/"])
async def test_an_unknown_route_is_not_found_in_the_contract_shape(api, path):
    response = await api.get(path)

    error = await error_of(response, 404, "not_found")
    assert error["details"] == {}


async def test_an_unknown_route_is_not_found_even_without_a_token(api):
    await error_of(await api.get("/api/v1/payments/nope", user=None), 404, "not_found")


@pytest.mark.parametrize(("method", "path", "allowed"), [
    ("DELETE", "/api/v1/payments/receives", "POST"),
    ("GET", "/api/v1/payments/receives", "POST"),
    ("PUT", "/api/v1/payments/plan", "POST"),
    ("PATCH", "/api/v1/payments/cancel", "POST"),
    ("POST", "/api/v1/payments/transactions", "GET"),
    ("DELETE", "/api/v1/payments/transactions/txn_1", "GET"),
    ("POST", "/api/v1/payments/methods", "GET"),
    ("DELETE", "/api/v1/payments/sessions/ps_1", "GET"),
    ("GET", "/api/v1/internal/receives/consume", "POST"),
    ("POST", "/healthz", "GET"),
])
async def test_a_known_route_with_a_wrong_method_is_method_not_allowed(api, method, path, allowed):
    response = await api.client.request(method, path, headers=api.headers("u1"))

    await error_of(response, 405, "method_not_allowed")
    assert allowed in response.headers["Allow"]


async def test_a_wrong_method_is_answered_before_authentication(api):
    response = await api.client.delete("/api/v1/payments/receives")

    await error_of(response, 405, "method_not_allowed")


@pytest.mark.parametrize("path", POSTS)
@pytest.mark.parametrize("raw", [b"not json", b"{\"a\": 1", b"[]", b"[1, 2]", b"\"text\"", b"42", b"null", b"",
                                 b"\xff\xfe{}"])
async def test_a_body_that_is_not_a_json_object_is_malformed_json_on_every_post(api, path, raw):
    response = await api.post(path, data=raw, role="service", headers={"Content-Type": "application/json"})

    error = await error_of(response, 400, "malformed_json")
    assert error["details"] == {}


async def test_a_json_body_is_read_whatever_its_declared_content_type(api):
    body = json.dumps({"amount": 1, "payment_method": "wechat_pay"}).encode()

    response = await api.post("/api/v1/payments/receives", data=body, headers={"Content-Type": "text/plain"})

    assert response.status == 201


@pytest.mark.parametrize("path", POSTS)
async def test_an_oversized_body_is_refused_with_413_and_creates_nothing(api, path):
    body = json.dumps({"amount": 1, "payment_method": "wechat_pay", "padding": "x" * 300_000}).encode()

    response = await api.post(path, data=body, role="service", headers={"Content-Type": "application/json"})

    await error_of(response, 413, "payload_too_large")
    assert await transaction_count(api) == 0


async def test_an_oversized_body_with_an_idempotency_key_is_refused_with_413_too(api):
    body = b"{\"amount\": 1, \"pad\": \"" + b"x" * 300_000 + b"\"}"

    response = await api.post("/api/v1/payments/receives", data=body,
                              headers={"Content-Type": "application/json", "Idempotency-Key": "big-1"})

    await error_of(response, 413, "payload_too_large")


async def test_validation_details_name_every_wrong_field_with_sentences(api):
    response = await api.post("/api/v1/payments/receives", {"amount": "10", "payment_method": "paypal", "x": 1})

    error = await error_of(response, 422, "validation_error")
    assert set(error["details"]) == {"amount", "payment_method", "x"}
    assert all(messages and all(isinstance(m, str) and m for m in messages) for messages in error["details"].values())


async def test_an_out_of_range_amount_says_so(api):
    response = await api.post("/api/v1/payments/receives", {"amount": 101, "payment_method": "wechat_pay"})

    error = await error_of(response, 422, "validation_error")
    assert error["details"]["amount"] and "100" in error["details"]["amount"][0]


async def test_an_unexpected_failure_is_a_500_internal_error_that_leaks_nothing(api):
    (await mock_provider(api)).inject_fault("open_payment", RuntimeError("password=hunter2 at db.internal"))

    response = await api.post("/api/v1/payments/receives", {"amount": 1, "payment_method": "wechat_pay"},
                              headers={"X-Request-ID": "trace-500"})

    error = await error_of(response, 500, "internal_error")
    assert "hunter2" not in await response.text() and "db.internal" not in error["message"]
    assert response.headers["X-Request-ID"] == "trace-500"
