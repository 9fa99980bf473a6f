"""Issue 12, the contract's "Frontend conveniences": every error carries `details` (`{}` when there
is nothing more to say), and every error answer, 404 and 405 for unknown routes included, carries
the CORS headers of an allowed origin, so a browser page can read the error code. Through a real
aiohttp server; and in Chromium, a page of an allowed origin reads every error with fetch(), a page
of another origin nothing."""
from __future__ import annotations

import asyncio
import json

import pytest
from aiohttp import web

from e2e_support import CONSUME, MEMBERSHIP, PLAN, RECEIVES, error_of, mock_provider
from live import devtools_page, eventually, free_port, needs_chromium

ALLOWED = "http://localhost:3000"
OTHER = "https://evil.example"
BIG_BODY = json.dumps({"amount": 1, "payment_method": "wechat_pay", "padding": "x" * 300_000}).encode()


async def answer_to(api, case: str, origin: str):
    """The error answer of one `case` (status and code in CASES), sent from `origin`."""
    headers = {"Origin": origin}
    if case == "unknown route":
        return await api.get("/api/v1/payments/nope", headers=headers)
    if case == "unknown route outside the API":
        return await api.get("/nope", headers=headers)
    if case == "wrong method":
        return await api.client.delete(RECEIVES, headers=api.headers("u1", **headers))
    if case == "oversized body":
        return await api.post(RECEIVES, data=BIG_BODY, headers={**headers, "Content-Type": "application/json"})
    if case == "no token":
        return await api.get(MEMBERSHIP, user=None, headers=headers)
    if case == "wrong role":
        return await api.post(CONSUME, {"user_id": "u1", "count": 1, "reference": "r"}, headers=headers)
    if case == "not json":
        return await api.post(RECEIVES, data=b"not json", headers={**headers, "Content-Type": "application/json"})
    if case == "invalid body":
        return await api.post(RECEIVES, {"amount": 0, "payment_method": "wechat_pay"}, headers=headers)
    if case == "state conflict":
        return await api.post(PLAN, {"new_plan": "basic"}, headers=headers)  # already on basic
    if case == "unknown object":
        return await api.get("/api/v1/payments/transactions/txn_missing", headers=headers)
    if case == "unknown provider webhook":
        return await api.client.post("/api/v1/payments/webhooks/nope", data=b"{}", headers=headers)
    if case == "internal error":
        (await mock_provider(api)).inject_fault("open_payment", RuntimeError("boom"))
        return await api.post(RECEIVES, {"amount": 1, "payment_method": "wechat_pay"}, headers=headers)
    raise AssertionError(case)


CASES = {
    "unknown route": (404, "not_found"),
    "unknown route outside the API": (404, "not_found"),
    "wrong method": (405, "method_not_allowed"),
    "oversized body": (413, "payload_too_large"),
    "no token": (401, "unauthorized"),
    "wrong role": (403, "forbidden"),
    "not json": (400, "malformed_json"),
    "invalid body": (422, "validation_error"),
    "state conflict": (409, "plan_unchanged"),
    "unknown object": (404, "not_found"),
    "unknown provider webhook": (404, "not_found"),
    "internal error": (500, "internal_error"),
}
WITHOUT_DETAILS = [case for case in CASES if case != "invalid body"]


def exposed(response) -> set[str]:
    return {h.strip().lower() for h in response.headers.get("Access-Control-Expose-Headers", "").split(",")}


def varies_on(response) -> set[str]:
    return {h.strip().lower() for h in response.headers.get("Vary", "").split(",")}


@pytest.mark.parametrize("case", WITHOUT_DETAILS)
async def test_an_error_with_nothing_more_to_say_has_empty_details(api, case):
    status, code = CASES[case]

    error = await error_of(await answer_to(api, case, ALLOWED), status, code)

    assert error["details"] == {}


async def test_a_validation_error_names_its_fields_in_details(api):
    error = await error_of(await answer_to(api, "invalid body", ALLOWED), 422, "validation_error")

    assert set(error["details"]) == {"amount"}


@pytest.mark.parametrize("case", list(CASES))
async def test_every_error_carries_the_cors_headers_of_an_allowed_origin(api, case):
    status, code = CASES[case]

    response = await answer_to(api, case, ALLOWED)

    await error_of(response, status, code)
    assert response.headers["Access-Control-Allow-Origin"] == ALLOWED
    assert {"x-request-id", "idempotent-replayed", "retry-after"} <= exposed(response)
    assert "origin" in varies_on(response)


@pytest.mark.parametrize("case", list(CASES))
async def test_no_error_carries_cors_headers_for_another_origin(api, case):
    status, code = CASES[case]

    response = await answer_to(api, case, OTHER)

    await error_of(response, status, code)
    assert "Access-Control-Allow-Origin" not in response.headers
    assert "Access-Control-Expose-Headers" not in response.headers


async def test_a_replayed_state_conflict_keeps_its_details_and_cors_headers(api):
    headers = {"Origin": ALLOWED, "Idempotency-Key": "conflict-1"}
    first = await api.post(PLAN, {"new_plan": "basic"}, headers=headers)

    replay = await api.post(PLAN, {"new_plan": "basic"}, headers=headers)

    assert await error_of(replay, 409, "plan_unchanged") == await error_of(first, 409, "plan_unchanged")
    assert replay.headers["Idempotent-Replayed"] == "true"
    assert replay.headers["Access-Control-Allow-Origin"] == ALLOWED
    assert "idempotent-replayed" in exposed(replay)


async def test_an_idempotency_request_in_progress_has_empty_details_and_cors_headers(api, monkeypatch):
    mock = await mock_provider(api)
    entered, release = asyncio.Event(), asyncio.Event()
    open_payment = mock.open_payment

    async def slow_open_payment(order):
        entered.set()
        await release.wait()
        return await open_payment(order)

    monkeypatch.setattr(mock, "open_payment", slow_open_payment)
    headers = {"Origin": ALLOWED, "Idempotency-Key": "busy-1"}
    body = {"amount": 1, "payment_method": "wechat_pay"}
    first = asyncio.create_task(api.post(RECEIVES, body, headers=headers))
    await asyncio.wait_for(entered.wait(), 5)

    concurrent = await api.post(RECEIVES, body, headers=headers)

    error = await error_of(concurrent, 409, "idempotency_request_in_progress")
    assert error["details"] == {}
    assert concurrent.headers["Access-Control-Allow-Origin"] == ALLOWED
    release.set()
    assert (await first).status == 201


async def test_a_preflight_from_an_allowed_origin_still_works_and_allows_accept_language(api):
    response = await api.client.options(MEMBERSHIP, headers={
        "Origin": ALLOWED, "Access-Control-Request-Method": "GET",
        "Access-Control-Request-Headers": "Authorization, Accept-Language"})

    assert response.status == 200
    assert response.headers["Access-Control-Allow-Origin"] == ALLOWED
    allowed = {h.strip().lower() for h in response.headers["Access-Control-Allow-Headers"].split(",")}
    assert {"authorization", "accept-language"} <= allowed


async def test_a_preflight_with_an_unknown_query_parameter_is_still_answered(api):
    response = await api.client.options(f"{MEMBERSHIP}?x=1", headers={
        "Origin": ALLOWED, "Access-Control-Request-Method": "GET", "Access-Control-Request-Headers": "Authorization"})

    assert response.status == 200
    assert response.headers["Access-Control-Allow-Origin"] == ALLOWED


async def test_a_successful_api_answer_says_it_varies_on_the_origin(api):
    response = await api.get(MEMBERSHIP, headers={"Origin": ALLOWED})

    assert response.status == 200
    assert "origin" in varies_on(response)
    assert response.headers["Access-Control-Allow-Origin"] == ALLOWED


async def test_a_page_outside_the_api_gets_no_cors_headers(api):
    response = await api.client.get("/healthz", headers={"Origin": ALLOWED})

    assert response.status == 200
    assert "Access-Control-Allow-Origin" not in response.headers


async def test_without_configured_origins_no_answer_carries_cors_headers(make_api):
    api = await make_api(PAYMENTS_ENV="development", PAYMENTS_CORS_ORIGINS="")

    response = await api.get("/api/v1/payments/nope", headers={"Origin": ALLOWED})

    await error_of(response, 404, "not_found")
    assert "Access-Control-Allow-Origin" not in response.headers


async def test_aiohttps_own_400_has_empty_details_too(api):
    host, port = api.client.server.host, api.client.server.port
    reader, writer = await asyncio.open_connection(host, port)
    writer.write(b"GET /api/v1/payments/membership HTTP/1.1\r\nHost: x\r\nX-Bad\x01: 1\r\n\r\n")
    await writer.drain()
    raw = await asyncio.wait_for(reader.read(), 5)
    writer.close()

    status_line, _, rest = raw.partition(b"\r\n")
    assert status_line.split()[1] == b"400"
    error = json.loads(rest.partition(b"\r\n\r\n")[2])["error"]
    assert error["code"] == "malformed_json" and error["details"] == {}


async def test_a_preflight_of_an_unknown_api_path_passes_so_the_404_that_follows_is_readable(api):
    path = "/api/v1/payments/nope"

    preflight = await api.client.options(path, headers={
        "Origin": ALLOWED, "Access-Control-Request-Method": "GET", "Access-Control-Request-Headers": "authorization"})
    response = await api.get(path, headers={"Origin": ALLOWED})

    assert preflight.status == 200
    assert preflight.headers["Access-Control-Allow-Origin"] == ALLOWED
    assert preflight.headers["Access-Control-Allow-Methods"] == "GET"
    assert preflight.headers["Access-Control-Allow-Headers"].lower() == "authorization"
    await error_of(response, 404, "not_found")
    assert response.headers["Access-Control-Allow-Origin"] == ALLOWED


@pytest.mark.parametrize(("origin", "method", "headers"), [
    (OTHER, "GET", "authorization"),
    (ALLOWED, "DELETE", "authorization"),
    (ALLOWED, "GET", "authorization, x-secret"),
])
async def test_a_preflight_of_an_unknown_api_path_we_would_not_allow_is_the_paths_404(api, origin, method, headers):
    response = await api.client.options("/api/v1/payments/nope", headers={
        "Origin": origin, "Access-Control-Request-Method": method, "Access-Control-Request-Headers": headers})

    await error_of(response, 404, "not_found")
    assert "Access-Control-Allow-Methods" not in response.headers


async def test_a_preflight_outside_the_api_is_not_answered(api):
    response = await api.client.options("/nope", headers={
        "Origin": ALLOWED, "Access-Control-Request-Method": "GET"})

    await error_of(response, 404, "not_found")
    assert "Access-Control-Allow-Methods" not in response.headers


# ---------------------------------------------------------------------- in a browser
FRONTEND_PAGE = """<!doctype html><html><head><meta charset="utf-8"><title>frontend</title></head><body><script>
const api = "API_URL", token = "TOKEN";
async function probe(method, path, {body = null, language = null, bearer = true} = {}) {
  const headers = {};
  if (bearer) headers["Authorization"] = "Bearer " + token;
  if (body !== null) headers["Content-Type"] = "application/json";
  if (language !== null) headers["Accept-Language"] = language;
  try {
    const response = await fetch(api + path, {method, headers, body});
    return {status: response.status, body: await response.json(), requestId: response.headers.get("X-Request-ID")};
  } catch (error) {
    return {failed: String(error)};
  }
}
(async () => {
  const results = {};
  results.unknownRoute = await probe("GET", "/api/v1/payments/nope");
  results.wrongMethod = await probe("GET", "/api/v1/payments/receives");
  results.unknownQuery = await probe("GET", "/api/v1/payments/membership?x=1");
  results.noToken = await probe("GET", "/api/v1/payments/membership", {bearer: false});
  results.invalid = await probe("POST", "/api/v1/payments/receives", {body: JSON.stringify({amount: 0, payment_method: "wechat_pay"})});
  results.conflict = await probe("POST", "/api/v1/payments/plan", {body: JSON.stringify({new_plan: "basic"})});
  results.methodsInChinese = await probe("GET", "/api/v1/payments/methods", {language: "zh-CN"});
  window.results = results;
})();
</script></body></html>"""


async def frontend_results(live, tmp_path, host: str, port: int) -> dict:
    """What the page above, served at http://{host}:{port}/, read of the API with fetch() in Chromium."""
    html = FRONTEND_PAGE.replace("API_URL", live.base_url).replace("TOKEN", live.token("u1"))

    async def serve_page(request: web.Request) -> web.Response:
        return web.Response(text=html, content_type="text/html")

    app = web.Application()
    app.router.add_get("/", serve_page)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        async with devtools_page(tmp_path, f"http://{host}:{port}/") as page:
            return await eventually(lambda: page.evaluate("window.results || null"), bool, timeout=30,
                                    what="the page's fetches")
    finally:
        await runner.cleanup()


@needs_chromium
async def test_a_page_of_an_allowed_origin_reads_every_error_in_chromium(make_live_api, tmp_path):
    frontend_port = free_port()
    live = await make_live_api(PAYMENTS_CORS_ORIGINS=f"http://127.0.0.1:{frontend_port}")
    results = await frontend_results(live, tmp_path, "127.0.0.1", frontend_port)

    expected = {"unknownRoute": (404, "not_found"), "wrongMethod": (405, "method_not_allowed"),
                "unknownQuery": (422, "validation_error"), "noToken": (401, "unauthorized"),
                "invalid": (422, "validation_error"), "conflict": (409, "plan_unchanged")}
    for name, (status, code) in expected.items():
        result = results[name]
        assert "failed" not in result, (name, result)
        assert (result["status"], result["body"]["error"]["code"]) == (status, code), (name, result)
        assert isinstance(result["body"]["error"]["details"], dict), (name, result)
        assert result["requestId"], (name, result)  # exposed to the page
    assert results["unknownQuery"]["body"]["error"]["details"] == {"x": ["Unknown field."]}
    methods = results["methodsInChinese"]
    assert methods["status"] == 200
    assert {m["id"]: m["name"] for m in methods["body"]["methods"]}["wechat_pay"] == "微信支付"


@needs_chromium
async def test_a_page_of_another_origin_reads_nothing_in_chromium(make_live_api, tmp_path):
    frontend_port = free_port()
    live = await make_live_api(PAYMENTS_CORS_ORIGINS=f"http://127.0.0.1:{frontend_port}")

    results = await frontend_results(live, tmp_path, "localhost", frontend_port)  # another origin

    assert all("failed" in result for result in results.values()), results
