"""The WeChat Pay provider (entry point `wechat_pay`): API v3, Native (QR code) payments of the
`wechat_pay` method in CNY, with queries, closing and refunds (PROTOCOLS §2).

| port call            | WeChat Pay API v3                                                              |
|----------------------|--------------------------------------------------------------------------------|
| `open_payment`       | POST /v3/pay/transactions/native, `out_trade_no` = order_id, integer fen,      |
|                      | `time_expire` (+08:00) from `expires_at`, `notify_url` → `qr_code` = code_url   |
| `query_payment`      | GET /v3/pay/transactions/out-trade-no/{order_id}?mchid=… (`trade_state`)       |
| `close_payment`      | POST /v3/pay/transactions/out-trade-no/{order_id}/close → 204                  |
| `refund`             | POST /v3/refund/domestic/refunds, `out_refund_no` = refund_order_id            |
| `query_refund`       | GET /v3/refund/domestic/refunds/{refund_order_id}                              |
| `parse_notification` | see `notifications`; `prepare_notification` downloads platform certificates     |
|                      | when one names a serial we do not hold                                          |

Modules: `settings` (PAYMENTS_WECHAT_PAY_*), `crypto` (signatures, AES-GCM), `keys` (public key
and platform certificates by serial), `client` (signed calls, verified answers, errors),
`notifications` (parse and acknowledge), `wire` (amounts, times, states) and this one.
"""
from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from domain.errors import ProviderError, RefundNotFoundError
from plugins.wechat_pay import notifications, wire
from plugins.wechat_pay.client import WeChatPayClient, WeChatPayError
from plugins.wechat_pay.keys import KeyRing
from plugins.wechat_pay.settings import WeChatPaySettings
from ports.clock import Clock
from ports.payment_provider import (
    Acknowledgement,
    Flow,
    MethodCapability,
    NotificationOutcome,
    PaymentInstructions,
    PaymentOrder,
    PaymentState,
    PaymentStatus,
    ProviderCapabilities,
    ProviderEvent,
    RefundOrder,
    RefundResult,
)

if TYPE_CHECKING:
    import httpx

__all__ = ["CAPABILITIES", "WeChatPayProvider"]

log = logging.getLogger("payments.wechat_pay")

CAPABILITIES = ProviderCapabilities(
    methods=(MethodCapability("wechat_pay", "WeChat Pay", (Flow.QR_CODE,)),),
    currencies=("CNY",),
)
NATIVE_PATH = "/v3/pay/transactions/native"
REFUNDS_PATH = "/v3/refund/domestic/refunds"
_ORDER_UNKNOWN = frozenset({"ORDER_NOT_EXIST", "ORDERNOTEXIST", "RESOURCE_NOT_EXISTS"})


class WeChatPayProvider:
    """See the module docstring."""

    # payer_id (openid), prepare_notification (platform certificates); RefundResult.failure_reason (1.5)
    requires_port = (1, 5)
    name = "wechat_pay"

    def __init__(self, settings: WeChatPaySettings, *, http: httpx.AsyncClient, clock: Clock,
                 name: str = "wechat_pay") -> None:
        self.name = name
        self._settings = settings
        self._clock = clock
        self._keys = KeyRing(settings, clock)
        self._client = WeChatPayClient(settings, http, clock, self._keys)

    @classmethod
    def from_settings(cls, settings: Mapping[str, str], *, http: httpx.AsyncClient, clock: Clock,
                      production: bool = False) -> WeChatPayProvider:
        """The factory of the entry point: its PAYMENTS_WECHAT_PAY_* settings (see `settings`)."""
        return cls(WeChatPaySettings.from_mapping(settings, production=production), http=http, clock=clock)

    @property
    def capabilities(self) -> ProviderCapabilities:
        return CAPABILITIES

    @property
    def merchant_id(self) -> str | None:
        return self._settings.mchid

    # ------------------------------------------------------------------ orders
    async def open_payment(self, order: PaymentOrder) -> PaymentInstructions:
        document = {
            "appid": self._settings.appid,
            "mchid": self._settings.mchid,
            "description": wire.description(order.description),
            "out_trade_no": order.order_id,
            "time_expire": wire.beijing_time(order.expires_at),
            "notify_url": order.notify_url,
            "amount": {"total": wire.fen(order.amount), "currency": wire.CURRENCY},
        }
        try:
            answer = await self._client.post(NATIVE_PATH, document)
        except WeChatPayError as error:
            if error.wechat_code == "ORDERPAID":
                raise ProviderError(f"WeChat Pay order {order.order_id} is already paid") from None
            raise
        code_url = (answer or {}).get("code_url")
        if not isinstance(code_url, str) or not code_url:
            raise ProviderError("WeChat Pay answered a Native order without code_url")
        return PaymentInstructions(payment_url=None, qr_code=code_url, provider_reference=None)

    async def query_payment(self, order_id: str) -> PaymentStatus:
        path = f"/v3/pay/transactions/out-trade-no/{quote(order_id, safe='')}?mchid={self._settings.mchid}"
        try:
            answer = await self._client.get(path)
        except WeChatPayError as error:
            if error.wechat_code in _ORDER_UNKNOWN:
                return PaymentStatus(order_id, PaymentState.PENDING)
            raise
        return wire.payment_status(order_id, answer or {}, mchid=self._settings.mchid)

    async def close_payment(self, order_id: str) -> None:
        path = f"/v3/pay/transactions/out-trade-no/{quote(order_id, safe='')}/close"
        try:
            await self._client.post(path, {"mchid": self._settings.mchid})
        except WeChatPayError as error:
            if error.wechat_code in _ORDER_UNKNOWN or error.wechat_code == "ORDER_CLOSED":
                return  # nothing to close
            if error.wechat_code == "ORDERPAID":
                raise ProviderError(f"WeChat Pay order {order_id} is paid and cannot be closed") from None
            raise

    # ------------------------------------------------------------------ refunds
    async def refund(self, refund: RefundOrder) -> RefundResult:
        document: dict[str, Any] = {"out_trade_no": refund.payment_order_id,
                                    "out_refund_no": refund.refund_order_id}
        reason = wire.refund_reason(refund.reason)
        if reason:
            document["reason"] = reason
        if refund.notify_url:
            document["notify_url"] = refund.notify_url
        document["amount"] = {"refund": wire.fen(refund.amount), "total": wire.fen(refund.payment_total),
                              "currency": wire.CURRENCY}
        answer = await self._client.post(REFUNDS_PATH, document)
        return wire.refund_result(refund.refund_order_id, answer or {}, out_trade_no=refund.payment_order_id)

    async def query_refund(self, refund_order_id: str, payment_order_id: str) -> RefundResult:
        try:
            answer = await self._client.get(f"{REFUNDS_PATH}/{quote(refund_order_id, safe='')}")
        except WeChatPayError as error:
            if error.status == 404 or error.wechat_code in _ORDER_UNKNOWN:
                raise RefundNotFoundError(f"WeChat Pay has no refund {refund_order_id}") from None
            raise
        return wire.refund_result(refund_order_id, answer or {}, out_trade_no=payment_order_id)

    # ------------------------------------------------------------------ notifications
    async def prepare_notification(self, headers: Mapping[str, str], body: bytes) -> None:
        """Port 1.3: download the platform certificates when the notification names a serial we
        do not hold (rotation). Never raises."""
        serial = notifications.serial_of(headers)
        if not serial:
            return
        try:
            await self._client.ensure_key(serial)
        except Exception:  # never raises (port 1.3): parse_notification refuses what is still unverifiable
            log.exception("could not prepare to verify a WeChat Pay notification")

    def parse_notification(self, headers: Mapping[str, str], body: bytes) -> ProviderEvent:
        return notifications.parse(headers, body, keys=self._keys, settings=self._settings, clock=self._clock)

    def acknowledge(self, outcome: NotificationOutcome) -> Acknowledgement:
        return notifications.acknowledge(outcome)

    # ------------------------------------------------------------------ for operators and tests
    @property
    def platform_certificate_serials(self) -> tuple[str, ...]:
        """The platform certificates held now (empty in public-key mode until one is needed)."""
        return self._keys.serials
