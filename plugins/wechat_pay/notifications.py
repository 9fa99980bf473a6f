"""WeChat Pay notifications (PROTOCOLS §2.4): verified over the raw body, fresh within ±300 s,
decrypted (AES-256-GCM with the APIv3 key) and translated into the port's `ProviderEvent`; and
the acknowledgements WeChat expects.

- `TRANSACTION.SUCCESS` → PAYMENT_SUCCEEDED with `out_trade_no`, `amount.total` in
  `amount.currency`, `transaction_id`, `success_time` and the payer's `openid`. The merchant id
  reported is `mchid`, or, when the `appid` is not ours, a value that cannot match ours (so the
  core logs an anomaly, changes nothing and acknowledges).
- `REFUND.SUCCESS` → REFUND_SUCCEEDED; `REFUND.ABNORMAL` (the money could not reach the payer) and
  `REFUND.CLOSED` → REFUND_FAILED, with `out_refund_no` and the reason `abnormal` or `closed`, as a
  refund query answering that status says (`wire.refund_failure_reason`).
- Any other event type → IGNORED. The event id is the notification's `id` in every case.

Everything unverifiable or unreadable raises `InvalidSignatureError`, and nothing else:
signature probes (`WECHATPAY/SIGNTEST/…`) included, and amounts that are not JSON integers.
"""
from __future__ import annotations

import json
import re
from collections.abc import Mapping
from datetime import datetime, timezone
from typing import Any

from domain.errors import DomainValidationError, InvalidSignatureError
from domain.money import Currency, Money
from plugins.wechat_pay.crypto import AEAD_ALGORITHM, SCHEME, DecryptionError, decrypt, signature_is_valid
from plugins.wechat_pay.keys import KeyRing
from plugins.wechat_pay.settings import WeChatPaySettings
from plugins.wechat_pay.wire import refund_failure_reason
from ports.clock import Clock
from ports.payment_provider import (
    FRESHNESS_SECONDS,
    Acknowledgement,
    NotificationOutcome,
    ProviderEvent,
    ProviderEventKind,
)

PROBE_PREFIX = "WECHATPAY/SIGNTEST/"
_TIMESTAMP = re.compile(r"[0-9]{1,12}")
_REFUND_KINDS = {"REFUND.SUCCESS": ProviderEventKind.REFUND_SUCCEEDED,
                 "REFUND.ABNORMAL": ProviderEventKind.REFUND_FAILED,
                 "REFUND.CLOSED": ProviderEventKind.REFUND_FAILED}
_JSON = "application/json; charset=utf-8"


def serial_of(headers: Mapping[str, str]) -> str:
    """The `Wechatpay-Serial` a notification names ('' when none)."""
    return _lowered(headers).get("wechatpay-serial", "")


def parse(headers: Mapping[str, str], body: bytes, *, keys: KeyRing, settings: WeChatPaySettings,
          clock: Clock) -> ProviderEvent:
    """See the module docstring."""
    verify(headers, body, keys=keys, clock=clock)
    try:
        notification = json.loads(body)
        return _event(notification, settings)
    except InvalidSignatureError:
        raise
    except (ValueError, TypeError, KeyError, AttributeError, DomainValidationError) as error:
        raise InvalidSignatureError(f"an authentic WeChat Pay notification that cannot be read: "
                                    f"{type(error).__name__}") from None


def verify(headers: Mapping[str, str], body: bytes, *, keys: KeyRing, clock: Clock) -> None:
    """Raise `InvalidSignatureError` unless `body` carries WeChat's valid, fresh signature."""
    lowered = _lowered(headers)
    signature = lowered.get("wechatpay-signature", "")
    timestamp = lowered.get("wechatpay-timestamp", "")
    serial = lowered.get("wechatpay-serial", "")
    if not signature or not timestamp or not serial:
        raise InvalidSignatureError("the WeChat Pay notification is not signed")
    if signature.startswith(PROBE_PREFIX):
        raise InvalidSignatureError("a WeChat Pay signature probe (WECHATPAY/SIGNTEST/) is refused")
    if lowered.get("wechatpay-signature-type", SCHEME) != SCHEME:
        raise InvalidSignatureError("the WeChat Pay notification has an unknown signature type")
    if not _TIMESTAMP.fullmatch(timestamp):
        raise InvalidSignatureError("the WeChat Pay notification's timestamp is malformed")
    if abs(int(clock.now().timestamp()) - int(timestamp)) > FRESHNESS_SECONDS:
        raise InvalidSignatureError("the WeChat Pay notification is stale (signed more than 300 s from now)")
    key = keys.key_for(serial)
    if key is None:
        raise InvalidSignatureError("the WeChat Pay notification names a serial we hold no key for")
    if not signature_is_valid(key, timestamp=timestamp, nonce=lowered.get("wechatpay-nonce", ""), body=body,
                              signature=signature):
        raise InvalidSignatureError("the WeChat Pay notification's signature is wrong")


def acknowledge(outcome: NotificationOutcome) -> Acknowledgement:
    """WeChat's answers: 204 with no body; refusals `{"code": "FAIL", "message": …}` (401, 500)."""
    if outcome is NotificationOutcome.ACCEPTED:
        return Acknowledgement(204, _JSON, b"")
    if outcome is NotificationOutcome.REJECTED:
        return Acknowledgement(401, _JSON, _fail("signature verification failed"))
    return Acknowledgement(500, _JSON, _fail("temporarily unable to process, please re-send"))


def _fail(message: str) -> bytes:
    return json.dumps({"code": "FAIL", "message": message}).encode()


def _event(notification: Any, settings: WeChatPaySettings) -> ProviderEvent:
    event_id = _text(notification, "id")
    event_type = _text(notification, "event_type")
    resource = _decrypted(notification["resource"], settings)
    if event_type == "TRANSACTION.SUCCESS":
        if resource.get("trade_state", "SUCCESS") != "SUCCESS":
            raise ValueError(f"TRANSACTION.SUCCESS with trade_state {resource.get('trade_state')!r}")
        amount = resource["amount"]
        payer = resource.get("payer") or {}
        return ProviderEvent(
            event_id=event_id, kind=ProviderEventKind.PAYMENT_SUCCEEDED, order_id=_text(resource, "out_trade_no"),
            amount=Money(_fen(amount, "total"), Currency.of(_text(amount, "currency"))),
            merchant_id=_merchant(resource, settings), provider_reference=_optional_text(resource, "transaction_id"),
            occurred_at=_time(resource.get("success_time")), payer_id=_optional_text(payer, "openid"))
    if event_type in _REFUND_KINDS:
        amount = resource["amount"]
        kind = _REFUND_KINDS[event_type]
        return ProviderEvent(
            event_id=event_id, kind=kind, order_id=_text(resource, "out_trade_no"),
            amount=Money(_fen(amount, "refund"), Currency.of(amount.get("currency", "CNY"))),
            merchant_id=_merchant(resource, settings), provider_reference=_optional_text(resource, "refund_id"),
            refund_order_id=_text(resource, "out_refund_no"), occurred_at=_time(resource.get("success_time")),
            failure_reason=None if kind is ProviderEventKind.REFUND_SUCCEEDED else
            refund_failure_reason(event_type.removeprefix("REFUND.")))
    return ProviderEvent(event_id=event_id, kind=ProviderEventKind.IGNORED,
                         order_id=_optional_text(resource, "out_trade_no"))


def _decrypted(resource: Any, settings: WeChatPaySettings) -> dict[str, Any]:
    if resource.get("algorithm") != AEAD_ALGORITHM:
        raise ValueError(f"unknown resource algorithm {resource.get('algorithm')!r}")
    associated_data = resource.get("associated_data") or ""
    if not isinstance(associated_data, str):
        raise TypeError("associated_data is not text")
    try:
        plain = decrypt(settings.api_v3_key, nonce=_text(resource, "nonce"), associated_data=associated_data,
                        ciphertext=_text(resource, "ciphertext"))
    except DecryptionError as error:
        raise InvalidSignatureError(str(error)) from None
    document = json.loads(plain)
    if not isinstance(document, dict):
        raise TypeError("the resource is not a JSON object")
    return document


def _merchant(resource: Mapping[str, Any], settings: WeChatPaySettings) -> str:
    mchid = _text(resource, "mchid")
    appid = resource.get("appid")
    if appid is not None and appid != settings.appid:
        return f"{mchid} (appid {appid}, not ours)"
    return mchid


_AMOUNT_FIELDS = ("total", "payer_total", "refund", "payer_refund")


def _fen(amount: Any, name: str) -> int:
    """`amount[name]` in fen. Every amount of the object must be a JSON integer (the one read and
    those beside it, such as `payer_total`): a float, a string or a bool is refused, never rounded."""
    for field in (name, *(f for f in _AMOUNT_FIELDS if f in amount)):
        value = amount[field]
        if type(value) is not int or value < 0:
            raise TypeError(f"amount.{field} is not a whole number of fen")
    return amount[name]


def _text(document: Any, name: str) -> str:
    value = document[name]
    if not isinstance(value, str) or not value:
        raise TypeError(f"{name} is not a non-empty string")
    return value


def _optional_text(document: Any, name: str) -> str | None:
    value = document.get(name)
    return value if isinstance(value, str) and value else None


def _time(text: Any) -> datetime | None:
    if not isinstance(text, str):
        return None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    return moment.astimezone(timezone.utc) if moment.tzinfo is not None else None


def _lowered(headers: Mapping[str, str]) -> dict[str, str]:
    return {str(name).lower(): str(value) for name, value in headers.items()}
