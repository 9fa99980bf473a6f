"""Refunds with admin approval through the Stripe plugin, end to end: `payments serve` with
`credit_card` routed to the plugin and the fake Stripe over real HTTP (the world of
test_stripe_end_to_end.py). A member buys 10 receives and pays by card; asks for 4 back
(`POST /api/v1/payments/refunds`); an admin approves; the plugin's POST /v1/refunds reaches the
fake with our refund's `order_id` as its `Idempotency-Key` and `metadata[refund_order_id]` and the
exact partial amount in fen. The fake makes refunds `pending` (as slow methods do), so Stripe's
signed `refund.updated` (`succeeded`) settles it: `succeeded`, the transaction `partially_refunded`
(`refund.created` and `charge.refunded` are acknowledged and change nothing); then the other 6 →
`refunded`, the two refunds adding up to the total. A refund Stripe refuses (`balance_insufficient`)
reads `failed` and the admin's retry sends the same key, made once at Stripe; one Stripe fails
later (`refund.updated` `failed`) reads `failed`, and its retry finds that refund at Stripe by our
order id instead of making another. One Stripe made whose answer was lost stays `processing`; its
follow-up (brought by the test clock) finds it at Stripe by our order id: made once.
"""
from __future__ import annotations

from urllib.parse import parse_qsl

from clock_support import advance_clock
from provider_refunds_support import (
    approve,
    purchased,
    refund_of,
    refund_reads,
    request_refund,
    retry,
    share_of,
    transaction_of,
)
from test_stripe_end_to_end import world  # noqa: F401 (the service process and its fake Stripe)


async def paid_purchase(world) -> dict:  # noqa: F811
    bought = await world.buy(10)
    assert await world.stripe.deliver(world.stripe.pay(bought["session"]["order_id"])) == 200
    assert await world.purchased() == 10
    return bought


def refund_posts(world) -> list[tuple[str | None, dict[str, str]]]:  # noqa: F811
    """Every POST /v1/refunds the fake saw: (Idempotency-Key, form)."""
    return [(q.headers.get("Idempotency-Key"), dict(parse_qsl(q.content.decode())))
            for q in world.stripe.requests if q.method == "POST" and q.url.path == "/v1/refunds"]


def stripe_refund(world, order_id: str) -> dict:  # noqa: F811
    (found,) = [r for r in world.stripe.refunds.values() if r["metadata"].get("refund_order_id") == order_id]
    return found


async def test_a_partial_refund_and_then_the_rest_are_approved_sent_and_settled_by_refund_updated(world):  # noqa: F811
    world.stripe.refund_status = "pending"
    bought = await paid_purchase(world)
    txn, order_id = bought["transaction"], bought["session"]["order_id"]
    total = txn["total"]

    first = await request_refund(world.service, txn["id"], 4)
    assert first["amount"] == share_of(total, 4, 10)
    await approve(world.service, first["id"])

    ((key, form),) = refund_posts(world)
    assert key == first["order_id"]
    assert (form["amount"], form["metadata[refund_order_id]"], form["metadata[order_id]"]) == (
        str(first["amount"]), first["order_id"], order_id)
    at_stripe = stripe_refund(world, first["order_id"])
    assert (at_stripe["amount"], at_stripe["status"]) == (first["amount"], "pending")
    assert (await refund_of(world.service, first["id"]))["status"] == "processing"  # until Stripe tells
    for event in [e for e in world.stripe.events if e["type"] in ("refund.created", "charge.refunded")]:
        assert await world.stripe.deliver(event) == 200  # pending, or not naming the refund: nothing yet
    assert (await refund_of(world.service, first["id"]))["status"] == "processing"

    updated = world.stripe.settle_refund(at_stripe["id"], "succeeded")
    assert await world.stripe.deliver(updated) == 200
    await refund_reads(world.service, first["id"], "succeeded")
    after_first = await transaction_of(world.service, txn["id"])
    assert (after_first["status"], after_first["refunded_amount"]) == ("partially_refunded", first["amount"])
    assert await world.stripe.deliver(updated) == 200  # re-sent: applied once
    assert (await transaction_of(world.service, txn["id"]))["refunded_amount"] == first["amount"]

    rest = await request_refund(world.service, txn["id"], 6)
    assert rest["amount"] == total - first["amount"]  # the last one takes exactly what is left
    await approve(world.service, rest["id"])
    assert [(k, f["amount"]) for k, f in refund_posts(world)] == [(first["order_id"], str(first["amount"])),
                                                                  (rest["order_id"], str(rest["amount"]))]
    assert await world.stripe.deliver(world.stripe.settle_refund(stripe_refund(world, rest["order_id"])["id"],
                                                                 "succeeded")) == 200
    await refund_reads(world.service, rest["id"], "succeeded")

    final = await transaction_of(world.service, txn["id"])
    assert (final["status"], final["refunded_amount"]) == ("refunded", total)
    charge = next(iter(world.stripe.charges.values()))
    assert (charge["amount_refunded"], charge["refunded"]) == (total, True)
    assert await purchased(world.service) == 0


async def test_a_refund_stripe_refuses_fails_and_the_retry_sends_the_same_key_once_made(world):  # noqa: F811
    bought = await paid_purchase(world)
    txn = bought["transaction"]
    made = await request_refund(world.service, txn["id"], 4)

    world.stripe.refund_refusal = ("balance_insufficient",
                                   "You have insufficient funds in your Stripe account for this refund.")
    await approve(world.service, made["id"])
    failed = await refund_reads(world.service, made["id"], "failed")
    assert failed["failure_reason"] == "refused_by_provider"
    assert world.stripe.refunds == {}

    world.stripe.refund_refusal = None
    retried = await retry(world.service, made["id"])
    assert retried["order_id"] == made["order_id"]
    await refund_reads(world.service, made["id"], "succeeded")  # the fake's refunds succeed at once
    assert [(k, f["amount"]) for k, f in refund_posts(world)] == [(made["order_id"], str(made["amount"]))] * 2
    assert len(world.stripe.refunds) == 1 and stripe_refund(world, made["order_id"])["amount"] == made["amount"]
    detail = await transaction_of(world.service, txn["id"])
    assert (detail["status"], detail["refunded_amount"]) == ("partially_refunded", made["amount"])


async def test_a_refund_stripe_fails_later_reads_failed_and_its_retry_never_refunds_twice(world):  # noqa: F811
    world.stripe.refund_status = "pending"
    bought = await paid_purchase(world)
    txn = bought["transaction"]
    made = await request_refund(world.service, txn["id"], 4)
    await approve(world.service, made["id"])
    at_stripe = stripe_refund(world, made["order_id"])

    assert await world.stripe.deliver(world.stripe.settle_refund(at_stripe["id"], "failed")) == 200
    failed = await refund_reads(world.service, made["id"], "failed")
    assert failed["failure_reason"] == "lost_or_stolen_card"  # Stripe's failure_reason, as the API shows it
    assert (await transaction_of(world.service, txn["id"]))["refunded_amount"] == 0

    await retry(world.service, made["id"])  # the plugin finds our refund at Stripe (failed) by its order id
    assert (await refund_reads(world.service, made["id"], "failed"))["failure_reason"] == "lost_or_stolen_card"
    assert len(refund_posts(world)) == 1 and list(world.stripe.refunds) == [at_stripe["id"]]
    detail = await transaction_of(world.service, txn["id"])
    assert (detail["status"], detail["refunded_amount"]) == ("succeeded", 0)


async def test_a_refund_whose_answer_is_lost_is_found_at_stripe_by_the_follow_up_never_made_twice(world):  # noqa: F811
    bought = await paid_purchase(world)
    txn = bought["transaction"]
    made = await request_refund(world.service, txn["id"], 4)

    world.stripe.lose_answer_to = "/v1/refunds"  # Stripe makes it; the answer is a 503
    await approve(world.service, made["id"])
    assert (await refund_of(world.service, made["id"]))["status"] == "processing"  # the outcome is unknown
    assert stripe_refund(world, made["order_id"])["amount"] == made["amount"]

    await advance_clock(world.service, 60)  # the follow-up is due a minute after the refund was sent
    await refund_reads(world.service, made["id"], "succeeded")
    assert [k for k, _ in refund_posts(world)] == [made["order_id"]] and len(world.stripe.refunds) == 1
    detail = await transaction_of(world.service, txn["id"])
    assert (detail["status"], detail["refunded_amount"]) == ("partially_refunded", made["amount"])
