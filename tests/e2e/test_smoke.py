"""The service answers through HTTP."""


async def test_buying_receives_over_http_returns_the_transaction_and_its_session(api):
    response = await api.post("/api/v1/payments/receives", {"amount": 10, "payment_method": "wechat_pay"})
    body = await response.json()
    assert response.status == 201, body
    assert body["transaction"]["total"] == 1700
    assert body["session"]["qr_code_image"].startswith("data:image/svg+xml;base64,")
    assert response.headers["X-Request-ID"]


async def test_an_unknown_route_answers_the_contract_error_shape(api):
    response = await api.get("/api/v1/nope")
    assert response.status == 404
    assert (await response.json())["error"]["code"] == "not_found"
