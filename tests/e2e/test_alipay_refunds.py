"""Refunds with admin approval through the Alipay plugin, end to end: `payments serve` with `alipay`
routed to the plugin and the fake Alipay gateway over real HTTP (the module world of
test_alipay_end_to_end.py, each case with its own member). A member buys 10 receives and pays; asks
for 4 back (`POST /api/v1/payments/refunds`); an admin approves; the plugin's `alipay.trade.refund`
reaches the gateway with our refund's `order_id` as `out_request_no` and the exact partial amount
as a yuan string. Alipay settles a refund in its answer (`fund_change` `Y`): the refund reads
`succeeded`, the transaction `partially_refunded`; Alipay's refund notification (`out_biz_no`,
`refund_fee`, `gmt_refund`) is then acknowledged with `success` and changes nothing more. The other
6 → `refunded`, the two refunds adding up to the total. A refund Alipay cannot pay out (the seller's
balance) reads `failed` with Alipay's `sub_code` as its reason; the admin's retry sends the same
`out_request_no`, and the money moves once. One sent while Alipay is
down stays `processing`; its follow-up (brought by the test clock) finds no such refund at Alipay
and sends it again under the same number.
"""
from __future__ import annotations

import json
from urllib.parse import parse_qsl

import pytest
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
from test_alipay_end_to_end import world  # noqa: F401 (the module's service and gateway)

pytestmark = pytest.mark.asyncio(loop_scope="module")


def yuan(fen: int) -> str:
    return f"{fen // 100}.{fen % 100:02d}"


async def paid_purchase(world, user: str) -> dict:  # noqa: F811
    bought = await world.buy(user, 10)
    world.gateway.pay(bought["session"]["order_id"])
    assert [(status, text) for status, _, text in await world.deliver_outbox()] == [(200, "success")]
    assert await purchased(world.service, user=user) == 10
    return bought


def refund_calls(world, order_id: str) -> list[dict]:  # noqa: F811
    calls = [json.loads(c["biz_content"]) for c in world.gateway.calls if c["method"] == "alipay.trade.refund"]
    return [biz for biz in calls if biz["out_trade_no"] == order_id]


async def test_a_partial_refund_and_then_the_rest_are_approved_and_refunded_at_alipay(world):  # noqa: F811
    user = "alipay-refunder"
    bought = await paid_purchase(world, user)
    txn, order_id = bought["transaction"], bought["session"]["order_id"]
    total = txn["total"]
    trade = world.gateway.trades[order_id]

    first = await request_refund(world.service, txn["id"], 4, user=user)
    assert first["amount"] == share_of(total, 4, 10)
    await approve(world.service, first["id"])

    (call,) = refund_calls(world, order_id)
    assert (call["out_request_no"], call["refund_amount"]) == (first["order_id"], yuan(first["amount"]))
    assert trade.refunds == {first["order_id"]: first["amount"]}
    settled = await refund_reads(world.service, first["id"], "succeeded", user=user)
    assert settled["completed_at"] is not None
    after_first = await transaction_of(world.service, txn["id"], user=user)
    assert (after_first["status"], after_first["refunded_amount"]) == ("partially_refunded", first["amount"])
    ((_, notification),) = world.gateway.outbox  # Alipay's refund notification: acknowledged, applied once
    fields = dict(parse_qsl(notification.decode()))
    assert (fields["out_biz_no"], fields["refund_fee"]) == (first["order_id"], yuan(first["amount"]))
    assert [(status, text) for status, _, text in await world.deliver_outbox()] == [(200, "success")]
    status, _, text = await world.notify(notification)  # Alipay sends it again
    assert (status, text) == (200, "success")
    assert (await transaction_of(world.service, txn["id"], user=user))["refunded_amount"] == first["amount"]
    assert (await refund_of(world.service, first["id"], user=user))["status"] == "succeeded"

    rest = await request_refund(world.service, txn["id"], 6, user=user)
    assert rest["amount"] == total - first["amount"]  # the last one takes exactly what is left
    await approve(world.service, rest["id"])
    assert [(c["out_request_no"], c["refund_amount"]) for c in refund_calls(world, order_id)] == [
        (first["order_id"], yuan(first["amount"])), (rest["order_id"], yuan(rest["amount"]))]
    await refund_reads(world.service, rest["id"], "succeeded", user=user)
    assert [(status, text) for status, _, text in await world.deliver_outbox()] == [(200, "success")]

    final = await transaction_of(world.service, txn["id"], user=user)
    assert (final["status"], final["refunded_amount"]) == ("refunded", total)
    assert sum(trade.refunds.values()) == total and trade.status == "TRADE_CLOSED"  # a full refund closes it
    assert await purchased(world.service, user=user) == 0


async def test_a_refund_alipay_refuses_fails_and_the_retry_sends_the_same_out_request_no_once_made(world):  # noqa: F811
    user = "alipay-refused"
    bought = await paid_purchase(world, user)
    txn, order_id = bought["transaction"], bought["session"]["order_id"]
    made = await request_refund(world.service, txn["id"], 4, user=user)

    world.gateway.refund_refusal = ("ACQ.SELLER_BALANCE_NOT_ENOUGH", "卖家余额不足")
    try:
        await approve(world.service, made["id"])
        failed = await refund_reads(world.service, made["id"], "failed", user=user)
    finally:
        world.gateway.refund_refusal = None
    assert failed["failure_reason"] == "ACQ.SELLER_BALANCE_NOT_ENOUGH"  # Alipay's sub_code, as the API shows it
    assert world.gateway.trades[order_id].refunds == {}
    assert (await transaction_of(world.service, txn["id"], user=user))["refunded_amount"] == 0

    retried = await retry(world.service, made["id"])
    assert retried["order_id"] == made["order_id"]
    await refund_reads(world.service, made["id"], "succeeded", user=user)
    calls = refund_calls(world, order_id)
    assert [(c["out_request_no"], c["refund_amount"]) for c in calls] == [(made["order_id"], yuan(made["amount"]))] * 2
    assert world.gateway.trades[order_id].refunds == {made["order_id"]: made["amount"]}
    detail = await transaction_of(world.service, txn["id"], user=user)
    assert (detail["status"], detail["refunded_amount"]) == ("partially_refunded", made["amount"])
    assert [(status, text) for status, _, text in await world.deliver_outbox()] == [(200, "success")]


async def test_a_refund_sent_while_alipay_is_down_is_sent_again_by_its_follow_up(world):  # noqa: F811
    """Last in the module: it moves the service's test clock a minute ahead."""
    user = "alipay-down"
    bought = await paid_purchase(world, user)
    txn, order_id = bought["transaction"], bought["session"]["order_id"]
    made = await request_refund(world.service, txn["id"], 4, user=user)

    world.gateway.failure = 503
    try:
        await approve(world.service, made["id"])  # the outcome is unknown: processing, for its follow-up
        assert (await refund_of(world.service, made["id"], user=user))["status"] == "processing"
    finally:
        world.gateway.failure = None

    await advance_clock(world.service, 60)  # the follow-up is due a minute after the refund was sent
    await refund_reads(world.service, made["id"], "succeeded", user=user)
    methods = [c["method"] for c in world.gateway.calls if "refund" in c["method"] and order_id in c["biz_content"]]
    assert methods == ["alipay.trade.fastpay.refund.query", "alipay.trade.refund"]  # asked, then sent once
    assert world.gateway.trades[order_id].refunds == {made["order_id"]: made["amount"]}
    assert (await transaction_of(world.service, txn["id"], user=user))["refunded_amount"] == made["amount"]
    assert [(status, text) for status, _, text in await world.deliver_outbox()] == [(200, "success")]
