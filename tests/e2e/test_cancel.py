"""POST /api/v1/payments/cancel: cancelling a pending transaction."""
import pytest

from e2e_support import (
    CANCEL,
    assert_transaction,
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


async def test_cancelling_a_pending_transaction_answers_it_cancelled_with_the_reason(api):
    bought = await buy(api, 10)

    response = await api.post(CANCEL, {"transaction_id": bought["transaction"]["id"], "reason": "changed my mind"})

    body = await ok(response)
    assert set(body) == {"transaction"}
    t = assert_transaction(body["transaction"])
    assert (t["id"], t["status"], t["cancel_reason"]) == (bought["transaction"]["id"], "cancelled", "changed my mind")
    assert parse_timestamp(t["updated_at"]) >= parse_timestamp(t["created_at"])
    assert (await transaction(api, t["id"]))["transaction"] == t


async def test_cancelling_ends_the_open_session_and_closes_its_provider_order(api):
    bought = await buy(api, 10)

    await ok(await api.post(CANCEL, {"transaction_id": bought["transaction"]["id"]}))

    assert (await session(api, bought["session"]["id"]))["status"] == "cancelled"
    mock = await mock_provider(api)
    assert (await mock.query_payment(bought["session"]["order_id"])).state is PaymentState.CLOSED


async def test_a_reason_is_optional(api):
    bought = await buy(api, 10)

    body = await ok(await api.post(CANCEL, {"transaction_id": bought["transaction"]["id"], "reason": None}))

    assert (body["transaction"]["status"], body["transaction"]["cancel_reason"]) == ("cancelled", None)


async def test_cancelling_twice_is_invalid_state(api):
    bought = await buy(api, 10)
    await ok(await api.post(CANCEL, {"transaction_id": bought["transaction"]["id"]}))

    response = await api.post(CANCEL, {"transaction_id": bought["transaction"]["id"]})

    await error_of(response, 409, "invalid_state")


async def test_a_paid_transaction_cannot_be_cancelled(api):
    bought = await buy(api, 10)
    await pay(api, bought["session"])

    response = await api.post(CANCEL, {"transaction_id": bought["transaction"]["id"]})

    await error_of(response, 409, "invalid_state")
    assert (await transaction(api, bought["transaction"]["id"]))["transaction"]["status"] == "succeeded"
    assert (await membership(api))["receives"]["purchased_remaining"] == 10


async def test_someone_elses_transaction_cannot_be_cancelled_and_looks_missing(api, make_api):
    theirs = (await buy(api, 10, user="u2"))["transaction"]["id"]
    elsewhere = await make_api()

    as_other = await api.post(CANCEL, {"transaction_id": theirs}, user="u1")
    as_missing = await elsewhere.post(CANCEL, {"transaction_id": theirs}, user="u1")

    await error_of(as_other, 404, "not_found")
    assert await as_other.read() == await as_missing.read()
    assert (await transaction(api, theirs, user="u2"))["transaction"]["status"] == "pending"


@pytest.mark.parametrize(("body", "field"), [
    ({}, "transaction_id"),
    ({"transaction_id": None}, "transaction_id"),
    ({"transaction_id": ["txn_1"]}, "transaction_id"),
    ({"transaction_id": "TXN", "reason": 5}, "reason"),
    ({"transaction_id": "TXN", "reason": "x" * 501}, "reason"),
    ({"transaction_id": "TXN", "status": "cancelled"}, "status"),
])
async def test_a_wrong_cancel_request_is_a_validation_error_and_changes_nothing(api, body, field):
    bought = await buy(api, 10)
    body = {k: bought["transaction"]["id"] if v == "TXN" else v for k, v in body.items()}

    response = await api.post(CANCEL, body)

    error = await error_of(response, 422, "validation_error")
    assert field in error["details"], error
    assert (await transaction(api, bought["transaction"]["id"]))["transaction"]["status"] == "pending"


@pytest.mark.parametrize("raw", [b"transaction_id=txn_1", b"[]"])
async def test_a_cancel_body_that_is_not_a_json_object_is_malformed_json(api, raw):
    await error_of(await api.post(CANCEL, data=raw), 400, "malformed_json")
