"""POST /api/v1/payments/sessions (a new session for a pending transaction) and
GET /api/v1/payments/sessions/{id}."""
from datetime import timedelta

import pytest

from e2e_support import (
    CANCEL,
    SESSIONS,
    assert_session,
    buy,
    error_of,
    membership,
    mock_provider,
    ok,
    parse_timestamp,
    pay,
    session,
    transaction,
)
from ports.payment_provider import PaymentState


async def test_a_session_reads_back_with_the_contract_shape_and_its_current_status(api):
    bought = await buy(api, 10, "alipay")

    body = await ok(await api.get(f"{SESSIONS}/{bought['session']['id']}"))

    assert assert_session(body) == bought["session"]
    assert body["status"] == "open"


async def test_a_paid_session_reads_completed(api):
    bought = await buy(api, 10)
    await pay(api, bought["session"])

    paid = await session(api, bought["session"]["id"])

    assert paid["status"] == "completed"
    assert parse_timestamp(paid["completed_at"])


async def test_a_session_never_reads_open_after_it_expires(fixed_api, clock):
    bought = await buy(fixed_api, 10)

    clock.advance(timedelta(hours=1))

    assert (await session(fixed_api, bought["session"]["id"]))["status"] == "expired"


async def test_a_new_session_answers_201_and_cancels_the_open_one_and_its_provider_order(fixed_api, clock):
    bought = await buy(fixed_api, 10, "wechat_pay")
    clock.advance(timedelta(minutes=5))

    response = await fixed_api.post(SESSIONS, {"transaction_id": bought["transaction"]["id"]})

    new = assert_session(await ok(response, 201))
    assert new["id"] != bought["session"]["id"]
    assert new["order_id"] != bought["session"]["order_id"]  # a retry needs a new merchant order number
    assert (new["transaction_id"], new["status"], new["amount"]) == (bought["transaction"]["id"], "open", 1700)
    assert new["payment_method"] == "wechat_pay"  # the transaction's, by default
    assert parse_timestamp(new["expires_at"]) - parse_timestamp(new["created_at"]) == timedelta(hours=1)
    assert (await session(fixed_api, bought["session"]["id"]))["status"] == "cancelled"
    mock = await mock_provider(fixed_api)
    assert (await mock.query_payment(bought["session"]["order_id"])).state is PaymentState.CLOSED


async def test_a_new_session_may_change_the_payment_method(api):
    bought = await buy(api, 10, "wechat_pay")

    new = await ok(await api.post(SESSIONS, {"transaction_id": bought["transaction"]["id"],
                                             "payment_method": "credit_card"}), 201)

    assert new["payment_method"] == "credit_card"
    assert (await transaction(api, bought["transaction"]["id"]))["transaction"]["payment_method"] == "credit_card"


async def test_a_payer_can_retry_with_a_new_session_after_a_declined_payment(api):
    bought = await buy(api, 10)
    await pay(api, bought["session"], succeeded=False)
    failed = await transaction(api, bought["transaction"]["id"])
    assert (failed["transaction"]["status"], failed["transaction"]["failure_reason"]) == ("pending", "declined")
    assert [s["status"] for s in failed["sessions"]] == ["failed"]

    retry = await ok(await api.post(SESSIONS, {"transaction_id": bought["transaction"]["id"]}), 201)
    await pay(api, retry)

    assert (await transaction(api, bought["transaction"]["id"]))["transaction"]["status"] == "succeeded"
    assert (await membership(api))["receives"]["purchased_remaining"] == 10


async def test_a_session_for_a_cancelled_transaction_is_invalid_state(api):
    bought = await buy(api, 10)
    await ok(await api.post(CANCEL, {"transaction_id": bought["transaction"]["id"]}))

    response = await api.post(SESSIONS, {"transaction_id": bought["transaction"]["id"]})

    await error_of(response, 409, "invalid_state")


async def test_a_session_for_a_paid_transaction_is_invalid_state(api):
    bought = await buy(api, 10)
    await pay(api, bought["session"])

    response = await api.post(SESSIONS, {"transaction_id": bought["transaction"]["id"]})

    await error_of(response, 409, "invalid_state")
    assert len((await transaction(api, bought["transaction"]["id"]))["sessions"]) == 1


async def test_a_session_for_a_transaction_whose_attempts_have_lapsed_is_invalid_state(fixed_api, clock):
    bought = await buy(fixed_api, 10)
    clock.advance(timedelta(hours=1, seconds=1))

    response = await fixed_api.post(SESSIONS, {"transaction_id": bought["transaction"]["id"]})

    await error_of(response, 409, "invalid_state")


async def test_someone_elses_transaction_cannot_get_a_session_and_looks_missing(api, make_api):
    theirs = (await buy(api, 10, user="u2"))["transaction"]["id"]
    elsewhere = await make_api()

    as_other = await api.post(SESSIONS, {"transaction_id": theirs}, user="u1")
    as_missing = await elsewhere.post(SESSIONS, {"transaction_id": theirs}, user="u1")

    await error_of(as_other, 404, "not_found")
    assert await as_other.read() == await as_missing.read()
    assert len((await transaction(api, theirs, user="u2"))["sessions"]) == 1


async def test_someone_elses_session_is_not_found_exactly_like_a_missing_one(api, make_api):
    theirs = (await buy(api, 10, user="u2"))["session"]["id"]
    elsewhere = await make_api()

    as_other = await api.get(f"{SESSIONS}/{theirs}", user="u1")
    as_missing = await elsewhere.get(f"{SESSIONS}/{theirs}", user="u1")

    await error_of(as_other, 404, "not_found")
    assert await as_other.read() == await as_missing.read()


async def test_a_method_no_provider_serves_is_refused_for_a_new_session(make_api):
    api = await make_api(PAYMENTS_METHOD_ROUTES="mock=mock")
    bought = await buy(api, 10, "mock")

    response = await api.post(SESSIONS, {"transaction_id": bought["transaction"]["id"], "payment_method": "alipay"})

    await error_of(response, 422, "payment_method_unavailable")
    assert (await session(api, bought["session"]["id"]))["status"] == "open"


@pytest.mark.parametrize(("body", "field"), [
    ({}, "transaction_id"),
    ({"transaction_id": 12}, "transaction_id"),
    ({"transaction_id": ""}, "transaction_id"),
    ({"transaction_id": "TXN", "payment_method": "cash"}, "payment_method"),
    ({"transaction_id": "TXN", "amount": 1}, "amount"),
    ({"transaction_id": "TXN", "return_url": "https://evil.example/"}, "return_url"),
])
async def test_a_wrong_session_request_is_a_validation_error(api, body, field):
    bought = await buy(api, 10)
    body = {k: bought["transaction"]["id"] if v == "TXN" else v for k, v in body.items()}

    response = await api.post(SESSIONS, body)

    error = await error_of(response, 422, "validation_error")
    assert field in error["details"], error
    assert len((await transaction(api, bought["transaction"]["id"]))["sessions"]) == 1


@pytest.mark.parametrize("raw", [b"{", b"[1]"])
async def test_a_session_body_that_is_not_a_json_object_is_malformed_json(api, raw):
    await error_of(await api.post(SESSIONS, data=raw), 400, "malformed_json")
