"""The OpenAPI document at /api/docs/swagger.json, as client generators and Swagger UI read it: a
valid OpenAPI 3.0 document (openapi-spec-validator), a unique and stable `operationId` on every
operation, every example valid against its schema, the response headers and the 405/422/429
answers every operation can give, error examples with the codes the service really answers, a
`servers` entry that makes "Try it out" call the server that served the document, no repository
paths; and the request examples, sent as Swagger UI's "Try it out" sends them, succeed (Buy
receives also in Swagger UI itself, in headless Chromium).

The list is read from the app under test, so operations added later are held to the same rules."""
from __future__ import annotations

import json
import re

import pytest
from aiohttp import web
from openapi_schema_validator import OAS30Validator
from openapi_spec_validator import validate

from e2e_support import JWT_SECRET
from entrypoints.cli import mint_token
from entrypoints.http.docs import docs
from entrypoints.http.openapi import build_document
from live import devtools_page, eventually, needs_chromium

SPEC = "/api/docs/swagger.json"
METHODS = ("get", "post", "put", "patch", "delete")
# The operations of the contract's routes, and their ids: a generated client's function names, so
# they never change (the table pins them; new operations only need to be unique).
STABLE_IDS = {
    ("post", "/api/v1/payments/receives"): "purchaseReceives",
    ("post", "/api/v1/payments/plan"): "changePlan",
    ("get", "/api/v1/payments/transactions"): "listTransactions",
    ("get", "/api/v1/payments/transactions/{transaction_id}"): "getTransaction",
    ("get", "/api/v1/payments/methods"): "listMethods",
    ("post", "/api/v1/payments/sessions"): "openSession",
    ("get", "/api/v1/payments/sessions/{session_id}"): "getSession",
    ("get", "/api/v1/payments/sessions/{session_id}/events"): "sessionEvents",
    ("post", "/api/v1/payments/cancel"): "cancelTransaction",
    ("get", "/api/v1/payments/membership"): "getMembership",
    ("get", "/api/v1/payments/pricing"): "getPricing",
    ("post", "/api/v1/payments/webhooks/{provider}"): "providerNotification",
    ("post", "/api/v1/internal/receives/consume"): "consumeReceives",
    ("get", "/api/v1/payments/receives/quote"): "quoteReceives",
    ("get", "/api/v1/payments/plan/quote"): "quotePlanChange",
    ("get", "/api/v1/payments/receives/ledger"): "getReceivesLedger",
}
# The contract's error table: the codes each status answers with.
CODES = {400: {"malformed_json"}, 401: {"unauthorized"}, 403: {"forbidden", "risk_declined"}, 404: {"not_found"},
         405: {"method_not_allowed"}, 409: {"invalid_state", "plan_unchanged", "too_many_pending",
                                            "idempotency_request_in_progress", "insufficient_receives", "not_refundable",
                                            "refund_in_progress"},
         413: {"payload_too_large"}, 422: {"validation_error", "idempotency_key_reused", "payment_method_unavailable"},
         429: {"rate_limited"}, 502: {"provider_error"}, 503: {"provider_unavailable"}}


@pytest.fixture
async def spec(api) -> dict:
    response = await api.client.get(SPEC)
    assert response.status == 200
    return await response.json()


def operations(spec: dict):
    for path, by_method in spec["paths"].items():
        for method, operation in by_method.items():
            if method in METHODS:
                yield method, path, operation


def resolve(spec: dict, node: dict) -> dict:
    while "$ref" in node:
        section, name = node["$ref"].split("/")[-2:]
        node = spec["components"][section][name]
    return node


def assert_valid(spec: dict, schema: dict, instance, where: str) -> None:
    """`instance` is valid against `schema`, whose `$ref`s point into the document."""
    errors = [e.message for e in OAS30Validator({**schema, "components": spec["components"]}).iter_errors(instance)]
    assert not errors, (where, errors, instance)


def test_the_document_is_a_valid_openapi_3_0_document(spec):
    assert spec["openapi"].startswith("3.0")
    validate(spec)


def test_every_operation_has_a_unique_camel_case_operation_id_and_the_contracts_keep_theirs(spec):
    ids = {(method, path): operation.get("operationId") for method, path, operation in operations(spec)}

    assert all(re.fullmatch(r"[a-z][A-Za-z0-9]*", str(name)) for name in ids.values()), ids
    assert len(set(ids.values())) == len(ids), ids
    assert {key: ids.get(key) for key in STABLE_IDS} == STABLE_IDS


def test_every_example_is_valid_against_its_schema(spec):
    checked = 0
    for name, schema in spec["components"]["schemas"].items():
        if "example" in schema:
            assert_valid(spec, schema, schema["example"], name)
            checked += 1
    for method, path, operation in operations(spec):
        bodies = [("request", operation.get("requestBody", {}).get("content", {}))]
        bodies += [(status, response.get("content", {})) for status, response in operation["responses"].items()]
        for where, content in bodies:
            media = content.get("application/json", {})
            examples = [media["example"]] if "example" in media else []
            examples += [example["value"] for example in media.get("examples", {}).values()]
            for example in examples:
                assert_valid(spec, media["schema"], example, f"{method} {path} {where}")
                checked += 1
        for parameter in operation.get("parameters", []):
            if "example" in parameter:
                assert_valid(spec, parameter["schema"], parameter["example"], f"{method} {path} {parameter['name']}")
    assert checked > 50  # the response objects, every request body and every error response


def schemas_within(node, where: str = ""):
    """Every schema object in `node` (a schema, or a part of the document holding schemas)."""
    if isinstance(node, dict):
        if any(key in node for key in ("type", "$ref", "allOf", "anyOf", "oneOf", "enum")):
            yield where, node
        for key, value in node.items():
            if key != "example":
                yield from schemas_within(value, f"{where}/{key}")
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from schemas_within(value, f"{where}/{index}")


def test_every_field_example_is_valid_against_its_field(spec):
    checked = 0
    for where, schema in schemas_within({"components": spec["components"]["schemas"], "paths": spec["paths"]}):
        if "example" in schema and "$ref" not in schema:
            assert_valid(spec, schema, schema["example"], where)
            checked += 1
    assert checked > 20  # the request fields', the response objects', the parameters'


def test_every_request_body_and_error_response_has_an_example(spec):
    for method, path, operation in operations(spec):
        media = operation.get("requestBody", {}).get("content", {}).get("application/json")
        if media is not None and "properties" in resolve(spec, media["schema"]):
            assert "example" in media or media.get("examples"), (method, path)
        for status, response in operation["responses"].items():
            if int(status) >= 400:
                assert response["content"]["application/json"]["examples"], (method, path, status)
    for name in ("Transaction", "PaymentSession", "Membership", "Proration", "PaymentMethod"):
        assert "example" in spec["components"]["schemas"][name], name


def test_error_examples_carry_the_real_code_of_their_status_and_details(spec):
    for method, path, operation in operations(spec):
        for status, response in operation["responses"].items():
            if int(status) < 400:
                continue
            for code, example in response["content"]["application/json"]["examples"].items():
                error = example["value"]["error"]
                assert error["code"] == code and code in CODES[int(status)], (method, path, status, code)
                assert isinstance(error["details"], dict) and error["message"], (method, path, status)
                assert f"`{code}`" in response["description"], (method, path, status)
    receives = spec["paths"]["/api/v1/payments/receives"]["post"]["responses"]
    conflicts = set(receives["409"]["content"]["application/json"]["examples"])
    assert conflicts == {"too_many_pending", "idempotency_request_in_progress"}
    invalid = receives["422"]["content"]["application/json"]["examples"]["validation_error"]["value"]["error"]
    assert invalid["details"] == {"amount": ["Must be greater than or equal to 1 and less than or equal to 100."]}
    consume = spec["paths"]["/api/v1/internal/receives/consume"]["post"]["responses"]
    assert set(consume["409"]["content"]["application/json"]["examples"]) == {
        "insufficient_receives", "idempotency_request_in_progress"}
    assert "payment_method_unavailable" not in consume["422"]["content"]["application/json"]["examples"]


def test_responses_document_their_headers_and_every_operation_405_and_429(spec):
    headers = spec["components"]["headers"]
    assert headers["X-Request-ID"]["required"] is True
    for method, path, operation in operations(spec):
        responses = operation["responses"]
        assert {"405", "429"} <= set(responses), (method, path)
        idempotent = any(p["name"] == "Idempotency-Key" and p["in"] == "header" for p in operation.get("parameters", []))
        if method == "post" and "security" in operation:
            assert idempotent, (method, path)
        for status, response in responses.items():
            documented = {name for name in response.get("headers", {})}
            assert "X-Request-ID" in documented, (method, path, status)
            assert ("Retry-After" in documented) == (status in ("429", "503")), (method, path, status)
            replayable = idempotent and (status.startswith("2") or status == "409")
            assert ("Idempotent-Replayed" in documented) == replayable, (method, path, status)


def test_servers_is_the_origin_the_document_was_read_from(spec):
    assert [server["url"] for server in spec["servers"]] == ["/"]


def test_no_repository_path_in_the_document(spec):
    text = json.dumps(spec)

    for fragment in ("entrypoints/", ".py", "docs/", "tests/", "CONTRACT.md", "../", "shared/"):
        assert fragment not in text, fragment


def test_the_return_url_example_is_on_an_allowed_host_and_follows_the_configured_ones(spec):
    example = spec["components"]["schemas"]["PurchaseReceivesRequest"]["properties"]["return_url"]["example"]

    assert example == "http://localhost:3000/checkout/done"


async def test_the_return_url_example_follows_the_configured_hosts(make_api):
    api = await make_api(PAYMENTS_RETURN_URL_HOSTS="shop.example.com")
    spec = await (await api.client.get(SPEC)).json()

    receives = spec["paths"]["/api/v1/payments/receives"]["post"]["requestBody"]["content"]["application/json"]
    assert receives["example"]["return_url"] == "http://shop.example.com:3000/checkout/done"
    assert_valid(spec, receives["schema"], receives["example"], "receives")


async def test_the_documented_errors_are_the_ones_the_service_answers(api, spec):
    """The 401, 405 and 422 examples of Buy receives are what it answers, word for word."""
    examples = {status: spec["paths"]["/api/v1/payments/receives"]["post"]["responses"][status]["content"][
        "application/json"]["examples"] for status in ("401", "405", "422")}

    unauthorized = await api.post("/api/v1/payments/receives", {"amount": 10}, user=None)
    wrong_method = await api.client.put("/api/v1/payments/receives")
    invalid = await api.post("/api/v1/payments/receives", {"amount": 101, "payment_method": "wechat_pay"})

    assert await unauthorized.json() == examples["401"]["unauthorized"]["value"]
    assert await wrong_method.json() == examples["405"]["method_not_allowed"]["value"]
    assert await invalid.json() == examples["422"]["validation_error"]["value"]
    assert all(r.headers["X-Request-ID"] for r in (unauthorized, wrong_method, invalid))


async def test_try_it_out_with_the_request_examples_succeeds(live_api, browser):
    """What Swagger UI sends for "Try it out": the server URL ("/") resolved against the
    document's own URL, the operation's path, the first example as the body, a bearer token."""
    spec = await (await browser.get(f"{live_api.base_url}{SPEC}")).json()
    base = live_api.base_url + spec["servers"][0]["url"].rstrip("/")
    expected = {"purchaseReceives": 201, "changePlan": 201, "consumeReceives": 200}
    answered = {}
    for method, path, operation in operations(spec):
        if operation["operationId"] not in expected:
            continue
        media = operation["requestBody"]["content"]["application/json"]
        body = media["example"] if "example" in media else next(iter(media["examples"].values()))["value"]
        role = "service" if path.startswith("/api/v1/internal/") else None
        headers = {"Authorization": f"Bearer {mint_token(JWT_SECRET, 'try-it-out', role, 600)}"}
        async with browser.request(method, base + path, json=body, headers=headers) as response:
            answered[operation["operationId"]] = response.status
            assert response.status < 300, await response.text()
    assert answered == expected


@needs_chromium
async def test_swagger_uis_try_it_out_of_buy_receives_succeeds_in_a_browser(live_api, tmp_path):
    """Headless Chromium opens Swagger UI at /api/docs, is given a bearer token, opens Buy
    receives, presses "Try it out" and "Execute" with the example as it stands, and sees 201."""
    token = mint_token(JWT_SECRET, "swagger-ui-user", None, 600)
    operation = "#operations-payments-purchaseReceives"
    async with devtools_page(tmp_path, f"{live_api.base_url}/api/docs#/payments/purchaseReceives") as page:
        async def shown(selector: str) -> bool:
            return await page.evaluate(f"!!document.querySelector({json.dumps(selector)})", while_navigating=False)

        await eventually(lambda: shown(f"{operation} .try-out__btn"), bool, timeout=30, what="Buy receives, opened")
        await page.evaluate(f"ui.preauthorizeApiKey('bearerAuth', {json.dumps(token)}); "
                            f"document.querySelector('{operation} .try-out__btn').click()")
        await eventually(lambda: shown(f"{operation} .execute"), bool, what="the Execute button")
        await page.evaluate(f"document.querySelector('{operation} .execute').click()")

        status = f"{operation} .live-responses-table .response .response-col_status"

        async def answered() -> str | None:
            return await page.evaluate(f"document.querySelector('{status}')?.textContent.trim() ?? null")
        assert await eventually(answered, bool, what="the response of Execute") == "201"
        body = json.loads(await page.evaluate(
            f"document.querySelector('{operation} .live-responses-table .response-col_description pre').textContent"))
    assert body["transaction"]["receives"] == 10 and body["transaction"]["total"] == 1700
    assert body["session"]["payment_method"] == "wechat_pay" and body["session"]["status"] == "open"


def _handler(name: str, module: str, **fields):
    async def handler(request):
        return web.json_response({})
    handler.__name__, handler.__module__ = name, f"entrypoints.http.resources.{module}"
    return docs(tags=["payments"], summary=name, **fields)(handler)


def test_operation_ids_come_from_handler_names_qualified_by_module_where_two_share_one():
    app = web.Application()
    app.router.add_get("/api/v1/payments/receives/quote", _handler("quote", "receives"))
    app.router.add_get("/api/v1/payments/plan/quote", _handler("quote", "plans"))
    app.router.add_get("/api/v1/payments/receives/ledger", _handler("receives_ledger", "receives"))
    app.router.add_get("/api/v1/payments/refunds", _handler("refunds", "refunds", operationId="listRefunds"))

    document = build_document(app, frozenset({"localhost"}))

    assert {path: ops["get"]["operationId"] for path, ops in document["paths"].items()} == {
        "/api/v1/payments/receives/quote": "receivesQuote", "/api/v1/payments/plan/quote": "plansQuote",
        "/api/v1/payments/receives/ledger": "receivesLedger", "/api/v1/payments/refunds": "listRefunds"}


def test_two_operations_named_alike_stop_the_build():
    app = web.Application()
    app.router.add_get("/api/v1/a", _handler("first", "a", operationId="same"))
    app.router.add_get("/api/v1/b", _handler("second", "b", operationId="same"))

    with pytest.raises(ValueError, match="same"):
        build_document(app, frozenset({"localhost"}))


def test_the_api_s_own_operations_document_accept_language_and_errors_always_carry_details(spec):
    for method, path, operation in operations(spec):
        names = [p["name"] for p in operation.get("parameters", []) if p["in"] == "header"]
        assert ("Accept-Language" in names) == ("security" in operation), (method, path)
    detail = spec["components"]["schemas"]["ErrorDetail"]
    assert set(detail["required"]) == {"code", "message", "details"}
