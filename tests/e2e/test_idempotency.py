"""`Idempotency-Key` on POSTs: replays, reuse with another body, what is kept, scopes."""
import asyncio
import json

import pytest

from builders import OPEN_ATTEMPTS
from domain.errors import ProviderUnavailableError
from e2e_support import (
    CANCEL,
    CONSUME,
    PLAN,
    RECEIVES,
    SESSIONS,
    buy,
    error_of,
    membership,
    mock_provider,
    ok,
    transaction_count,
)

BODY = {"amount": 10, "payment_method": "wechat_pay"}


def keyed(key: str, **extra: str) -> dict:
    return {"Idempotency-Key": key, **extra}


async def test_a_repeat_with_the_same_key_and_body_replays_the_first_answer_and_does_nothing_again(api):
    first = await api.post(RECEIVES, BODY, headers=keyed("k-1"))
    second = await api.post(RECEIVES, BODY, headers=keyed("k-1"))

    assert (first.status, second.status) == (201, 201)
    assert await second.read() == await first.read()
    assert "Idempotent-Replayed" not in first.headers
    assert second.headers["Idempotent-Replayed"] == "true"
    assert second.headers["Content-Type"] == "application/json; charset=utf-8"
    assert await transaction_count(api) == 1
    replayed = await second.json()
    detail = await ok(await api.get(f"/api/v1/payments/transactions/{replayed['transaction']['id']}"))
    assert [s["id"] for s in detail["sessions"]] == [replayed["session"]["id"]]


@pytest.mark.parametrize("raw", [
    b'{"payment_method": "wechat_pay", "amount": 10}',
    b'{\n  "amount" :10 ,\t"payment_method":"wechat_pay"\n}\n',
    b'{"amount":10,"payment_method":"wechat_pay"}',
])
async def test_key_order_and_white_space_do_not_make_another_body(api, raw):
    first = await api.post(RECEIVES, BODY, headers=keyed("k-1"))

    again = await api.post(RECEIVES, data=raw, headers=keyed("k-1", **{"Content-Type": "application/json"}))

    assert again.status == 201
    assert again.headers["Idempotent-Replayed"] == "true"
    assert await again.json() == await first.json()
    assert await transaction_count(api) == 1


@pytest.mark.parametrize("other", [{"amount": 11, "payment_method": "wechat_pay"},
                                   {"amount": 10, "payment_method": "alipay"},
                                   {"amount": 10, "payment_method": "wechat_pay", "return_url": None}])
async def test_the_same_key_with_another_body_is_idempotency_key_reused(api, other):
    await ok(await api.post(RECEIVES, BODY, headers=keyed("k-1")), 201)

    response = await api.post(RECEIVES, other, headers=keyed("k-1"))

    await error_of(response, 422, "idempotency_key_reused")
    assert "Idempotent-Replayed" not in response.headers
    assert await transaction_count(api) == 1


async def test_a_validation_error_keeps_nothing_so_the_corrected_request_can_use_the_same_key(api):
    await error_of(await api.post(RECEIVES, {"amount": 0, "payment_method": "wechat_pay"}, headers=keyed("k-1")),
                   422, "validation_error")

    corrected = await api.post(RECEIVES, BODY, headers=keyed("k-1"))

    assert corrected.status == 201
    assert "Idempotent-Replayed" not in corrected.headers
    assert await transaction_count(api) == 1


async def test_a_malformed_body_keeps_nothing(api):
    await error_of(await api.post(RECEIVES, data=b"{oops", headers=keyed("k-1")), 400, "malformed_json")

    corrected = await api.post(RECEIVES, BODY, headers=keyed("k-1"))

    assert (corrected.status, corrected.headers.get("Idempotent-Replayed")) == (201, None)


async def test_a_not_found_keeps_nothing(api):
    await error_of(await api.post(CANCEL, {"transaction_id": "txn_missing"}, headers=keyed("k-1")), 404, "not_found")
    bought = await buy(api, 1)

    response = await api.post(CANCEL, {"transaction_id": bought["transaction"]["id"]}, headers=keyed("k-1"))

    assert (await ok(response))["transaction"]["status"] == "cancelled"


async def test_a_forbidden_answer_keeps_nothing(api):
    body = {"user_id": "u1", "count": 1, "reference": "m"}
    await error_of(await api.post(CONSUME, body, user="backend", headers=keyed("k-1")), 403, "forbidden")

    response = await api.post(CONSUME, body, user="backend", role="service", headers=keyed("k-1"))

    assert (response.status, response.headers.get("Idempotent-Replayed")) == (200, None)
    assert (await membership(api))["receives"]["balance"] == 2


async def test_a_state_conflict_is_kept_and_replayed(make_api):
    api = await make_api(PAYMENTS_MAX_PENDING="1")
    held = await buy(api, 1)
    refused = await api.post(RECEIVES, BODY, headers=keyed("k-1"))
    await error_of(refused, 409, "too_many_pending")
    await ok(await api.post(CANCEL, {"transaction_id": held["transaction"]["id"]}))

    replayed = await api.post(RECEIVES, BODY, headers=keyed("k-1"))

    assert replayed.status == 409
    assert replayed.headers["Idempotent-Replayed"] == "true"
    assert await replayed.read() == await refused.read()
    assert await transaction_count(api) == 1


async def test_a_provider_failure_keeps_nothing_and_the_retry_resumes_the_same_purchase(api):
    """Contract v1.1: a 5xx keeps no response; a retry with the same key reuses the transaction and
    session the failed attempt made (here a session that failed at the provider), never a second."""
    (await mock_provider(api)).inject_fault("open_payment", ProviderUnavailableError("timed out"), times=OPEN_ATTEMPTS)
    failed = await api.post(RECEIVES, BODY, headers=keyed("k-1"))
    await error_of(failed, 503, "provider_unavailable")

    retried = await api.post(RECEIVES, BODY, headers=keyed("k-1"))

    resumed = await ok(retried, 201)
    assert "Idempotent-Replayed" not in retried.headers
    assert resumed["session"]["status"] == "failed"  # the failed attempt, reused: pay it with a new session
    assert await transaction_count(api) == 1


async def test_a_200_answer_is_replayed_too(api):
    bought = await buy(api, 1)
    body = {"transaction_id": bought["transaction"]["id"], "reason": "changed my mind"}
    first = await api.post(CANCEL, body, headers=keyed("cancel-1"))

    again = await api.post(CANCEL, body, headers=keyed("cancel-1"))

    assert (first.status, again.status, again.headers["Idempotent-Replayed"]) == (200, 200, "true")
    assert await again.read() == await first.read()


async def test_keys_are_per_user(api):
    mine = await ok(await api.post(RECEIVES, BODY, user="u1", headers=keyed("shared")), 201)

    theirs_response = await api.post(RECEIVES, BODY, user="u2", headers=keyed("shared"))

    theirs = await ok(theirs_response, 201)
    assert "Idempotent-Replayed" not in theirs_response.headers
    assert theirs["transaction"]["id"] != mine["transaction"]["id"]
    assert (await transaction_count(api, "u1"), await transaction_count(api, "u2")) == (1, 1)


async def test_keys_are_per_endpoint(api):
    bought = await ok(await api.post(RECEIVES, BODY, headers=keyed("shared")), 201)

    upgrade = await api.post(PLAN, {"new_plan": "pro", "payment_method": "alipay"}, headers=keyed("shared"))
    session = await api.post(SESSIONS, {"transaction_id": bought["transaction"]["id"]}, headers=keyed("shared"))

    assert (upgrade.status, session.status) == (201, 201)
    assert "Idempotent-Replayed" not in upgrade.headers and "Idempotent-Replayed" not in session.headers
    assert await transaction_count(api) == 2


async def test_requests_without_a_key_are_never_replayed(api):
    await buy(api, 1)
    await buy(api, 1)

    assert await transaction_count(api) == 2


@pytest.mark.parametrize("key", ["", "k" * 256, "tab\there", "caf\u00e9"])
async def test_an_invalid_key_is_a_validation_error_and_does_nothing(api, key):
    response = await api.client.post(RECEIVES, data=json.dumps(BODY).encode(), headers={
        "Authorization": f"Bearer {api.token('u1')}", "Content-Type": "application/json",
        "Idempotency-Key": key})

    error = await error_of(response, 422, "validation_error")
    assert "Idempotency-Key" in error["details"]
    assert await transaction_count(api) == 0


@pytest.mark.parametrize("key", ["k", "k" * 255, "a b~!@#$%^&*()", "550e8400-e29b-41d4-a716-446655440000"])
async def test_keys_of_1_to_255_printable_ascii_characters_are_accepted(api, key):
    first = await api.post(RECEIVES, BODY, headers=keyed(key))
    again = await api.post(RECEIVES, BODY, headers=keyed(key))

    assert (first.status, again.status, again.headers.get("Idempotent-Replayed")) == (201, 201, "true")


async def test_a_repeat_while_the_first_is_still_running_is_idempotency_request_in_progress(api, monkeypatch):
    mock = await mock_provider(api)
    entered, release = asyncio.Event(), asyncio.Event()
    open_payment = mock.open_payment

    async def slow_open_payment(order):
        entered.set()
        await release.wait()
        return await open_payment(order)

    monkeypatch.setattr(mock, "open_payment", slow_open_payment)
    first = asyncio.create_task(api.post(RECEIVES, BODY, headers=keyed("k-1")))
    await entered.wait()

    concurrent = await api.post(RECEIVES, BODY, headers=keyed("k-1"))

    await error_of(concurrent, 409, "idempotency_request_in_progress")
    release.set()
    finished = await first
    assert finished.status == 201
    after = await api.post(RECEIVES, BODY, headers=keyed("k-1"))
    assert (after.status, after.headers["Idempotent-Replayed"]) == (201, "true")
    assert await after.read() == await finished.read()
    assert await transaction_count(api) == 1


async def test_the_key_is_ignored_on_reads(api):
    await buy(api, 1)

    first = await api.get("/api/v1/payments/membership", headers=keyed("read-1"))
    again = await api.get("/api/v1/payments/membership", headers=keyed("read-1"))

    assert (first.status, again.status) == (200, 200)
    assert "Idempotent-Replayed" not in again.headers
