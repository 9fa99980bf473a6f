"""What an attack review of the HTTP layer found (issue 11, items 1 and 5 and the small ones):
open redirects through `return_url`, 500s that must be 4xx, provider texts reaching clients,
aiohttp's own 400s, offsets out of range, tokens that live forever, response headers, and the
`access_token` query parameter outside the event stream."""
from __future__ import annotations

import asyncio
import json
import logging
import time

import jwt
import pytest
from e2e_support import (
    CANCEL,
    CONSUME,
    JWT_SECRET,
    MEMBERSHIP,
    MOCK_SECRET,
    RECEIVES,
    SESSIONS,
    TRANSACTIONS,
    buy,
    error_of,
    mock_provider,
    ok,
    transaction_count,
)

from domain.errors import ProviderError, ProviderUnavailableError
from entrypoints.config import load_config
from entrypoints.container import build_container
from entrypoints.http.app import create_app


def hs256(**claims) -> str:
    now = int(time.time())
    base = {"sub": "u1", "iat": now, "exp": now + 600}
    base.update(claims)
    return jwt.encode(base, JWT_SECRET, algorithm="HS256")


def bearer(**claims) -> dict:
    return {"Authorization": f"Bearer {hs256(**claims)}"}


# Item 1: open redirects through return_url ------------------------------------------------------------

@pytest.mark.parametrize("url", [
    "http://evil.com\\@localhost/",              # browsers read `\` as `/`: the host is evil.com
    "https://evil.com\\\\@127.0.0.1/x",
    "http://localhost\\@evil.com/",
    "http://evil.com\\.localhost/",
    "http://user@localhost/",                    # userinfo, even on an allowed host
    "http://evil.com@localhost/",
    "http://:pw@localhost/",
    "http://@localhost/",
    "https://localhost:99999/",                  # ports out of range
    "https://localhost:65536/",
    "https://localhost:0/",
    "https://localhost:-1/",
    "https://localhost:8o/",
    "http://local\thost/",                       # browsers strip tab and newline: `localhost`
    "http://evil.com\t@localhost/",
    "http://evil.com\n@localhost/",
    "http://localhost/\x00",                     # control characters and white space
    "http://localhost/a b",
    "http://localhost/\x7f",
    " http://localhost/",
    "http://localhost/\u00a0",
    "http://localhost%2f@evil.com/",
    "http:/localhost/x",                         # not the authority form browsers and urlsplit agree on
    "http:localhost/x",
    "http:\\\\evil.com/",
    "http:///evil.com",
    "//localhost/x",
    "javascript://localhost/%0aalert(1)",
    "ftp://localhost/",
    "http://evil.com/",
    "http://localhost.evil.com/",
    "http://[::1]/",                             # not on the list
    "HTTP://localhost/",                         # browsers write scheme and host in lower case
    "http://LOCALHOST/",
    "http://localhost:080/",                     # a port with a leading zero
])
async def test_a_return_url_a_browser_would_not_send_to_an_allowed_host_is_refused(api, url):
    response = await api.post(RECEIVES, {"amount": 1, "payment_method": "mock", "return_url": url})

    error = await error_of(response, 422, "validation_error")
    assert "return_url" in error["details"]
    assert await transaction_count(api) == 0


@pytest.mark.parametrize("url", [
    "http://localhost/done",
    "https://localhost:3000/pay/done?order=1#top",
    "http://127.0.0.1:8080/",
    "http://localhost/Done/..%2F",
    "http://localhost",
    "http://localhost:65535/a/b;c?d=e&f=%20g",
])
async def test_a_return_url_on_an_allowed_host_is_accepted(api, url):
    await buy(api, 1, "mock", return_url=url)


# Item 5: 500s that must be 4xx -------------------------------------------------------------------------

@pytest.mark.parametrize("role", [["admin"], {"admin": True}, ["service"], 1, True])
async def test_a_role_claim_that_is_not_a_string_is_unauthorized(api, role):
    response = await api.client.get(MEMBERSHIP, headers=bearer(role=role))

    await error_of(response, 401, "unauthorized")


@pytest.mark.parametrize("depth", [100, 1_000, 100_000])
async def test_a_deeply_nested_json_body_is_malformed_json(api, depth):
    body = b'{"amount": ' + b"[" * depth + b"]" * depth + b"}"

    response = await api.post(RECEIVES, data=body, headers={"Content-Type": "application/json",
                                                            "Idempotency-Key": f"deep-{depth}"})

    await error_of(response, 400, "malformed_json")


async def test_a_shallow_nested_value_is_still_a_validation_error(api):
    response = await api.post(RECEIVES, {"amount": [[1]], "payment_method": "mock"})

    await error_of(response, 422, "validation_error")


NUL_GETS = [f"{TRANSACTIONS}/txn_%00", f"{TRANSACTIONS}/%00", f"{SESSIONS}/ps_a%00b", f"{SESSIONS}/ps_%00/events"]


async def nul_answers(api_like) -> None:
    """The NUL cases, on `api_like` (an `Api`): path ids 404, JSON strings 422, `sub` 401."""
    for path in NUL_GETS:
        await error_of(await api_like.get(path), 404, "not_found")
    for path, body, field in [
        (SESSIONS, {"transaction_id": "txn_\u0000"}, "transaction_id"),
        (CANCEL, {"transaction_id": "txn_1", "reason": "a\u0000b"}, "reason"),
        (RECEIVES, {"amount": 1, "payment_method": "mock\u0000"}, "payment_method"),
    ]:
        error = await error_of(await api_like.post(path, body), 422, "validation_error")
        assert field in error["details"], error
    for path, raw, field in [  # lone surrogates: JSON allows the escapes, but they are no text to store
            (CANCEL, b'{"transaction_id": "txn_1", "reason": "a\\ud800b"}', "reason"),
            (SESSIONS, b'{"transaction_id": "txn_\\udfff"}', "transaction_id"),
            (CONSUME, b'{"user_id": "u1", "count": 1, "reference": "r\\udc00"}', "reference")]:
        response = await api_like.post(path, data=raw, headers={"Content-Type": "application/json"}, role="service")
        assert field in (await error_of(response, 422, "validation_error"))["details"]
    error = await error_of(await api_like.post(CONSUME, {"user_id": "u\u00001", "count": 1, "reference": "r\u0000"},
                                               user="backend", role="service"), 422, "validation_error")
    assert {"user_id", "reference"} <= set(error["details"]), error
    for headers in (bearer(sub="u\u00001"), bearer(sub="\u0000")):
        await error_of(await api_like.client.get(MEMBERSHIP, headers=headers), 401, "unauthorized")
    await error_of(await api_like.get(TRANSACTIONS, params={"type": "purchase_receives\u0000"}), 422,
                   "validation_error")


async def test_nul_characters_are_refused_alike_in_memory(api):
    await nul_answers(api)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def sql_url(request):
    """The database URL of a fresh SQLite file or of a clean PostgreSQL database."""
    fixture = "fresh_sqlite_url" if request.param == "sqlite" else "clean_postgres_url"
    return request.getfixturevalue(fixture)


async def test_nul_characters_are_refused_alike_over_sql(sql_url, api, aiohttp_client, tmp_path):
    config = load_config({"PAYMENTS_JWT_SECRET": JWT_SECRET, "PAYMENTS_MOCK_WEBHOOK_SECRET": MOCK_SECRET,
                          "PAYMENTS_PUBLIC_URL": "http://payments.test", "PAYMENTS_DATABASE_URL": sql_url,
                          "PAYMENTS_MOCK_STATE_PATH": str(tmp_path / "mock.sqlite3")})
    container = build_container(config)
    api = type(api)(await aiohttp_client(create_app(container, background_jobs=False)), container)  # over SQL

    await nul_answers(api)
    bought = await buy(api, 1, "mock")  # and the app still works afterwards
    await ok(await api.get(f"{TRANSACTIONS}/{bought['transaction']['id']}"))


# Also: provider texts, aiohttp's own 400s, offsets, token lifetimes, headers, access_token ------------

@pytest.mark.parametrize(("fault", "status", "code"), [
    (ProviderError("merchant 1900012345 key sk_live_secret refused: SIGNERROR"), 502, "provider_error"),
    (ProviderUnavailableError("connect to 10.0.0.7:443 failed: sk_live_secret"), 503, "provider_unavailable"),
])
async def test_a_provider_failure_answers_a_fixed_message_and_logs_the_provider_text(
        api, caplog, fault, status, code):
    (await mock_provider(api)).inject_fault("open_payment", fault, times=10)

    with caplog.at_level(logging.INFO):
        response = await api.post(RECEIVES, {"amount": 1, "payment_method": "mock"})

    error = await error_of(response, status, code)
    assert "sk_live_secret" not in json.dumps(error) and "10.0.0.7" not in json.dumps(error)
    assert "sk_live_secret" in caplog.text


@pytest.mark.parametrize("raw_request", [
    b"GET /api/v1/payments/membership HTTP/1.1\r\nHost: x\r\nX-Bad\x01: 1\r\n\r\n",
    b"GET /api/v1/payments/membership HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer the-token\x01x\r\n\r\n",
    b"GET /api/v1/payments/sessions/ps_1/events?access_token=the-token\x01 HTTP/1.1\r\nHost: x\r\n\r\n",
    b"NOT-HTTP the-token\r\n\r\n",
])
async def test_aiohttps_own_400_has_the_contract_shape_and_a_request_id(api, raw_request):
    host, port = api.client.server.host, api.client.server.port
    reader, writer = await asyncio.open_connection(host, port)
    writer.write(raw_request)
    await writer.drain()
    raw = await asyncio.wait_for(reader.read(), 5)
    writer.close()

    head, _, body = raw.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = {name.lower(): value.strip() for name, _, value in (line.partition(":") for line in lines[1:])}
    assert lines[0].split(" ")[1] == "400", lines[0]
    assert headers["content-type"] == "application/json; charset=utf-8"
    assert json.loads(body)["error"]["code"] == "malformed_json"
    assert headers.get("x-request-id")
    assert headers["x-content-type-options"] == "nosniff"
    assert b"the-token" not in raw  # the parser's message may quote the raw line: never echoed


@pytest.mark.parametrize("value", ["2026-01-01T00:00:00-99:99", "2026-01-01T00:00:00+24:00",
                                   "2026-01-01T00:00:00+05:60", "2026-01-01T00:00:00-23:99"])
@pytest.mark.parametrize("name", ["date_from", "date_to"])
async def test_a_date_filter_with_an_offset_out_of_range_is_refused(api, name, value):
    response = await api.get(TRANSACTIONS, params={name: value})

    error = await error_of(response, 422, "validation_error")
    assert name in error["details"]


async def test_a_date_filter_with_the_widest_real_offsets_is_accepted(api):
    await ok(await api.get(TRANSACTIONS, params={"date_from": "2026-01-01T00:00:00-23:59",
                                                "date_to": "2026-01-01T00:00:00+23:59"}))


async def test_a_token_that_expires_more_than_a_day_ahead_is_refused(api):
    response = await api.client.get(MEMBERSHIP, headers=bearer(exp=int(time.time()) + 86400 + 120))

    await error_of(response, 401, "unauthorized")


async def test_a_token_that_expires_within_a_day_is_accepted(api):
    await ok(await api.client.get(MEMBERSHIP, headers=bearer(exp=int(time.time()) + 86400 - 120)))


async def test_the_longest_token_lifetime_is_configurable(make_api):
    api = await make_api(PAYMENTS_JWT_MAX_TTL_SECONDS="600")

    await error_of(await api.client.get(MEMBERSHIP, headers=bearer(exp=int(time.time()) + 900)), 401, "unauthorized")
    await ok(await api.client.get(MEMBERSHIP, headers=bearer(exp=int(time.time()) + 300)))


@pytest.mark.parametrize(("method", "path", "user"), [
    ("GET", MEMBERSHIP, "u1"), ("GET", f"{TRANSACTIONS}/txn_nope", "u1"), ("GET", MEMBERSHIP, None),
    ("GET", "/api/v1/nope", None), ("POST", RECEIVES, "u1"), ("DELETE", RECEIVES, "u1"),
])
async def test_api_responses_are_not_sniffed_nor_stored_and_do_not_name_the_server_version(api, method, path, user):
    response = await api.client.request(method, path, headers=api.headers(user), json={})

    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Cache-Control"] == "no-store"
    assert "aiohttp" not in response.headers.get("Server", "").lower()
    assert "python" not in response.headers.get("Server", "").lower()


async def test_operational_responses_do_not_name_the_server_version_either(api):
    response = await api.client.get("/healthz")

    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert "aiohttp" not in response.headers.get("Server", "").lower()


async def test_the_access_token_query_parameter_is_refused_on_a_route_that_only_ends_in_events(api):
    response = await api.client.get(f"{TRANSACTIONS}/events", params={"access_token": api.token("u1")})

    await error_of(response, 401, "unauthorized")
