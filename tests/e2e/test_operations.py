"""/healthz, /readyz, /metrics, /api/docs and /api/docs/swagger.json."""
import re

from e2e_support import buy, ok, pay

CONTRACT_ROUTES = {
    ("post", "/api/v1/payments/receives"), ("post", "/api/v1/payments/plan"),
    ("get", "/api/v1/payments/transactions"), ("get", "/api/v1/payments/transactions/{transaction_id}"),
    ("get", "/api/v1/payments/methods"), ("post", "/api/v1/payments/sessions"),
    ("get", "/api/v1/payments/sessions/{session_id}"), ("post", "/api/v1/payments/cancel"),
    ("get", "/api/v1/payments/membership"), ("get", "/api/v1/payments/pricing"),
    ("post", "/api/v1/payments/webhooks/{provider}"), ("post", "/api/v1/internal/receives/consume"),
}


def metric(text: str, name: str, **labels: str) -> float:
    """The value of the sample `name` whose labels include `labels` (0 when there is none)."""
    for line in text.splitlines():
        match = re.match(rf"^{name}\{{(.*)\}} (\S+)$", line)
        if match:
            found = dict(re.findall(r'(\w+)="([^"]*)"', match.group(1)))
            if all(found.get(k) == v for k, v in labels.items()):
                return float(match.group(2))
    return 0.0


async def test_healthz_says_the_process_is_up(api):
    response = await api.client.get("/healthz")

    assert await ok(response) == {"status": "ok"}


async def test_readyz_says_the_store_answers(api):
    assert await ok(await api.client.get("/readyz")) == {"status": "ready"}


async def test_the_in_memory_app_never_opens_the_configured_database(make_api):
    api = await make_api(PAYMENTS_DATABASE_URL="postgresql://nobody@127.0.0.1:1/unreachable")

    assert await ok(await api.client.get("/readyz")) == {"status": "ready"}
    await buy(api, 1)


async def test_metrics_count_requests_by_route_and_status_in_prometheus_text(api):
    await api.get("/api/v1/payments/membership")
    await api.get("/api/v1/payments/membership")
    await api.get("/api/v1/payments/membership", user=None)
    await api.get("/api/v1/payments/transactions/txn_secret_1")

    response = await api.client.get("/metrics")

    assert response.status == 200
    assert response.content_type == "text/plain"
    text = await response.text()
    assert "# TYPE payments_http_requests_total counter" in text
    assert metric(text, "payments_http_requests_total", method="GET", route="/api/v1/payments/membership",
                  status="200") == 2
    assert metric(text, "payments_http_requests_total", method="GET", route="/api/v1/payments/membership",
                  status="401") == 1
    assert metric(text, "payments_http_requests_total", method="GET",
                  route="/api/v1/payments/transactions/{transaction_id}", status="404") == 1
    assert "txn_secret_1" not in text  # routes, not paths: no ids, bounded label values
    assert "payments_http_request_duration_seconds_bucket" in text


async def test_metrics_count_transactions_by_type_provider_and_outcome(api):
    bought = await buy(api, 10)
    await buy(api, 1)
    await pay(api, bought["session"])

    text = await (await api.client.get("/metrics")).text()

    assert "# TYPE payments_transactions_total counter" in text
    assert metric(text, "payments_transactions_total", type="purchase_receives", provider="mock",
                  outcome="created") == 2
    assert metric(text, "payments_transactions_total", type="purchase_receives", provider="mock",
                  outcome="succeeded") == 1


async def test_unknown_paths_share_one_metrics_label(api):
    await api.get("/api/v1/a1")
    await api.get("/api/v1/a2")

    text = await (await api.client.get("/metrics")).text()

    assert "/api/v1/a1" not in text and "/api/v1/a2" not in text
    assert metric(text, "payments_http_requests_total", status="404") == 2


async def test_the_docs_page_is_swagger_ui_over_the_spec(api):
    response = await api.client.get("/api/docs")

    assert response.status == 200
    assert response.content_type == "text/html"
    page = await response.text()
    assert "swagger" in page.lower()
    assert "/api/docs/swagger.json" in page


async def test_the_spec_is_openapi_3_and_lists_every_api_route_of_the_app(api):
    response = await api.client.get("/api/docs/swagger.json")

    assert response.status == 200
    spec = await response.json()
    assert spec["openapi"].startswith("3.")
    documented = {(method, path) for path, operations in spec["paths"].items() for method in operations
                  if method in {"get", "post", "put", "patch", "delete"}}
    served = {(route.method.lower(), route.resource.canonical) for route in api.client.app.router.routes()
              if route.resource is not None and route.resource.canonical.startswith("/api/v1/")
              and route.method not in ("HEAD", "OPTIONS", "*")}
    assert served <= documented, served - documented
    assert CONTRACT_ROUTES <= documented, CONTRACT_ROUTES - documented


async def test_the_spec_describes_security_bodies_and_errors(api):
    spec = await (await api.client.get("/api/docs/swagger.json")).json()

    assert spec["components"]["securitySchemes"]["bearerAuth"]["scheme"] == "bearer"
    receives = spec["paths"]["/api/v1/payments/receives"]["post"]
    assert receives["security"] == [{"bearerAuth": []}]
    assert "application/json" in receives["requestBody"]["content"]
    assert {"201", "400", "401", "409", "422"} <= set(receives["responses"])
    assert any(p["name"] == "Idempotency-Key" and p["in"] == "header" for p in receives["parameters"])
    listing = spec["paths"]["/api/v1/payments/transactions"]["get"]
    assert {"type", "status", "date_from", "date_to", "page", "limit"} <= {p["name"] for p in listing["parameters"]}
    consume = spec["paths"]["/api/v1/internal/receives/consume"]["post"]
    assert "403" in consume["responses"]
    assert {"Transaction", "PaymentSession", "Membership"} <= {name.removesuffix("Schema")
                                                              for name in spec["components"]["schemas"]}
