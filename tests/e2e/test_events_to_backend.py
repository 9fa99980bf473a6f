"""Events to the main backend, end to end (docs/events.md): the real app (in-memory adapters, its
dispatcher running) and a real local receiver verifying every delivery with the reference
Standard Webhooks library (`tests/events_receiver.py`).

- A paid purchase sends `transaction.succeeded` then `membership.updated`, signed; their `data`
  is the API's own Transaction and Membership (the same JSON the API answers), the body's `id`
  is the `webhook-id`.
- A receiver that fails first gets the same `webhook-id` and body again (a retry, brought forward
  by the test clock), and the event reads `delivered` with 2 attempts.
- Without PAYMENTS_EVENTS_URL nothing is written.
- Delivered events older than PAYMENTS_EVENTS_RETENTION_DAYS are purged by the app's background
  job (brought forward by the test clock).
- The admin endpoints: list by status with pagination, redeliver (same id again), 403 for a
  non-admin, 404 for an unknown id, 422 for an unknown status; the bad settings stop start-up.
"""
from __future__ import annotations

import pytest

from e2e_support import MEMBERSHIP, TRANSACTIONS, buy, error_of, ok, pay
from entrypoints.config import ConfigError, load_config
from events_receiver import event_receiver, new_secret
from live import eventually

EVENTS = "/api/v1/admin/events"
# A paid purchase: the payment, then the balance it changed (the membership merely made for the
# purchase reads as before: no event).
PURCHASE_EVENTS = ["transaction.succeeded", "membership.updated"]
CLOCK = "/api/v1/internal/clock"


async def events_api(make_live_api, receiver):
    return await make_live_api(background_jobs=True, PAYMENTS_EVENTS_URL=receiver.url,
                               PAYMENTS_EVENTS_SECRET=receiver.secret)


async def admin_events(api, **params) -> dict:
    return await ok(await api.get(EVENTS, user="ops", role="admin", params=params))


async def settled(api, status: str, total: int) -> dict:
    """The events in `status` once there are `total` of them (a delivery is settled just after the
    receiver answered it)."""
    return await eventually(lambda: admin_events(api, status=status), lambda page: page["total"] == total,
                            timeout=10, what=f"{total} {status} events")


async def test_a_paid_purchase_is_sent_signed_as_the_apis_own_objects(make_live_api):
    async with event_receiver() as receiver:
        api = await events_api(make_live_api, receiver)
        bought = await buy(api, 10, "mock", user="alice")
        await pay(api, bought["session"])

        await receiver.wait_for(lambda r: r.types_of("alice") == PURCHASE_EVENTS, what="the events of alice")
        transaction = await ok(await api.get(f"{TRANSACTIONS}/{bought['transaction']['id']}", user="alice"))
        membership = await ok(await api.get(MEMBERSHIP, user="alice"))
        succeeded, updated = receiver.events_of("alice")
        assert succeeded["data"] == {"user_id": "alice", "transaction": transaction["transaction"]}
        assert updated["data"] == {"user_id": "alice", **membership}
        assert updated["data"]["receives"]["purchased_remaining"] == 10
        for delivery in receiver.accepted:
            assert delivery.event["id"] == delivery.webhook_id and delivery.webhook_id.startswith("evt_")
            assert delivery.signature.startswith("v1,")
            assert set(delivery.event) == {"id", "type", "timestamp", "data"}
        assert receiver.refused == 0

        listed = await settled(api, "delivered", 2)
        assert [e["type"] for e in listed["items"]] == PURCHASE_EVENTS[::-1]  # newest first
        assert all(e["attempts"] == 1 and e["delivered_at"] and e["last_error"] is None for e in listed["items"])


async def test_a_receiver_that_fails_first_gets_the_same_webhook_id_again(make_live_api):
    async with event_receiver() as receiver:
        receiver.fail = 1
        api = await events_api(make_live_api, receiver)
        bought = await buy(api, 3, "mock", user="bob")
        await pay(api, bought["session"])

        await receiver.wait_for(lambda r: len(r.deliveries) >= 1, what="the first (refused) delivery")
        first = receiver.deliveries[0]
        assert first.answered == 503 and first.event["type"] == "transaction.succeeded"
        pending = await eventually(lambda: admin_events(api, status="pending"),
                                   lambda page: any(e["attempts"] == 1 for e in page["items"]), timeout=10,
                                   what="the refused attempt recorded")
        refused = next(e for e in pending["items"] if e["id"] == first.webhook_id)
        assert refused["attempts"] == 1 and refused["last_error"] == "HTTP 503"
        # The back-off (5 s at most for a first retry) is brought forward by the test clock.
        await ok(await api.post(CLOCK, {"advance_seconds": 10}, user="clock", role="service"))

        await receiver.wait_for(lambda r: r.types_of("bob") == PURCHASE_EVENTS,
                                what="the retry, then the next events of bob")
        again = receiver.accepted[0]
        assert again.webhook_id == first.webhook_id and again.body == first.body
        delivered = await settled(api, "delivered", 2)
        assert next(e for e in delivered["items"] if e["id"] == first.webhook_id)["attempts"] == 2


async def test_redeliver_sends_the_same_event_again(make_live_api):
    async with event_receiver() as receiver:
        api = await events_api(make_live_api, receiver)
        bought = await buy(api, 2, "mock", user="carol")
        await pay(api, bought["session"])
        await receiver.wait_for(lambda r: r.types_of("carol") == PURCHASE_EVENTS)
        event = (await settled(api, "delivered", 2))["items"][1]
        assert event["type"] == "transaction.succeeded"

        redelivered = await ok(await api.post(f"{EVENTS}/{event['id']}/redeliver", user="ops", role="admin"))
        assert redelivered["id"] == event["id"] and redelivered["body"] == event["body"]
        assert redelivered["status"] == "pending"

        await receiver.wait_for(lambda r: len(r.types_of("carol")) == 3, what="the redelivery")
        assert receiver.accepted[-1].webhook_id == event["id"]
        assert receiver.accepted[-1].body.decode() == event["body"]


async def test_admin_event_endpoints_page_and_refuse(make_live_api):
    async with event_receiver() as receiver:
        receiver.fail = 1000  # nothing is delivered: every event stays pending
        api = await events_api(make_live_api, receiver)
        for user in ("d1", "d2", "d3"):
            bought = await buy(api, 1, "mock", user=user)
            await pay(api, bought["session"])
        await settled(api, "pending", 6)

        first = await admin_events(api, status="pending", limit=4)
        assert (first["page"], first["limit"], first["total"], first["has_more"]) == (1, 4, 6, True)
        second = await admin_events(api, status="pending", limit=4, page=2)
        assert len(second["items"]) == 2 and second["has_more"] is False
        assert {e["id"] for e in first["items"]}.isdisjoint(e["id"] for e in second["items"])
        assert (await admin_events(api, status="failed"))["total"] == 0
        assert (await admin_events(api))["total"] == 6

        await error_of(await api.get(EVENTS, user="d1"), 403, "forbidden")
        await error_of(await api.post(f"{EVENTS}/evt_nope/redeliver", user="d1"), 403, "forbidden")
        await error_of(await api.post(f"{EVENTS}/evt_nope/redeliver", user="ops", role="admin"), 404, "not_found")
        await error_of(await api.get(EVENTS, user="ops", role="admin", params={"status": "lost"}), 422,
                       "validation_error")
        await error_of(await api.get(EVENTS, user="ops", role="admin", params={"limit": "0"}), 422,
                       "validation_error")
        await error_of(await api.get(EVENTS, user=None), 401, "unauthorized")


async def test_delivered_events_are_purged_after_the_retention(make_live_api):
    async with event_receiver() as receiver:
        api = await make_live_api(background_jobs=True, PAYMENTS_EVENTS_URL=receiver.url,
                                  PAYMENTS_EVENTS_SECRET=receiver.secret, PAYMENTS_EVENTS_RETENTION_DAYS="2")
        bought = await buy(api, 1, "mock", user="fay")
        await pay(api, bought["session"])
        newest, oldest = (await settled(api, "delivered", 2))["items"]
        assert oldest["type"] == "transaction.succeeded"

        await ok(await api.post(CLOCK, {"advance_seconds": 2 * 86400 + 60}, user="clock", role="service"))
        # the move wakes the purge job: the older event goes, the newest stays (docs/events.md)
        left = await eventually(lambda: admin_events(api), lambda page: oldest["id"] not in
                                {e["id"] for e in page["items"]}, timeout=10, what="the purge")
        assert newest["id"] in {e["id"] for e in left["items"]}


async def test_without_an_events_url_nothing_is_written(make_live_api):
    api = await make_live_api(background_jobs=True)
    bought = await buy(api, 1, "mock", user="erin")
    await pay(api, bought["session"])
    assert (await admin_events(api))["total"] == 0


@pytest.mark.parametrize(("environ", "named"), [
    ({"PAYMENTS_EVENTS_URL": "http://127.0.0.1:9/events"}, "PAYMENTS_EVENTS_SECRET"),
    ({"PAYMENTS_EVENTS_URL": "ftp://example.com/", "PAYMENTS_EVENTS_SECRET": new_secret()}, "PAYMENTS_EVENTS_URL"),
    ({"PAYMENTS_EVENTS_URL": "https://example.com/", "PAYMENTS_EVENTS_SECRET": "whsec_not base64!"},
     "PAYMENTS_EVENTS_SECRET"),
    ({"PAYMENTS_EVENTS_URL": "https://example.com/", "PAYMENTS_EVENTS_SECRET": "whsec_===="}, "PAYMENTS_EVENTS_SECRET"),
    ({"PAYMENTS_ENV": "production", "PAYMENTS_JWT_SECRET": "a-production-jwt-secret-of-32-chars-or-more",
      "PAYMENTS_METHOD_ROUTES": "wechat_pay=wechat_pay", "PAYMENTS_EVENTS_URL": "https://example.com/",
      "PAYMENTS_EVENTS_SECRET": "whsec_c2hvcnQ="}, "PAYMENTS_EVENTS_SECRET"),
])
def test_bad_event_settings_stop_start_up_naming_the_variable(environ, named):
    with pytest.raises(ConfigError, match=named) as refused:
        load_config(environ)
    assert environ.get("PAYMENTS_EVENTS_SECRET", "\0") not in str(refused.value)  # the secret is never echoed


@pytest.mark.parametrize("secret", ["whsec_c2hvcnQ=", "whsec_c2hvcnQ", "c2hvcnQgYnV0IGFjY2VwdGVk"])
def test_outside_production_any_key_a_standard_webhooks_library_takes_is_accepted(secret):
    config = load_config({"PAYMENTS_EVENTS_URL": "http://127.0.0.1:9/events", "PAYMENTS_EVENTS_SECRET": secret})
    assert (config.events_url, config.events_secret) == ("http://127.0.0.1:9/events", secret)
    assert secret not in repr(config)
