"""The test clock through HTTP (the real app, in-memory adapters, a real test server):
`GET /api/v1/internal/clock` and `POST /api/v1/internal/clock {"advance_seconds": N}` (role
service). Moving it moves business time at once for the use cases (a pending session expires, the
refund window closes),
never backwards, nor past a century ahead (409); bad bodies are 422 `validation_error` naming the
field, a user token is 403, an `Idempotency-Key` replays; in production neither path exists (404)
nor is documented."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from e2e_support import buy, error_of, ok, parse_timestamp, pay, session, transaction
from entrypoints.cli import mint_token
from ports.clock import MAX_CLOCK_OFFSET_SECONDS

CLOCK = "/api/v1/internal/clock"
PRODUCTION_SECRET = "a-production-secret-that-is-long-enough-0123456789"


async def now_of(api) -> datetime:
    return parse_timestamp((await ok(await api.get(CLOCK)))["now"])


async def advance(api, seconds, **headers) -> datetime:
    body = await ok(await api.post(CLOCK, {"advance_seconds": seconds}, user="backend", role="service",
                                   headers=headers))
    assert set(body) == {"now"}
    return parse_timestamp(body["now"])


async def test_the_clock_reads_real_time_until_it_is_moved(api):
    before = datetime.now(timezone.utc).replace(microsecond=0)
    now = await now_of(api)
    assert before <= now <= datetime.now(timezone.utc)


async def test_moving_the_clock_moves_business_time_at_once(api):
    before = await now_of(api)

    moved = await advance(api, 3600)

    assert moved - before >= timedelta(seconds=3600)
    assert moved - before < timedelta(seconds=3600 + 5)
    read = await now_of(api)
    assert moved <= read < moved + timedelta(seconds=5)
    assert await advance(api, 1) >= read + timedelta(seconds=1)  # moves add up


async def test_a_pending_session_expires_as_soon_as_the_clock_passes_its_end(api):
    bought = await buy(api, 10)
    expires_at = parse_timestamp(bought["session"]["expires_at"])
    still = await now_of(api)
    await advance(api, int((expires_at - still).total_seconds()) - 5)
    assert (await session(api, bought["session"]["id"]))["status"] == "open"

    await advance(api, 10)

    assert (await session(api, bought["session"]["id"]))["status"] == "expired"
    assert (await transaction(api, bought["transaction"]["id"]))["transaction"]["status"] == "expired"


async def test_the_refund_window_closes_when_the_clock_passes_it(make_api):
    api = await make_api(PAYMENTS_REFUND_WINDOW_DAYS="7")
    bought = await buy(api, 10)
    await pay(api, bought["session"])
    ask = {"transaction_id": bought["transaction"]["id"], "reason": "bought by mistake"}
    await advance(api, 7 * 86400 - 60)
    await ok(await api.get("/api/v1/payments/refunds/quote", params={"transaction_id": ask["transaction_id"]}))

    await advance(api, 120)

    error = await error_of(await api.post("/api/v1/payments/refunds", ask), 409, "not_refundable")
    assert "window of 7 days" in error["message"]


async def test_a_user_token_may_read_but_not_move_the_clock(api):
    before = await now_of(api)
    response = await api.post(CLOCK, {"advance_seconds": 3600}, user="u1")
    await error_of(response, 403, "forbidden")
    assert await now_of(api) < before + timedelta(seconds=60)


async def test_without_a_token_both_are_401(api):
    await error_of(await api.get(CLOCK, user=None), 401, "unauthorized")
    await error_of(await api.post(CLOCK, {"advance_seconds": 1}, user=None), 401, "unauthorized")


@pytest.mark.parametrize("body", [{}, {"advance_seconds": 0}, {"advance_seconds": -60}, {"advance_seconds": 1.5},
                                  {"advance_seconds": "60"}, {"advance_seconds": True}, {"advance_seconds": None},
                                  {"advance_seconds": MAX_CLOCK_OFFSET_SECONDS + 1},
                                  {"advance_seconds": 60, "direction": "back"}])
async def test_a_bad_body_is_422_naming_the_field_and_moves_nothing(api, body):
    before = await now_of(api)
    response = await api.post(CLOCK, body, user="backend", role="service")
    error = await error_of(response, 422, "validation_error")
    assert set(error["details"]) == (set(body) - {"advance_seconds"} or {"advance_seconds"})
    assert await now_of(api) < before + timedelta(seconds=60)


async def test_a_body_that_is_not_a_json_object_is_400(api):
    response = await api.client.post(CLOCK, data=b"[60]", headers={**api.headers("backend", "service"),
                                                                    "Content-Type": "application/json"})
    await error_of(response, 400, "malformed_json")


async def test_the_clock_runs_at_most_a_century_ahead(api):
    await advance(api, MAX_CLOCK_OFFSET_SECONDS - 60)
    before = await now_of(api)

    await error_of(await api.post(CLOCK, {"advance_seconds": 61}, user="backend", role="service"),
                   409, "invalid_state")  # a valid body: where the clock is refuses it

    assert await now_of(api) < before + timedelta(seconds=60)
    await advance(api, 60)  # up to the limit itself


async def test_an_idempotency_key_replays_the_move_instead_of_moving_again(api):
    first = await api.post(CLOCK, {"advance_seconds": 600}, user="backend", role="service",
                           headers={"Idempotency-Key": "move-1"})
    moved = parse_timestamp((await ok(first))["now"])
    again = await api.post(CLOCK, {"advance_seconds": 600}, user="backend", role="service",
                           headers={"Idempotency-Key": "move-1"})

    assert again.headers.get("Idempotent-Replayed") == "true"
    assert parse_timestamp((await ok(again))["now"]) == moved
    assert await now_of(api) < moved + timedelta(seconds=60)  # moved once
    other = await api.post(CLOCK, {"advance_seconds": 60}, user="backend", role="service",
                           headers={"Idempotency-Key": "move-1"})
    await error_of(other, 422, "idempotency_key_reused")


async def openapi(api) -> dict:
    response = await api.client.get("/api/docs/swagger.json")
    assert response.status == 200
    return await response.json()


async def test_both_are_in_the_openapi_document_outside_production(api):
    document = await openapi(api)
    operations = document["paths"]["/api/v1/internal/clock"]
    assert {operations["get"]["operationId"], operations["post"]["operationId"]} == {"getTestClock",
                                                                                     "advanceTestClock"}


async def test_in_production_neither_exists_nor_is_documented(make_api, api):
    assert "/api/v1/internal/clock" in (await openapi(api))["paths"]  # a development document built first
    production = await make_api(PAYMENTS_ENV="production", PAYMENTS_METHOD_ROUTES="wechat_pay=example",
                                PAYMENTS_JWT_SECRET=PRODUCTION_SECRET)
    service = {"Authorization": f"Bearer {mint_token(PRODUCTION_SECRET, 'backend', 'service', 600)}"}

    await error_of(await production.client.get(CLOCK, headers=service), 404, "not_found")
    await error_of(await production.client.post(CLOCK, json={"advance_seconds": 60}, headers=service),
                   404, "not_found")
    document = await openapi(production)
    assert "/api/v1/internal/clock" not in document["paths"]
    assert "/api/v1/internal/receives/consume" in document["paths"]


async def test_a_fixed_clock_set_up_reads_it_but_cannot_move_it(fixed_api, clock):
    assert await now_of(fixed_api) == clock.now()
    response = await fixed_api.post(CLOCK, {"advance_seconds": 60}, user="backend", role="service")
    await error_of(response, 404, "not_found")
