"""CORS: the origins in PAYMENTS_CORS_ORIGINS may call the API from a browser, preflight included;
`X-Request-ID` and `Idempotent-Replayed` are exposed to them."""
import pytest

ALLOWED = "http://localhost:3000"
RECEIVES = "/api/v1/payments/receives"


def preflight(origin: str, method: str = "POST",
              headers: str = "Authorization, Content-Type, Idempotency-Key, X-Request-ID") -> dict:
    return {"Origin": origin, "Access-Control-Request-Method": method, "Access-Control-Request-Headers": headers}


def exposed(response) -> set[str]:
    return {h.strip().lower() for h in response.headers.get("Access-Control-Expose-Headers", "").split(",")}


@pytest.mark.parametrize("path", [RECEIVES, "/api/v1/payments/membership", "/api/v1/payments/transactions/txn_1"])
async def test_a_preflight_from_an_allowed_origin_is_answered_without_a_token(api, path):
    method = "POST" if path == RECEIVES else "GET"

    response = await api.client.options(path, headers=preflight(ALLOWED, method))

    assert response.status == 200
    assert response.headers["Access-Control-Allow-Origin"] == ALLOWED
    assert method in response.headers["Access-Control-Allow-Methods"]
    allowed_headers = {h.strip().lower() for h in response.headers["Access-Control-Allow-Headers"].split(",")}
    assert {"authorization", "content-type", "idempotency-key", "x-request-id"} <= allowed_headers
    assert response.headers["X-Request-ID"]


async def test_an_allowed_origin_sees_the_request_id_and_replay_headers(api):
    headers = {"Origin": ALLOWED, "Idempotency-Key": "cors-1"}
    body = {"amount": 1, "payment_method": "wechat_pay"}
    await api.post(RECEIVES, body, headers=headers)

    response = await api.post(RECEIVES, body, headers=headers)

    assert response.headers["Idempotent-Replayed"] == "true"
    assert response.headers["Access-Control-Allow-Origin"] == ALLOWED
    assert {"x-request-id", "idempotent-replayed"} <= exposed(response)


async def test_an_allowed_origin_can_read_errors_too(api):
    response = await api.get("/api/v1/payments/membership", user=None, headers={"Origin": ALLOWED})

    assert response.status == 401
    assert response.headers["Access-Control-Allow-Origin"] == ALLOWED
    assert "x-request-id" in exposed(response)


async def test_a_preflight_from_another_origin_gets_no_allow_origin(api):
    response = await api.client.options(RECEIVES, headers=preflight("https://evil.example"))

    assert "Access-Control-Allow-Origin" not in response.headers
    assert response.status >= 400


async def test_a_request_from_another_origin_gets_no_cors_headers(api):
    response = await api.get("/api/v1/payments/membership", headers={"Origin": "https://evil.example"})

    assert response.status == 200  # the server answers; the browser keeps the answer from that page
    assert "Access-Control-Allow-Origin" not in response.headers
    assert "Access-Control-Expose-Headers" not in response.headers


async def test_a_preflight_for_a_method_the_route_lacks_gets_no_allow_origin(api):
    response = await api.client.options(RECEIVES, headers=preflight(ALLOWED, "DELETE"))

    assert "Access-Control-Allow-Origin" not in response.headers


async def test_the_origins_come_from_the_configuration(make_api):
    api = await make_api(PAYMENTS_CORS_ORIGINS="https://app.example.com")

    configured = await api.client.options(RECEIVES, headers=preflight("https://app.example.com"))
    default = await api.client.options(RECEIVES, headers=preflight(ALLOWED))

    assert configured.headers["Access-Control-Allow-Origin"] == "https://app.example.com"
    assert "Access-Control-Allow-Origin" not in default.headers
