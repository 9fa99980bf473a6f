"""Alipay's notifications as the plugin reads them: what each kind becomes, event ids across
re-sends, merchants that are not ours, amounts read exactly or refused, bodies that are authentic
but unreadable, charsets, and the `success` acknowledgement. (The conformance kit checks the
signature and freshness rules; these are the checks it leaves to a plugin whose signature travels
in the body.)"""
from __future__ import annotations

from datetime import timedelta
from urllib.parse import urlencode

import pytest

from alipay_fake_gateway import APP_ID, BUYER_ID, SELLER_ID, rsa2_sign, sign_content, signed_form
from alipay_harness import AlipayHarness
from domain.errors import InvalidSignatureError
from domain.money import CNY, Money
from ports.payment_provider import NotificationOutcome, ProviderEventKind


@pytest.fixture
def h() -> AlipayHarness:
    return AlipayHarness()


def fields_of(h: AlipayHarness, status: str = "TRADE_SUCCESS", order_id: str = "C2026030100001", total: int = 1700,
              **changes: str) -> dict[str, str]:
    return {**h.gateway.notification_fields(order_id, total, status, trade_no="2026030122001400000042"), **changes}


def parsed(h: AlipayHarness, fields: dict[str, str]):
    return h.provider.parse_notification({}, signed_form(fields, h.keys.alipay))


def refused(h: AlipayHarness, body: bytes) -> None:
    with pytest.raises(InvalidSignatureError):
        h.provider.parse_notification({}, body)


async def test_a_payment_notification_is_paid_with_its_amount_payer_and_times(h):
    fields = fields_of(h)

    event = parsed(h, fields)

    assert (event.kind, event.event_id, event.order_id, event.amount) == (
        ProviderEventKind.PAYMENT_SUCCEEDED, fields["notify_id"], "C2026030100001", Money(1700, CNY))
    assert (event.merchant_id, event.payer_id, event.provider_reference) == (APP_ID, BUYER_ID, "2026030122001400000042")
    assert event.occurred_at == h.clock.now() - timedelta(seconds=2)  # gmt_payment, Beijing time
    assert h.provider.merchant_id == APP_ID


@pytest.mark.parametrize(("status", "kind"), [("TRADE_FINISHED", ProviderEventKind.PAYMENT_SUCCEEDED),
                                              ("TRADE_CLOSED", ProviderEventKind.PAYMENT_CLOSED),
                                              ("WAIT_BUYER_PAY", ProviderEventKind.IGNORED),
                                              ("SOMETHING_NEW", ProviderEventKind.IGNORED)])
async def test_each_trade_status(h, status, kind):
    assert parsed(h, fields_of(h, status)).kind is kind


@pytest.mark.parametrize("status", ["TRADE_SUCCESS", "TRADE_CLOSED"])  # a partial refund; a full one closes the trade
async def test_a_notification_with_refund_fields_is_our_refund_succeeding_not_a_payment(h, status):
    fields = fields_of(h, status, out_biz_no="R2026030100007", refund_fee="5.00", gmt_refund="2026-03-01 19:59:30")

    event = parsed(h, fields)

    assert (event.kind, event.order_id, event.refund_order_id, event.event_id) == (
        ProviderEventKind.REFUND_SUCCEEDED, "C2026030100001", "R2026030100007", fields["notify_id"])
    assert event.occurred_at == h.clock.now() - timedelta(seconds=30)


async def test_a_re_send_keeps_its_event_id_and_other_notifications_of_the_order_differ(h):
    payment = fields_of(h)
    later = dict(payment, notify_time="2026-03-01 20:04:00")  # Alipay re-sends with the same notify_id
    refunds = [fields_of(h, out_biz_no=f"R{n}", refund_fee=f"{n}.00") for n in (1, 2)]

    assert parsed(h, payment).event_id == parsed(h, later).event_id == payment["notify_id"]
    assert len({parsed(h, f).event_id for f in [payment, *refunds]}) == 3


async def test_a_notification_for_another_app_names_that_merchant_for_the_core_to_refuse(h):
    payment = parsed(h, fields_of(h, app_id="2021999999999999"))
    refund = parsed(h, fields_of(h, app_id="2021999999999999", out_biz_no="R1", refund_fee="1.00"))

    assert (payment.kind, payment.merchant_id) == (ProviderEventKind.PAYMENT_SUCCEEDED, "2021999999999999")
    assert payment.merchant_id != h.provider.merchant_id  # the core: an anomaly, nothing credited
    assert refund.kind is ProviderEventKind.IGNORED


async def test_with_a_seller_id_configured_the_seller_must_be_ours_too():
    h = AlipayHarness(PAYMENTS_ALIPAY_SELLER_ID=SELLER_ID)

    ours = parsed(h, fields_of(h))
    theirs = parsed(h, fields_of(h, seller_id="2088999999999999"))

    assert h.provider.merchant_id == ours.merchant_id == f"{APP_ID}/{SELLER_ID}"
    assert theirs.merchant_id != h.provider.merchant_id


@pytest.mark.parametrize(("written", "fen"), [("0.01", 1), ("0.29", 29), ("17", 1700), ("17.5", 1750),
                                              ("1234567890.12", 123456789012)])
async def test_amounts_are_read_exactly(h, written, fen):
    assert parsed(h, fields_of(h, total_amount=written)).amount == Money(fen, CNY)


@pytest.mark.parametrize("written", ["17.001", "17.000", "1.7e1", "-17.00", "+17.00", "17,00", " 17.00", "", "NaN",
                                     "０.01", "017.00", ".50"])
async def test_an_amount_written_otherwise_is_refused_never_rounded(h, written):
    refused(h, signed_form(fields_of(h, total_amount=written), h.keys.alipay))


@pytest.mark.parametrize("missing", ["notify_id", "out_trade_no", "notify_time", "total_amount"])
async def test_an_authentic_notification_without_what_it_needs_is_refused(h, missing):
    fields = fields_of(h)
    del fields[missing]

    refused(h, signed_form(fields, h.keys.alipay))


@pytest.mark.parametrize("body", [b"", b"null", b"{}", b"sign=", b"a=1&a=2", b"\xff\xfe", b"%ZZ=1", b"x" * 10000])
async def test_bodies_that_are_no_alipay_notification_are_refused(h, body):
    refused(h, body)


async def test_a_repeated_field_is_refused_even_when_signed(h):
    body = signed_form(fields_of(h), h.keys.alipay)

    refused(h, body + b"&trade_status=TRADE_SUCCESS")


async def test_a_sign_type_other_than_rsa2_is_refused(h):
    fields = {**fields_of(h), "sign_type": "RSA"}
    fields["sign"] = rsa2_sign(h.keys.alipay, sign_content(fields, exclude=("sign", "sign_type")))

    refused(h, urlencode(fields).encode())


async def test_a_notification_in_gbk_is_verified_over_its_decoded_values(h):
    fields = fields_of(h, charset="gbk", subject="收款 10 个")
    fields["sign_type"] = "RSA2"
    fields["sign"] = rsa2_sign(h.keys.alipay, sign_content(fields, exclude=("sign", "sign_type")))

    event = h.provider.parse_notification({}, urlencode(fields, encoding="gbk").encode())

    assert event.kind is ProviderEventKind.PAYMENT_SUCCEEDED


async def test_a_notification_signed_then_stripped_of_sign_type_is_still_alipays(h):
    body = signed_form(fields_of(h), h.keys.alipay).replace(b"&sign_type=RSA2", b"")

    assert parsed_body(h, body).kind is ProviderEventKind.PAYMENT_SUCCEEDED


def parsed_body(h: AlipayHarness, body: bytes):
    return h.provider.parse_notification({}, body)


async def test_the_acknowledgements_are_alipays_plain_text():
    provider = AlipayHarness().provider

    accepted = provider.acknowledge(NotificationOutcome.ACCEPTED)
    rejected = provider.acknowledge(NotificationOutcome.REJECTED)
    retry = provider.acknowledge(NotificationOutcome.RETRY)

    assert (accepted.status, accepted.body, accepted.content_type) == (200, b"success", "text/plain;charset=utf-8")
    assert (rejected.status, rejected.body) == (401, b"fail")  # anything but `success`: Alipay re-sends
    assert (retry.status, retry.body) == (503, b"fail")
