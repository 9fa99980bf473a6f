"""The Stripe plugin end to end: a `payments serve` process (SQLite) with `credit_card`,
`wechat_pay` and `alipay` routed to `stripe` and `PAYMENTS_STRIPE_API_BASE` pointed at the fake
Stripe (tests/integration/plugins/stripe/stripe_fake.py) served on a local port. The fake plays
Stripe's servers and its Dashboard's webhook endpoint: the payer pays there, and Stripe's signed
event is POSTed to the service's webhook. Secrets are made at test time; no network.

Covered: a card purchase credited by `checkout.session.completed` (once, however often it is
re-delivered); webhook secrets during a rotation; a tampered event refused 401 with nothing changed;
a lost event recovered by the reconciler; a cancelled purchase's session expired at Stripe; an
automatic refund of a duplicate payment; the methods' flows (a flow Stripe lacks refused 422); a bad setting
stopping start-up in one line. Saved cards and off-session charges: test_stripe_saved_cards.py.
"""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import aiohttp
import pytest

from clock_support import advance_clock
from live import PAYMENTS_BIN, eventually, serve_process

sys.path.insert(0, str(Path(__file__).parents[1] / "integration" / "plugins" / "stripe"))
from stripe_fake import FakeStripe, new_secret_key, new_webhook_secret  # noqa: E402

RECEIVES = "/api/v1/payments/receives"
SESSIONS = "/api/v1/payments/sessions"
CANCEL = "/api/v1/payments/cancel"
MEMBERSHIP = "/api/v1/payments/membership"
WEBHOOK = "/api/v1/payments/webhooks/stripe"
ROUTES = "credit_card=stripe,wechat_pay=stripe,alipay=stripe"


class StripeWorld:
    """The service process, the fake Stripe it calls, and an HTTP client."""

    def __init__(self, service, stripe: FakeStripe, http: aiohttp.ClientSession, workdir: Path,
                 rotation: tuple[str, str]) -> None:
        self.service, self.stripe, self.http, self.workdir = service, stripe, http, workdir
        self.rotation = rotation  # (old, new) webhook secrets, both configured

    async def buy(self, receives: int = 10, method: str = "credit_card") -> dict:
        return await self.service.post(RECEIVES, {"amount": receives, "payment_method": method}, expect=201)

    async def purchased(self) -> int:
        return (await self.service.get(MEMBERSHIP))["receives"]["purchased_remaining"]

    async def session(self, session_id: str) -> dict:
        return await self.service.get(f"{SESSIONS}/{session_id}")

    async def post_event(self, headers: dict, body: bytes) -> tuple[int, dict]:
        async with self.http.post(self.service.url(WEBHOOK), data=body, headers=headers) as response:
            return response.status, await response.json()


@pytest.fixture
async def world(tmp_path):
    """Secrets of this run: the API key, and two webhook secrets (the endpoint mid-rotation: the
    service holds the new and the old one; Stripe signs with the new one)."""
    old_secret, new_secret = new_webhook_secret(), new_webhook_secret()
    stripe = FakeStripe(secret_key=new_secret_key(), webhook_secrets=[new_secret])
    base_url, runner = await stripe.serve()
    try:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as http:
            async with serve_process(http, tmp_path, "stripe-server", PAYMENTS_METHOD_ROUTES=ROUTES,
                                     PAYMENTS_STRIPE_SECRET_KEY=stripe.secret_key,
                                     PAYMENTS_STRIPE_WEBHOOK_SECRETS=f"{new_secret},{old_secret}",
                                     PAYMENTS_STRIPE_API_BASE=base_url) as service:
                stripe.webhook_url = service.url(WEBHOOK)
                yield StripeWorld(service, stripe, http, tmp_path, (old_secret, new_secret))
    finally:
        await runner.cleanup()


async def test_a_card_purchase_is_credited_by_checkout_session_completed_once(world):
    bought = await world.buy(10)
    session = bought["session"]
    at_stripe = world.stripe.session_of(session["order_id"])
    assert (session["provider"], session["payment_url"]) == ("stripe", at_stripe["url"])
    assert (at_stripe["amount_total"], at_stripe["currency"], at_stripe["payment_method_types"]) == \
        (session["amount"], "cny", ["card"])
    assert at_stripe["metadata"] == {"order_id": session["order_id"], "session_id": session["id"]}

    event = world.stripe.pay(session["order_id"])
    assert await world.stripe.deliver(event) == 200

    assert await world.purchased() == 10
    assert (await world.session(session["id"]))["status"] == "completed"
    assert await world.stripe.deliver(event) == 200  # Stripe re-sends: acknowledged, applied once
    assert await world.purchased() == 10


async def test_events_signed_with_either_secret_of_a_rotation_are_accepted_and_another_is_refused(world):
    old_secret, new_secret = world.rotation
    sessions = [(await world.buy(n))["session"] for n in (1, 2, 3)]
    events = [world.stripe.pay(s["order_id"]) for s in sessions]

    for event, secrets_ in zip(events, ([old_secret], [new_secret], [new_secret, old_secret])):
        assert await world.stripe.deliver(event, secrets_=secrets_) == 200
    assert await world.purchased() == 6

    later = (await world.buy(4))["session"]
    status, body = await world.post_event(*world.stripe.signed(world.stripe.pay(later["order_id"]),
                                                               secrets_=[new_webhook_secret()]))
    assert (status, body["error"]["code"]) == (401, "unauthorized")
    assert await world.purchased() == 6


async def test_a_tampered_event_is_refused_401_in_our_error_shape_and_changes_nothing(world):
    bought = await world.buy(10)
    session = bought["session"]
    headers, body = world.stripe.signed(world.stripe.pay(session["order_id"]))
    cheaper = body.replace(f'"amount_total":{session["amount"]}'.encode(), b'"amount_total":1')
    assert cheaper != body

    status, answer = await world.post_event(headers, cheaper)

    assert status == 401
    assert answer == {"error": {"code": "unauthorized", "message": answer["error"]["message"], "details": {}}}
    assert await world.purchased() == 0
    assert (await world.session(session["id"]))["status"] == "open"
    status, _ = await world.post_event(headers, body)  # the untouched event still credits
    assert status == 200 and await world.purchased() == 10


async def test_a_lost_event_is_recovered_by_the_reconciler_asking_stripe(world):
    session = (await world.buy(10))["session"]
    world.stripe.pay(session["order_id"])  # paid at Stripe; the event never arrives
    asked = len(world.stripe.requests)
    # The reconciler's first check is due a minute after the session opened: the test clock brings
    # that minute now (and wakes the job)
    await advance_clock(world.service, 60)

    await eventually(world.purchased, lambda n: n == 10, timeout=30, what="the reconciler to credit the payment")

    assert (await world.session(session["id"]))["status"] == "completed"
    session_path = f"/v1/checkout/sessions/{world.stripe.session_of(session['order_id'])['id']}"
    retrieved = [r for r in world.stripe.requests[asked:] if r.method == "GET" and r.url.path == session_path]
    assert retrieved, "the reconciler asked Stripe for the session"


async def test_cancelling_a_purchase_expires_its_checkout_session(world):
    bought = await world.buy(10)
    order_id = bought["session"]["order_id"]

    await world.service.post(CANCEL, {"transaction_id": bought["transaction"]["id"]})

    assert world.stripe.session_of(order_id)["status"] == "expired"
    (expire,) = [r for r in world.stripe.requests if r.url.path.endswith("/expire")]
    assert expire.headers["Idempotency-Key"] == f"expire-{order_id}"
    assert (await world.session(bought["session"]["id"]))["status"] == "cancelled"
    status, _ = await world.post_event(*world.stripe.signed(world.stripe.events[-1]))  # checkout.session.expired
    assert status == 200 and await world.purchased() == 0


async def test_a_duplicate_payment_is_refunded_at_stripe_automatically(world):
    bought = await world.buy(10)
    first = bought["session"]
    in_flight = world.stripe.pay(first["order_id"])  # paid; its event is not through yet
    second = await world.service.post(SESSIONS, {"transaction_id": bought["transaction"]["id"],
                                                 "payment_method": "alipay"}, expect=201)
    assert world.stripe.session_of(first["order_id"])["status"] == "complete"  # paid: Stripe would not expire it
    assert await world.stripe.deliver(world.stripe.pay(second["order_id"])) == 200
    assert await world.purchased() == 10

    assert await world.stripe.deliver(in_flight) == 200  # the first payment's event arrives late

    await eventually(lambda: world.session(first["id"]), lambda s: s["status"] == "refunded",
                     what="the late session to read refunded")

    async def refunds_at_stripe() -> list[dict]:
        return list(world.stripe.refunds.values())
    (refund,) = await eventually(refunds_at_stripe, lambda made: len(made) == 1,
                                 what=f"one refund at Stripe (server log: {world.workdir / 'stripe-server.log'})")
    first_intent = world.stripe.session_of(first["order_id"])["payment_intent"]
    assert (refund["payment_intent"], refund["amount"], refund["status"], refund["reason"]) == \
        (first_intent, first["amount"], "succeeded", "duplicate")
    assert refund["metadata"]["order_id"] == first["order_id"]
    assert await world.purchased() == 10


def test_a_missing_secret_key_stops_start_up_in_one_line_naming_it(tmp_path):
    env = {**os.environ, "PAYMENTS_METHOD_ROUTES": ROUTES, "PAYMENTS_DATABASE_URL": f"sqlite:///{tmp_path}/p.db",
           "PAYMENTS_STRIPE_WEBHOOK_SECRETS": new_webhook_secret()}
    env.pop("PAYMENTS_STRIPE_SECRET_KEY", None)

    done = subprocess.run([str(PAYMENTS_BIN), "serve", "--port", "0"], env=env, cwd=tmp_path, capture_output=True,
                          text=True, timeout=60)

    assert done.returncode != 0
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "PAYMENTS_STRIPE_SECRET_KEY is not set" in lines[0], done.stderr


async def test_methods_list_stripes_redirect_flows_and_a_flow_it_lacks_is_refused_422(world):
    listed = {m["id"]: m for m in (await world.service.get("/api/v1/payments/methods"))["methods"]}
    for method in ("credit_card", "wechat_pay", "alipay"):
        assert (listed[method]["available"], listed[method]["flows"], listed[method]["currencies"]) == \
            (True, ["redirect", "mobile_redirect"], ["CNY"]), listed[method]

    phone = await world.service.post(RECEIVES, {"amount": 5, "payment_method": "alipay", "flow": "mobile_redirect"},
                                     expect=201)
    at_stripe = world.stripe.session_of(phone["session"]["order_id"])
    assert (phone["session"]["payment_url"], at_stripe["payment_method_types"]) == (at_stripe["url"], ["alipay"])

    refused = await world.service.post(RECEIVES, {"amount": 5, "payment_method": "wechat_pay", "flow": "qr_code"},
                                       expect=422)
    assert refused["error"]["code"] == "validation_error" and "flow" in refused["error"]["details"]
    assert len(world.stripe.sessions) == 1  # nothing was opened for it
