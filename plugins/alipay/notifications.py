"""Alipay's asynchronous notifications (`notify_url`): verified, then translated.

Alipay POSTs `application/x-www-form-urlencoded` fields (in the charset its `charset` field names).
Verification, as Alipay's own SDKs do it: drop `sign` and `sign_type`, sort the rest, join `k=v`
with `&` over the URL-decoded values and check the RSA2 signature with Alipay's public key. (Empty
values are left out, as Alipay's Java SDK does; python-alipay-sdk keeps them as `k=`, so a
signature over that reading is accepted too.) Then freshness: `notify_time`, which the signature
covers, at most 300 s from now either way. Anything unverifiable or unreadable raises
`InvalidSignatureError` and nothing else.

Translation. The event id is `notify_id` (unchanged across Alipay's re-sends). A notification
with refund fields (`out_biz_no`, `gmt_refund`, a non-zero `refund_fee`) is a refund that
succeeded, our refund number being `out_biz_no`; otherwise `trade_status` decides:
`TRADE_SUCCESS`/`TRADE_FINISHED` paid, `TRADE_CLOSED` closed unpaid, anything else ignored.
Alipay's notifications name no currency: `total_amount` is yuan, read exactly as CNY fen. The
merchant is `app_id` (with `seller_id` when one is configured: `app_id/seller_id`), which the core
matches against ours for payments; a refund notification for another merchant is ignored.
`buyer_id` is the payer's id.
"""
from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import TYPE_CHECKING
from urllib.parse import parse_qsl

import attrs

from domain.errors import InvalidSignatureError
from plugins.alipay import signing
from plugins.alipay.wire import WireFormatError, fen, parse_beijing_time
from ports.payment_provider import FRESHNESS_SECONDS, ProviderEvent, ProviderEventKind

MAX_FIELDS = 200
_CHARSETS = {"utf-8": "utf-8", "utf8": "utf-8", "gbk": "gbk", "gb2312": "gbk", "gb18030": "gb18030"}
_PAID = frozenset({"TRADE_SUCCESS", "TRADE_FINISHED"})
_CLOSED = "TRADE_CLOSED"

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey


@attrs.frozen
class Recipient:
    """Who notifications must be for: our app (and seller, when configured)."""

    app_id: str
    seller_id: str | None = None

    @property
    def merchant_id(self) -> str:
        return self.app_id if self.seller_id is None else f"{self.app_id}/{self.seller_id}"

    def merchant_of(self, fields: Mapping[str, str]) -> str:
        """The merchant a notification is for, in the same terms as `merchant_id`."""
        app_id = fields.get("app_id", "")
        return app_id if self.seller_id is None else f"{app_id}/{fields.get('seller_id', '')}"


def parse(body: bytes, *, alipay_public_key: RSAPublicKey, recipient: Recipient, now: datetime) -> ProviderEvent:
    """Verify the raw form `body` and translate it (see the module docstring)."""
    fields = read_form(body)
    verify(fields, alipay_public_key, now)
    return translate(fields, recipient)


def read_form(body: bytes) -> dict[str, str]:
    """The URL-decoded fields of a form body, in the charset its `charset` field names (UTF-8 by
    default). Refuses a body that is not a form, repeats a field or cannot be decoded."""
    try:
        text = body.decode("ascii")
        latin = parse_qsl(text, keep_blank_values=True, strict_parsing=True, encoding="latin-1",
                          max_num_fields=MAX_FIELDS)
        charset = _CHARSETS.get(dict(latin).get("charset", "utf-8").strip().lower())
        if charset is None:
            raise InvalidSignatureError("Alipay notification in an unknown charset")
        pairs = parse_qsl(text, keep_blank_values=True, strict_parsing=True, encoding=charset, errors="strict",
                          max_num_fields=MAX_FIELDS)
    except ValueError:  # UnicodeDecodeError too
        raise InvalidSignatureError("not an Alipay notification (no readable form body)") from None
    fields = dict(pairs)
    if len(fields) != len(pairs):
        raise InvalidSignatureError("an Alipay notification repeats a field")
    return fields


def verify(fields: Mapping[str, str], alipay_public_key: RSAPublicKey, now: datetime) -> None:
    """Raises `InvalidSignatureError` unless Alipay signed `fields` and `notify_time` is fresh."""
    signature = fields.get("sign", "")
    if not signature:
        raise InvalidSignatureError("Alipay notification without sign")
    if fields.get("sign_type", signing.SIGN_TYPE) != signing.SIGN_TYPE:
        raise InvalidSignatureError("Alipay notification signed with another sign_type than RSA2")
    excluded = ("sign", "sign_type")
    if not signing.verify(alipay_public_key, signing.sign_content(fields, excluded), signature) and not (
            any(value == "" for key, value in fields.items() if key not in excluded)
            and signing.verify(alipay_public_key, signing.sign_content(fields, excluded, keep_empty=True), signature)):
        raise InvalidSignatureError("Alipay notification signature does not match")
    try:
        sent_at = parse_beijing_time(fields.get("notify_time", ""))
    except WireFormatError:
        raise InvalidSignatureError("Alipay notification without a readable notify_time") from None
    if abs((now - sent_at).total_seconds()) > FRESHNESS_SECONDS:
        raise InvalidSignatureError("Alipay notification notify_time outside the tolerance")


def translate(fields: Mapping[str, str], recipient: Recipient) -> ProviderEvent:
    """A verified notification as a `ProviderEvent`; refuses one without the fields it needs."""
    event_id, order_id = fields.get("notify_id", ""), fields.get("out_trade_no", "")
    if not event_id or not order_id:
        raise InvalidSignatureError("Alipay notification without notify_id or out_trade_no")
    merchant = recipient.merchant_of(fields)
    common = {"event_id": event_id, "order_id": order_id, "merchant_id": merchant,
              "provider_reference": fields.get("trade_no") or None,
              "payer_id": fields.get("buyer_id") or fields.get("buyer_open_id") or None}
    if _is_refund(fields):
        kind = ProviderEventKind.REFUND_SUCCEEDED if merchant == recipient.merchant_id else ProviderEventKind.IGNORED
        return ProviderEvent(kind=kind, refund_order_id=fields.get("out_biz_no") or None,
                             occurred_at=_time(fields.get("gmt_refund")), **common)
    status = fields.get("trade_status", "")
    if status not in _PAID and status != _CLOSED:
        return ProviderEvent(kind=ProviderEventKind.IGNORED, **common)
    try:
        amount = fen(fields.get("total_amount", ""))
    except WireFormatError as error:
        raise InvalidSignatureError(f"Alipay notification total_amount: {error}") from None
    if status in _PAID:
        return ProviderEvent(kind=ProviderEventKind.PAYMENT_SUCCEEDED, amount=amount,
                             occurred_at=_time(fields.get("gmt_payment")), **common)
    return ProviderEvent(kind=ProviderEventKind.PAYMENT_CLOSED, amount=amount, failure_reason="closed",
                         occurred_at=_time(fields.get("gmt_close")), **common)


def _is_refund(fields: Mapping[str, str]) -> bool:
    refund_fee = fields.get("refund_fee", "")
    return bool(fields.get("out_biz_no") or fields.get("gmt_refund")) or refund_fee not in ("", "0", "0.0", "0.00")


def _time(text: str | None) -> datetime | None:
    try:
        return parse_beijing_time(text) if text else None
    except WireFormatError:
        return None
