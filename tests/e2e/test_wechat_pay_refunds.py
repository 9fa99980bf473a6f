"""Refunds with admin approval through the WeChat Pay plugin, end to end: `payments serve` with
`wechat_pay` routed to the plugin and the fake WeChat Pay over real HTTP (the world of
test_wechat_pay_end_to_end.py). A member buys 10 receives and pays; asks for 4 back
(`POST /api/v1/payments/refunds`); an admin approves; the plugin's POST /v3/refund/domestic/refunds
reaches the fake with our refund's `order_id` as `out_refund_no` and the exact partial amount in
fen; WeChat's encrypted `REFUND.SUCCESS` notification settles it (`succeeded`, the transaction
`partially_refunded`); then the other 6 → `refunded`, the two refunds adding up to the total.
A refund WeChat refuses reads `failed` and the admin's retry sends the same `out_refund_no`, made
once at WeChat; one WeChat closes (`REFUND.CLOSED`) reads `failed` with the reason `closed`, and its
retry asks WeChat about the same `out_refund_no` again, which answers that refund (closed, the same
reason): nothing refunded twice.
One sent while WeChat is down stays `processing`; its follow-up (brought by the test clock) finds
WeChat never got it and sends it again under the same number.
"""
from __future__ import annotations

from clock_support import advance_clock
from live import eventually
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
from test_wechat_pay_end_to_end import WEBHOOK, wechat_world

REFUNDS_PATH = "/v3/refund/domestic/refunds"


async def paid_purchase(world, receives: int = 10) -> dict:
    bought = await world.buy(receives)
    assert await world.deliver(*world.fake.pay(bought["session"]["order_id"])) == (204, b"")
    return bought


def refund_requests(world) -> list[dict]:
    return [q.json() for q in world.fake.requests if q.method == "POST" and q.path == REFUNDS_PATH]


async def test_a_partial_refund_and_then_the_rest_are_approved_sent_and_settled_by_refund_success(tmp_path):
    async with wechat_world(tmp_path) as world:
        bought = await paid_purchase(world)
        txn, order_id = bought["transaction"], bought["session"]["order_id"]
        total = txn["total"]

        first = await request_refund(world.service, txn["id"], 4)
        assert first["amount"] == share_of(total, 4, 10)
        assert await purchased(world.service) == 6  # held while the request waits
        await approve(world.service, first["id"])

        assert refund_requests(world) == [{
            "out_trade_no": order_id, "out_refund_no": first["order_id"],
            "reason": refund_requests(world)[0]["reason"], "notify_url": world.service.url(WEBHOOK),
            "amount": {"refund": first["amount"], "total": total, "currency": "CNY"}}]
        assert world.fake.refunds[first["order_id"]].status == "PROCESSING"
        assert (await refund_of(world.service, first["id"]))["status"] == "processing"  # until WeChat tells

        notification = world.fake.settle_refund(first["order_id"])
        assert await world.deliver(*notification) == (204, b"")
        settled = await refund_reads(world.service, first["id"], "succeeded")
        assert settled["completed_at"] is not None and settled["failure_reason"] is None
        after_first = await transaction_of(world.service, txn["id"])
        assert (after_first["status"], after_first["refunded_amount"]) == ("partially_refunded", first["amount"])
        assert await world.deliver(world.fake.sign(notification[1]), notification[1]) == (204, b"")  # re-sent: once
        assert (await transaction_of(world.service, txn["id"]))["refunded_amount"] == first["amount"]

        rest = await request_refund(world.service, txn["id"], 6)
        assert rest["amount"] == total - first["amount"]  # the last one takes exactly what is left
        await approve(world.service, rest["id"])
        assert refund_requests(world)[1]["out_refund_no"] == rest["order_id"]
        assert refund_requests(world)[1]["amount"] == {"refund": rest["amount"], "total": total, "currency": "CNY"}
        assert await world.deliver(*world.fake.settle_refund(rest["order_id"])) == (204, b"")
        await refund_reads(world.service, rest["id"], "succeeded")

        final = await transaction_of(world.service, txn["id"])
        assert (final["status"], final["refunded_amount"]) == ("refunded", total)
        at_wechat = [r for r in world.fake.refunds.values() if r.out_trade_no == order_id]
        assert sorted(r.refund for r in at_wechat) == sorted([first["amount"], rest["amount"]])
        assert sum(r.refund for r in at_wechat) == total and all(r.status == "SUCCESS" for r in at_wechat)
        assert await purchased(world.service) == 0


async def test_a_refund_wechat_refuses_fails_and_the_retry_sends_the_same_out_refund_no_once_made(tmp_path):
    async with wechat_world(tmp_path) as world:
        bought = await paid_purchase(world)
        txn = bought["transaction"]
        made = await request_refund(world.service, txn["id"], 4)

        world.fake.refund_refusal = (403, "NOT_ENOUGH", "基本账户余额不足，请充值后重新发起")
        await approve(world.service, made["id"])
        failed = await refund_reads(world.service, made["id"], "failed")
        assert failed["failure_reason"] == "refused_by_provider"
        assert world.fake.refunds == {}
        assert (await transaction_of(world.service, txn["id"]))["refunded_amount"] == 0

        world.fake.refund_refusal = None
        retried = await retry(world.service, made["id"])
        assert retried["order_id"] == made["order_id"]
        assert [r["out_refund_no"] for r in refund_requests(world)] == [made["order_id"]] * 2
        assert list(world.fake.refunds) == [made["order_id"]]
        assert world.fake.refunds[made["order_id"]].refund == made["amount"]
        assert await world.deliver(*world.fake.settle_refund(made["order_id"])) == (204, b"")
        await refund_reads(world.service, made["id"], "succeeded")
        detail = await transaction_of(world.service, txn["id"])
        assert (detail["status"], detail["refunded_amount"]) == ("partially_refunded", made["amount"])


async def test_a_refund_wechat_closes_fails_and_its_retry_never_refunds_twice(tmp_path):
    async with wechat_world(tmp_path) as world:
        bought = await paid_purchase(world)
        txn = bought["transaction"]
        made = await request_refund(world.service, txn["id"], 4)
        await approve(world.service, made["id"])

        assert await world.deliver(*world.fake.settle_refund(made["order_id"], "CLOSED")) == (204, b"")
        failed = await refund_reads(world.service, made["id"], "failed")
        assert failed["failure_reason"] == "closed"  # WeChat's refund status, as the API shows it
        assert (await transaction_of(world.service, txn["id"]))["refunded_amount"] == 0

        await retry(world.service, made["id"])  # WeChat answers the same refund number with that refund: closed
        assert (await refund_reads(world.service, made["id"], "failed"))["failure_reason"] == "closed"
        assert [r["out_refund_no"] for r in refund_requests(world)] == [made["order_id"]] * 2
        assert list(world.fake.refunds) == [made["order_id"]] and world.fake.refunds[made["order_id"]].status == \
            "CLOSED"
        detail = await transaction_of(world.service, txn["id"])
        assert (detail["status"], detail["refunded_amount"]) == ("succeeded", 0)


async def test_a_refund_sent_while_wechat_is_down_is_sent_again_by_the_follow_up_under_the_same_number(tmp_path):
    async with wechat_world(tmp_path) as world:
        bought = await paid_purchase(world)
        txn = bought["transaction"]
        made = await request_refund(world.service, txn["id"], 4)

        world.fake.fail_with(503)  # the outcome is unknown: the refund stays processing for its follow-up
        await approve(world.service, made["id"])
        assert (await refund_of(world.service, made["id"]))["status"] == "processing"
        world.fake.fail_with(None)

        # The follow-up is due a minute after the refund was sent: the test clock brings it now.
        await advance_clock(world.service, 60)
        await eventually(lambda: _async(world.fake.refunds), lambda refunds: made["order_id"] in refunds,
                         what="the follow-up to send the refund again")
        asked = [q for q in world.fake.requests if q.method == "GET" and q.path == f"{REFUNDS_PATH}/{made['order_id']}"]
        assert asked  # asked WeChat first (404: never received), then sent it under the same number
        assert [r["out_refund_no"] for r in refund_requests(world)] == [made["order_id"]]
        assert await world.deliver(*world.fake.settle_refund(made["order_id"])) == (204, b"")
        await refund_reads(world.service, made["id"], "succeeded")
        assert (await transaction_of(world.service, txn["id"]))["refunded_amount"] == made["amount"]


async def _async(value):
    return value
