"""POST /api/v1/internal/receives/consume (role `service`)."""
import pytest

from e2e_support import CONSUME, assert_membership, buy, consume, error_of, membership, ok, pay


async def paid_receives(api, amount: int, user: str = "u1") -> None:
    bought = await buy(api, amount, user=user)
    await pay(api, bought["session"])


async def test_consuming_answers_the_membership_and_takes_the_allowance_first(api):
    await paid_receives(api, 10)

    body = assert_membership(await ok(await consume(api, "u1", 5, "match-1")))

    assert body["receives"] == {"balance": 8, "allowance_remaining": 0, "purchased_remaining": 8,
                                "monthly_allowance": 3}
    assert await membership(api) == body


async def test_the_same_reference_again_consumes_nothing_more(api):
    first = await ok(await consume(api, "u1", 2, "match-1"))

    again = await ok(await consume(api, "u1", 2, "match-1"))

    assert again == first
    assert again["receives"]["balance"] == 1


async def test_references_are_per_user(api):
    await ok(await consume(api, "u1", 1, "match-1"))

    other = await ok(await consume(api, "u2", 1, "match-1"))

    assert other["receives"]["balance"] == 2
    assert (await membership(api, "u1"))["receives"]["balance"] == 2


async def test_consuming_more_than_the_balance_is_insufficient_receives_and_consumes_nothing(api):
    await ok(await consume(api, "u1", 2, "match-1"))

    response = await consume(api, "u1", 2, "match-2")

    await error_of(response, 409, "insufficient_receives")
    assert (await membership(api))["receives"]["balance"] == 1


async def test_a_refused_reference_can_be_used_once_the_balance_allows_it(api):
    await error_of(await consume(api, "u1", 5, "match-1"), 409, "insufficient_receives")
    await paid_receives(api, 5)

    body = await ok(await consume(api, "u1", 5, "match-1"))

    assert body["receives"]["balance"] == 3


async def test_consuming_for_a_user_with_no_record_starts_them_on_basic(api):
    body = await ok(await consume(api, "newcomer", 3, "match-1"))

    assert (body["plan"], body["receives"]["balance"]) == ("basic", 0)
    await error_of(await consume(api, "newcomer", 1, "match-2"), 409, "insufficient_receives")


@pytest.mark.parametrize("role", [None, "admin", "superuser"])
async def test_consuming_needs_the_service_role(api, role):
    response = await api.post(CONSUME, {"user_id": "u1", "count": 1, "reference": "m"}, user="u1", role=role)

    await error_of(response, 403, "forbidden")
    assert (await membership(api))["receives"]["balance"] == 3


async def test_consuming_needs_a_token(api):
    response = await api.post(CONSUME, {"user_id": "u1", "count": 1, "reference": "m"}, user=None)

    await error_of(response, 401, "unauthorized")


@pytest.mark.parametrize(("body", "field"), [
    ({"user_id": "u1", "count": 0, "reference": "m"}, "count"),
    ({"user_id": "u1", "count": 101, "reference": "m"}, "count"),
    ({"user_id": "u1", "count": "1", "reference": "m"}, "count"),
    ({"user_id": "u1", "count": True, "reference": "m"}, "count"),
    ({"user_id": "u1", "count": 1.5, "reference": "m"}, "count"),
    ({"user_id": "u1", "reference": "m"}, "count"),
    ({"user_id": "u1", "count": 1, "reference": ""}, "reference"),
    ({"user_id": "u1", "count": 1, "reference": "r" * 256}, "reference"),
    ({"user_id": "u1", "count": 1, "reference": 7}, "reference"),
    ({"user_id": "u1", "count": 1}, "reference"),
    ({"count": 1, "reference": "m"}, "user_id"),
    ({"user_id": "", "count": 1, "reference": "m"}, "user_id"),
    ({"user_id": 1, "count": 1, "reference": "m"}, "user_id"),
    ({"user_id": "u1", "count": 1, "reference": "m", "balance": 99}, "balance"),
])
async def test_a_wrong_consume_request_is_a_validation_error_and_consumes_nothing(api, body, field):
    response = await api.post(CONSUME, body, user="backend", role="service")

    error = await error_of(response, 422, "validation_error")
    assert field in error["details"], error
    assert (await membership(api))["receives"]["balance"] == 3


async def test_the_limits_of_count_and_reference_are_accepted(api):
    await paid_receives(api, 100)

    assert (await ok(await consume(api, "u1", 100, "r" * 255)))["receives"]["balance"] == 3
    assert (await ok(await consume(api, "u1", 1, "x")))["receives"]["balance"] == 2


@pytest.mark.parametrize("raw", [b"count=1", b"[{\"count\": 1}]"])
async def test_a_consume_body_that_is_not_a_json_object_is_malformed_json(api, raw):
    response = await api.post(CONSUME, data=raw, user="backend", role="service")

    await error_of(response, 400, "malformed_json")
