"""Refunds with admin approval through the mock's asynchronous refunds, end to end: a real `payments
serve` (SQLite, the mock's remote in a file) with PAYMENTS_MOCK_REFUND_DELAY_SECONDS=1 and the drill
PAYMENTS_MOCK_FAULTS=refund_outcome=failed:1. A member buys 10 receives and pays on the mock's
checkout page; asks for all of them back; an admin approves: the refund reads `processing` (the
mock answered pending) until, a second later, the mock's signed `refund.failed` notification makes
it `failed` with the mock's reason, `insufficient_merchant_balance`, the money never moved.

The drill's `:1` is a rate (every refund fails), not a count, and a running process keeps its
drills; it is lifted the way an operator would: the service is restarted without it, on the same
database and mock file. The admin's retry (`POST /api/v1/admin/refunds/{id}/retry`) then sends the
same order id again; a second later the mock's `refund.succeeded` settles it, and the transaction
reads `refunded`.
"""
from __future__ import annotations

import aiohttp
from live import eventually, pay_through_page, serve_process
from provider_refunds_support import approve, purchased, refund_of, refund_reads, request_refund, retry, transaction_of

SETTLE_SECONDS = "1"
RECEIVES = "/api/v1/payments/receives"


async def test_a_refund_the_drill_fails_later_reads_failed_with_its_reason_and_succeeds_when_retried(tmp_path):
    async with aiohttp.ClientSession() as http:
        async with serve_process(http, tmp_path, name="with-drill", PAYMENTS_MOCK_REFUND_DELAY_SECONDS=SETTLE_SECONDS,
                                 PAYMENTS_MOCK_FAULTS="refund_outcome=failed:1") as service:
            bought = await service.post(RECEIVES, {"amount": 10, "payment_method": "mock"}, expect=201)
            await pay_through_page(http, bought["session"]["payment_url"])
            await eventually(lambda: purchased(service), lambda n: n == 10, what="the payment to be credited")
            txn = bought["transaction"]

            made = await request_refund(service, txn["id"], 10)
            await approve(service, made["id"])
            assert (await refund_of(service, made["id"]))["status"] == "processing"  # the mock settles it later

            failed = await refund_reads(service, made["id"], "failed")
            assert failed["failure_reason"] == "insufficient_merchant_balance"
            detail = await transaction_of(service, txn["id"])
            assert (detail["status"], detail["refunded_amount"]) == ("succeeded", 0)
            assert await purchased(service) == 0  # held since the request, never given back after approval

        async with serve_process(http, tmp_path, name="drill-lifted",
                                 PAYMENTS_MOCK_REFUND_DELAY_SECONDS=SETTLE_SECONDS) as service:
            retried = await retry(service, made["id"])
            assert (retried["order_id"], retried["failure_reason"]) == (made["order_id"], None)

            settled = await refund_reads(service, made["id"], "succeeded")
            assert (settled["failure_reason"], settled["amount"]) == (None, txn["total"])
            detail = await transaction_of(service, txn["id"])
            assert (detail["status"], detail["refunded_amount"]) == ("refunded", txn["total"])
