"""POST /api/v1/payments/subscription and the renewal job over HTTP, in process with a fixed clock
(docs/renewals.md): the Membership's renewal fields everywhere it appears, the refusals (409 on
basic, 404 for a saved method that is not the caller's, 422 for a bad body), the OpenAPI entry, and
renewals driven by the job as a server process runs it: with the saved method, declined (past_due
with grace), and by reminder paid through a session in grace."""
from __future__ import annotations

from datetime import timedelta

from e2e_support import (
    MEMBERSHIP,
    PLAN,
    SESSIONS,
    TRANSACTIONS,
    assert_membership,
    deliver,
    error_of,
    mock_provider,
    ok,
    parse_timestamp,
    pay,
)
from entrypoints.http.keys import USE_CASES

SUBSCRIPTION = "/api/v1/payments/subscription"
SAVED = "/api/v1/payments/saved-methods"
DAY = timedelta(days=1)


async def upgrade_saving(api, plan: str = "pro", card: str = "ok", user: str = "u1") -> dict:
    """Upgrade paid by card at the mock with `save_method`: the method kept does `card` from then on."""
    started = await ok(await api.post(PLAN, {"new_plan": plan, "payment_method": "credit_card", "save_method": True},
                                      user=user), 201)
    mock = await mock_provider(api)
    headers, body = mock.settle(started["session"]["order_id"], True, card=card)
    assert (await deliver(api, headers, body)).status == 200
    [method] = (await ok(await api.get(SAVED, user=user)))["items"]
    return method


async def renew_job(api) -> None:
    await api.client.server.app[USE_CASES].renew_memberships()


async def membership(api, user: str = "u1") -> dict:
    return assert_membership(await ok(await api.get(MEMBERSHIP, user=user)))


async def renewals(api, user: str = "u1") -> list[dict]:
    return (await ok(await api.get(f"{TRANSACTIONS}?type=plan_renewal", user=user)))["items"]


async def test_auto_renew_on_with_the_default_saved_method_and_off_again(fixed_api):
    method = await upgrade_saving(fixed_api)

    on = await ok(await fixed_api.post(SUBSCRIPTION, {"auto_renew": True}))

    assert assert_membership(on) == await membership(fixed_api)
    assert (on["auto_renew"], on["renewal_method_id"], on["next_renewal_at"], on["grace_until"], on["status"]) == \
        (True, method["id"], on["current_period_end"], None, "active")
    off = await ok(await fixed_api.post(SUBSCRIPTION, {"auto_renew": False, "saved_method_id": method["id"]}))
    assert (off["auto_renew"], off["renewal_method_id"], off["next_renewal_at"]) == (False, None, None)


async def test_a_named_saved_method_becomes_the_renewal_method(fixed_api):
    method = await upgrade_saving(fixed_api)
    await ok(await fixed_api.post(SUBSCRIPTION, {"auto_renew": False}))

    on = await ok(await fixed_api.post(SUBSCRIPTION, {"auto_renew": True, "saved_method_id": method["id"]}))

    assert on["renewal_method_id"] == method["id"]


async def test_refusals(fixed_api):
    await error_of(await fixed_api.post(SUBSCRIPTION, {"auto_renew": True}), 409, "invalid_state")
    method = await upgrade_saving(fixed_api, user="owner")
    await upgrade_saving(fixed_api, user="u1")
    await error_of(await fixed_api.post(SUBSCRIPTION, {"auto_renew": True, "saved_method_id": method["id"]}),
                   404, "not_found")
    await error_of(await fixed_api.post(SUBSCRIPTION, {"auto_renew": True, "saved_method_id": "spm_nope"}),
                   404, "not_found")
    for body in ({}, {"auto_renew": "true"}, {"auto_renew": 1}, {"auto_renew": None}, {"auto_renew": True, "x": 1},
                 {"auto_renew": True, "saved_method_id": 5}, {"auto_renew": True, "saved_method_id": ""}):
        await error_of(await fixed_api.post(SUBSCRIPTION, body), 422, "validation_error")
    await error_of(await fixed_api.post(SUBSCRIPTION, {"auto_renew": True}, user=None), 401, "unauthorized")
    assert (await membership(fixed_api))["auto_renew"] is False


async def test_documented_in_the_openapi_document(api):
    response = await api.client.get("/api/docs/swagger.json")
    assert response.status == 200
    document = await response.json()
    operation = document["paths"][SUBSCRIPTION]["post"]
    assert operation["operationId"] == "setSubscription"
    assert {"200", "401", "404", "409", "422"} <= set(operation["responses"])
    assert operation["requestBody"]["content"]["application/json"]["examples"]
    membership_schema = document["components"]["schemas"]["Membership"]
    assert {"auto_renew", "renewal_method_id", "next_renewal_at", "grace_until"} <= set(membership_schema["required"])


async def test_renewed_by_the_job_with_the_saved_method(fixed_api, clock):
    await upgrade_saving(fixed_api)
    on = await ok(await fixed_api.post(SUBSCRIPTION, {"auto_renew": True}))
    end = parse_timestamp(on["current_period_end"])

    clock.advance(end - clock.now())
    await renew_job(fixed_api)

    [renewal] = await renewals(fixed_api)
    after = await membership(fixed_api)
    assert (renewal["status"], renewal["total"], renewal["plan_to"]) == ("succeeded", 2900, "pro")
    assert (after["status"], after["current_period_start"], after["receives"]["allowance_remaining"]) == \
        ("active", on["current_period_end"], 20)


async def test_declined_is_past_due_with_grace_then_basic(fixed_api, clock):
    await upgrade_saving(fixed_api, card="declines")
    on = await ok(await fixed_api.post(SUBSCRIPTION, {"auto_renew": True}))
    end = parse_timestamp(on["current_period_end"])

    clock.advance(end - clock.now())
    await renew_job(fixed_api)

    due = await membership(fixed_api)
    [renewal] = await renewals(fixed_api)
    assert (due["status"], due["plan"], parse_timestamp(due["grace_until"])) == ("past_due", "pro", end + 7 * DAY)
    assert (renewal["status"], renewal["failure_reason"]) == ("pending", "card_declined")
    clock.advance(7 * DAY)
    lapsed = await membership(fixed_api)
    assert (lapsed["plan"], lapsed["status"], lapsed["grace_until"], lapsed["auto_renew"]) == \
        ("basic", "active", None, False)
    await renew_job(fixed_api)
    [renewal] = await renewals(fixed_api)
    assert (renewal["status"], renewal["failure_reason"]) == ("failed", "renewal_unpaid")


async def test_a_reminder_paid_through_a_session_in_grace(fixed_api, clock):
    started = await ok(await fixed_api.post(PLAN, {"new_plan": "vip", "payment_method": "alipay"}), 201)
    await pay(fixed_api, started["session"])
    on = await ok(await fixed_api.post(SUBSCRIPTION, {"auto_renew": True}))
    assert on["renewal_method_id"] is None
    end = parse_timestamp(on["current_period_end"])

    clock.advance(end - 3 * DAY - clock.now())
    await renew_job(fixed_api)
    [renewal] = await renewals(fixed_api)
    assert (renewal["status"], renewal["total"], renewal["payment_method"]) == ("pending", 5900, "alipay")
    clock.advance(5 * DAY)
    assert (await membership(fixed_api))["status"] == "past_due"
    session = await ok(await fixed_api.post(SESSIONS, {"transaction_id": renewal["id"]}), 201)
    assert session["payment_method"] == "alipay"  # the method the plan was last paid with
    await pay(fixed_api, session)

    after = await membership(fixed_api)
    assert (after["status"], after["plan"], after["current_period_start"], after["grace_until"]) == \
        ("active", "vip", on["current_period_end"], None)
    assert after["receives"]["allowance_remaining"] == 100
