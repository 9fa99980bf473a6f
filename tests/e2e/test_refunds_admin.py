"""The admins' refund endpoints through HTTP (the real app on a real test server, the mock
provider): the queue with its filters and sort, approve, reject (note required), retry, refunds an
admin issues with the two-person rule, the audit log; 403 without the admin role and for the
requester approving their own refund; every change in the audit log with its request id; an
automatic refund of a duplicate payment shown as kind `automatic` on the transaction, in the queue
and in the audit log."""
from __future__ import annotations

from e2e_support import SESSIONS, buy, deliver, error_of, membership, mock_provider, ok, pay, transaction

REFUNDS = "/api/v1/payments/refunds"
ADMIN = "/api/v1/admin/refunds"
AUDIT = "/api/v1/admin/audit-log"


async def paid_purchase(api, amount: int = 10, user: str = "u1") -> str:
    bought = await buy(api, amount, user=user)
    await pay(api, bought["session"])
    return bought["transaction"]["id"]


async def requested(api, txn: str, receives: int | None = 2, user: str = "u1") -> dict:
    body = {"transaction_id": txn, "reason": "bought by mistake", **({"receives": receives} if receives else {})}
    return await ok(await api.post(REFUNDS, body, user=user), 201)


def as_admin(api, admin: str = "admin1"):
    return {"user": admin, "role": "admin"}


async def test_every_admin_endpoint_needs_the_admin_role(api):
    for method, path in (("get", ADMIN), ("post", ADMIN), ("post", f"{ADMIN}/rf_1/approve"),
                         ("post", f"{ADMIN}/rf_1/reject"), ("post", f"{ADMIN}/rf_1/retry"), ("get", AUDIT)):
        call = api.get(path) if method == "get" else api.post(path, {"note": "x"})
        await error_of(await call, 403, "forbidden")
        call = api.get(path, user=None) if method == "get" else api.post(path, {}, user=None)
        await error_of(await call, 401, "unauthorized")


async def test_the_queue_is_filtered_and_oldest_first(make_api, clock):
    from datetime import timedelta
    api = await make_api(clock=clock)
    first = await requested(api, await paid_purchase(api, user="u1"), user="u1")
    clock.advance(timedelta(minutes=1))
    second = await requested(api, await paid_purchase(api, user="u2"), user="u2")

    queue = await ok(await api.get(ADMIN, params={"status": "requested", "sort": "created_at"}, **as_admin(api)))
    assert [r["id"] for r in queue["items"]] == [first["id"], second["id"]]
    assert (queue["items"][0]["user_id"], queue["items"][0]["provider"]) == ("u1", "mock")
    newest = await ok(await api.get(ADMIN, **as_admin(api)))
    assert [r["id"] for r in newest["items"]] == [second["id"], first["id"]] and newest["total"] == 2
    for params, expected in (({"user_id": "u2"}, [second["id"]]), ({"kind": "admin"}, []),
                             ({"provider": "mock", "kind": "requested,admin"}, [second["id"], first["id"]]),
                             ({"date_from": "2026-03-01T00:00:30Z"}, [second["id"]]),
                             ({"date_to": "2026-03-01T00:00:30Z"}, [first["id"]])):
        listed = await ok(await api.get(ADMIN, params=params, **as_admin(api)))
        assert [r["id"] for r in listed["items"]] == expected, params
    after = await ok(await api.get(ADMIN, params={"sort": "created_at", "starting_after": first["id"]},
                                   **as_admin(api)))
    assert ([r["id"] for r in after["items"]], after["has_more"], after["next_cursor"]) == ([second["id"]], False, None)
    for params in ({"sort": "amount"}, {"status": "pending"}, {"limit": "0"}, {"x": "1"},
                   {"starting_after": "rf_unknown"}):
        await error_of(await api.get(ADMIN, params=params, **as_admin(api)), 422, "validation_error")


async def test_approval_answers_processing_and_the_refund_then_succeeds_once(api):
    txn = await paid_purchase(api)
    made = await requested(api, txn, 4)

    approved = await ok(await api.post(f"{ADMIN}/{made['id']}/approve", {"note": "fine"}, **as_admin(api),
                                       headers={"X-Request-ID": "approve-1"}))

    assert (approved["status"], approved["reviewed_by"], approved["review_note"]) == ("processing", "admin1", "fine")
    assert approved["reviewed_at"] is not None
    refund = await ok(await api.get(f"{REFUNDS}/{made['id']}"))
    assert refund["status"] == "succeeded" and refund["completed_at"] is not None
    detail = await transaction(api, txn)
    assert (detail["transaction"]["status"], detail["transaction"]["refunded_amount"]) == ("partially_refunded", 680)
    await error_of(await api.post(f"{ADMIN}/{made['id']}/approve", **as_admin(api, "admin2")), 409, "invalid_state")
    audit = await ok(await api.get(AUDIT, params={"object_id": made["id"]}, **as_admin(api)))
    assert {(e["actor"], e["action"]) for e in audit["items"]} == {("u1", "refund.requested"),
                                                                   ("admin1", "refund.approved")}
    entry = next(e for e in audit["items"] if e["action"] == "refund.approved")
    assert (entry["request_id"], entry["object_type"], entry["details"]["amount"]) == ("approve-1", "refund", 680)


async def test_approval_without_a_body_is_accepted(api):
    made = await requested(api, await paid_purchase(api))
    approved = await ok(await api.client.post(f"{ADMIN}/{made['id']}/approve",
                                              headers=api.headers("admin1", "admin")))
    assert approved["status"] == "processing"


async def test_rejection_needs_a_note_and_gives_the_receives_back(api):
    made = await requested(api, await paid_purchase(api), 5)
    assert (await membership(api))["receives"]["purchased_remaining"] == 5

    error = await error_of(await api.post(f"{ADMIN}/{made['id']}/reject", {}, **as_admin(api)), 422,
                           "validation_error")
    assert "note" in error["details"]
    rejected = await ok(await api.post(f"{ADMIN}/{made['id']}/reject", {"note": "used"}, **as_admin(api)))

    assert (rejected["status"], rejected["review_note"]) == ("rejected", "used")
    assert (await membership(api))["receives"]["purchased_remaining"] == 10
    await error_of(await api.post(f"{ADMIN}/{made['id']}/reject", {"note": "again"}, **as_admin(api)), 409,
                   "invalid_state")
    await error_of(await api.post(f"{ADMIN}/rf_unknown/reject", {"note": "x"}, **as_admin(api)), 404, "not_found")


async def test_a_failed_refund_is_retried_with_the_same_order_id(make_api):
    api = await make_api(PAYMENTS_MOCK_FAULTS="refund=unavailable:1.0")
    made = await requested(api, await paid_purchase(api))
    await ok(await api.post(f"{ADMIN}/{made['id']}/approve", {}, **as_admin(api)))
    await error_of(await api.post(f"{ADMIN}/{made['id']}/retry", **as_admin(api)), 409, "invalid_state")
    # The provider never answers: the follow-up job gives up after its limit (72 h) and marks it failed.
    uow = api.container.adapters.uow()
    from datetime import timedelta
    async with uow() as unit:
        refund = await unit.refunds.get(made["id"], for_update=True)
        refund.fail(refund.created_at + timedelta(hours=72), "no_final_answer_from_provider")
        await unit.refunds.update(refund)
        await unit.commit()
    failed = await ok(await api.get(f"{REFUNDS}/{made['id']}"))
    assert (failed["status"], failed["failure_reason"]) == ("failed", "no_final_answer_from_provider")

    retried = await ok(await api.post(f"{ADMIN}/{made['id']}/retry", **as_admin(api)))

    assert (retried["status"], retried["order_id"], retried["failure_reason"]) == ("processing", made["order_id"], None)


async def test_an_admin_refund_at_the_threshold_is_sent_at_once(make_api):
    api = await make_api(PAYMENTS_REFUND_SECOND_APPROVAL_ABOVE="1000")
    txn = await paid_purchase(api)

    issued = await ok(await api.post(ADMIN, {"transaction_id": txn, "reason": "goodwill", "amount": 1000},
                                     **as_admin(api)), 201)

    assert (issued["kind"], issued["status"], issued["amount"], issued["receives"]) == ("admin", "processing", 1000, None)
    assert issued["requested_by"] == "admin1"
    assert (await transaction(api, txn))["transaction"]["refunded_amount"] == 1000
    assert (await membership(api))["receives"]["purchased_remaining"] == 10  # no receives taken back
    await error_of(await api.post(ADMIN, {"transaction_id": txn, "reason": "more", "amount": 701}, **as_admin(api)),
                   409, "not_refundable")


async def test_above_the_threshold_another_admin_must_approve(make_api):
    api = await make_api(PAYMENTS_REFUND_SECOND_APPROVAL_ABOVE="1000")
    txn = await paid_purchase(api)

    issued = await ok(await api.post(ADMIN, {"transaction_id": txn, "reason": "complaint", "receives": 10},
                                     **as_admin(api)), 201)
    assert (issued["status"], issued["amount"], issued["receives"]) == ("requested", 1700, 10)
    await error_of(await api.post(f"{ADMIN}/{issued['id']}/approve", {}, **as_admin(api)), 403, "forbidden")
    approved = await ok(await api.post(f"{ADMIN}/{issued['id']}/approve", {}, **as_admin(api, "admin2")))

    assert (approved["status"], approved["reviewed_by"]) == ("processing", "admin2")
    assert (await transaction(api, txn))["transaction"]["status"] == "refunded"
    log = await ok(await api.get(AUDIT, params={"actor": "admin1"}, **as_admin(api)))
    assert [e["action"] for e in log["items"]] == ["refund.created"]


async def test_admin_refund_errors(api):
    txn = await paid_purchase(api)
    await error_of(await api.post(ADMIN, {"transaction_id": "txn_nope", "reason": "x"}, **as_admin(api)), 404,
                   "not_found")
    await error_of(await api.post(ADMIN, {"transaction_id": txn}, **as_admin(api)), 422, "validation_error")
    await error_of(await api.post(ADMIN, {"transaction_id": txn, "reason": "x", "amount": 0}, **as_admin(api)), 422,
                   "validation_error")
    await ok(await api.post(REFUNDS, {"transaction_id": txn, "reason": "mine"}), 201)
    await error_of(await api.post(ADMIN, {"transaction_id": txn, "reason": "x"}, **as_admin(api)), 409,
                   "refund_in_progress")


async def test_the_audit_log_is_newest_first_filtered_and_paged(api):
    made = await requested(api, await paid_purchase(api))
    await ok(await api.post(f"{ADMIN}/{made['id']}/reject", {"note": "no"}, **as_admin(api)))

    log = await ok(await api.get(AUDIT, **as_admin(api)))
    assert log["total"] == 2 and set(log["items"][0]) == {"id", "actor", "action", "object_type", "object_id",
                                                          "details", "request_id", "created_at"}
    assert (await ok(await api.get(AUDIT, params={"action": "refund.rejected"}, **as_admin(api))))["total"] == 1
    page = await ok(await api.get(AUDIT, params={"limit": "1", "page": "2"}, **as_admin(api)))
    assert (len(page["items"]), page["has_more"]) == (1, False)
    newest = log["items"][0]
    after = await ok(await api.get(AUDIT, params={"starting_after": newest["id"]}, **as_admin(api)))
    assert (after["items"], after["has_more"], after["next_cursor"]) == (log["items"][1:], False, None)
    await error_of(await api.get(AUDIT, params={"limit": "101"}, **as_admin(api)), 422, "validation_error")
    await error_of(await api.get(AUDIT, params={"starting_after": "aud_x"}, **as_admin(api)), 422, "validation_error")


async def test_the_mock_refusing_refunds_fails_them_and_a_retry_is_refused_again(make_api):
    api = await make_api(PAYMENTS_MOCK_FAULTS="refund=error:1.0")
    txn = await paid_purchase(api)
    made = await requested(api, txn, 3)

    approved = await ok(await api.post(f"{ADMIN}/{made['id']}/approve", {}, **as_admin(api)))
    assert approved["status"] == "processing"  # as committed before the provider was called
    failed = await ok(await api.get(f"{REFUNDS}/{made['id']}"))
    assert (failed["status"], failed["failure_reason"]) == ("failed", "refused_by_provider")
    assert (await transaction(api, txn))["transaction"]["refunded_amount"] == 0
    assert (await membership(api))["receives"]["purchased_remaining"] == 7  # not given back after approval

    retried = await ok(await api.post(f"{ADMIN}/{made['id']}/retry", **as_admin(api)))
    assert (retried["status"], retried["order_id"]) == ("processing", made["order_id"])
    assert (await ok(await api.get(f"{REFUNDS}/{made['id']}")))["status"] == "failed"


async def test_an_automatic_refund_of_a_duplicate_payment_is_visible_as_kind_automatic(api):
    bought = await buy(api, 10, "wechat_pay")
    first, txn = bought["session"], bought["transaction"]["id"]
    # The payer pays the first order; its notification is held back while a second session is paid.
    in_flight = (await mock_provider(api)).settle(first["order_id"], True)
    second = await ok(await api.post(SESSIONS, {"transaction_id": txn}), 201)
    await pay(api, second)
    assert (await deliver(api, *in_flight)).status == 200  # the late payment arrives: refunded at once

    refunds = (await transaction(api, txn))["refunds"]
    assert [(r["kind"], r["status"], r["amount"], r["transaction_id"], r["reviewed_by"]) for r in refunds] == [
        ("automatic", "succeeded", first["amount"], txn, None)]
    queue = await ok(await api.get(f"{ADMIN}?kind=automatic", **as_admin(api)))
    assert [r["id"] for r in queue["items"]] == [refunds[0]["id"]]
    entries = (await ok(await api.get(f"{AUDIT}?object_id={refunds[0]['id']}", **as_admin(api))))["items"]
    assert [e["object_type"] for e in entries] and all(e["object_id"] == refunds[0]["id"] for e in entries)
    # It does not count as refunded money of the sale (the contract's Transaction rule).
    assert (await transaction(api, txn))["transaction"]["refunded_amount"] == 0
