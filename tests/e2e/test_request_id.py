"""Every response carries `X-Request-ID`: the caller's when it is sane, else a new one."""
import re

import pytest

NEW_ID = re.compile(r"^[0-9a-f]{32}$")


@pytest.mark.parametrize("sent", ["abc-123", "req_01HZX.5:9", "A" * 128, "550e8400-e29b-41d4-a716-446655440000"])
async def test_a_sane_request_id_is_echoed(api, sent):
    response = await api.get("/api/v1/payments/membership", headers={"X-Request-ID": sent})

    assert response.headers["X-Request-ID"] == sent


@pytest.mark.parametrize("sent", ["A" * 129, "has space", "semi;colon", "quote\"", "slash/", "<script>", ""])
async def test_an_insane_request_id_is_replaced_by_a_new_one(api, sent):
    response = await api.get("/api/v1/payments/membership", headers={"X-Request-ID": sent})

    assert NEW_ID.match(response.headers["X-Request-ID"])


async def test_a_request_without_one_gets_a_new_one_each_time(api):
    first = await api.get("/api/v1/payments/membership")
    second = await api.get("/api/v1/payments/membership")

    assert NEW_ID.match(first.headers["X-Request-ID"]) and NEW_ID.match(second.headers["X-Request-ID"])
    assert first.headers["X-Request-ID"] != second.headers["X-Request-ID"]


@pytest.mark.parametrize(("method", "path", "kwargs"), [
    ("GET", "/api/v1/nope", {}),
    ("DELETE", "/api/v1/payments/receives", {}),
    ("GET", "/api/v1/payments/membership", {"user": None}),
    ("POST", "/api/v1/payments/receives", {"json": {"amount": "1"}}),
    ("POST", "/api/v1/payments/receives", {"data": b"[]"}),
    ("POST", "/api/v1/payments/receives", {"data": b"{\"p\": \"" + b"x" * 300_000 + b"\"}"}),
    ("POST", "/api/v1/internal/receives/consume", {"json": {"user_id": "u", "count": 1, "reference": "r"}}),
    ("POST", "/api/v1/payments/webhooks/mock", {"data": b"{}", "user": None}),
    ("POST", "/api/v1/payments/webhooks/nope", {"data": b"{}", "user": None}),
    ("GET", "/healthz", {"user": None}),
    ("GET", "/metrics", {"user": None}),
    ("GET", "/api/docs/swagger.json", {"user": None}),
])
async def test_every_answer_errors_included_carries_the_callers_request_id(api, method, path, kwargs):
    kwargs = dict(kwargs)
    user = kwargs.pop("user", "u1")
    headers = {**api.headers(user), "X-Request-ID": "trace-42"}

    response = await api.client.request(method, path, headers=headers, **kwargs)

    assert response.headers["X-Request-ID"] == "trace-42"


async def test_a_replayed_answer_carries_the_new_requests_id(api):
    body = {"amount": 1, "payment_method": "wechat_pay"}
    await api.post("/api/v1/payments/receives", body, headers={"Idempotency-Key": "k", "X-Request-ID": "first"})

    again = await api.post("/api/v1/payments/receives", body,
                           headers={"Idempotency-Key": "k", "X-Request-ID": "second"})

    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.headers["X-Request-ID"] == "second"


async def test_the_access_log_line_carries_the_request_id_and_no_query_string(api, caplog):
    caplog.set_level("INFO", logger="payments.access")
    await api.get("/api/v1/payments/membership?access_token=secret-value", headers={"X-Request-ID": "trace-42"})

    lines = [r for r in caplog.records if r.name == "payments.access"]
    assert [(r.request_id, r.path) for r in lines] == [("trace-42", "/api/v1/payments/membership")]
    assert "secret-value" not in caplog.text
