"""The Alipay provider: the payment provider port over Alipay's gateway (`gateway`) and
notifications (`notifications`). Our `order_id` is `out_trade_no`, the idempotency key of every
call about the order.

- `open_payment`, by `PaymentOrder.flow`: `qr_code` → `alipay.trade.precreate` → `qr_code`;
  `redirect` → a signed `alipay.trade.page.pay` URL, `mobile_redirect` → a signed
  `alipay.trade.wap.pay` URL, as `payment_url` (no server call). `time_expire` = `expires_at`,
  `return_url` passed on.
- `query_payment`, `alipay.trade.query`: `ACQ.TRADE_NOT_EXIST` (the payer has not scanned yet) and
  `WAIT_BUYER_PAY` pending, `TRADE_SUCCESS`/`TRADE_FINISHED` succeeded, `TRADE_CLOSED` closed.
- `close_payment`, `alipay.trade.close`: `ACQ.TRADE_NOT_EXIST` is nothing to close; a trade whose
  state refuses closing is queried: closed already is fine, paid raises.
- `refund`, `alipay.trade.refund` with `out_request_no` = the refund's order id (partial refunds,
  never twice): `fund_change` `Y` succeeded, else pending (a repeat of a refund already made
  answers `N`). Alipay refunds synchronously, so a refund fails here: `40004` with a `sub_code`
  of `REFUND_FAILURES` (the seller's balance, a frozen trade) is failed with that `sub_code` as
  the reason (never `sub_msg`, free text); other refusals raise `AlipayRefusal`.
- `query_refund`, `alipay.trade.fastpay.refund.query`: `REFUND_SUCCESS` (or, as Alipay documents,
  refund data without a status) succeeded; no refund data, or no trade, `RefundNotFoundError`
  (the query names no failed state: a refund that failed was not made, so the core sends it again
  under the same number and that answer says why).
- `parse_notification` / `acknowledge`: `notifications`; the plain text `success`, anything else
  (`fail`) makes Alipay re-send.
"""
from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any

from domain.errors import ProviderError, RefundNotFoundError
from domain.money import Money
from plugins.alipay import notifications
from plugins.alipay.gateway import AlipayRefusal, Gateway
from plugins.alipay.notifications import Recipient
from plugins.alipay.settings import AlipaySettings
from plugins.alipay.wire import WireFormatError, beijing_time, fen, parse_beijing_time, yuan
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
    RefundState,
)

if TYPE_CHECKING:
    import httpx

__all__ = ["CAPABILITIES", "AlipayProvider", "from_settings"]

PORT = (1, 5)  # Flow.MOBILE_REDIRECT, PaymentOrder.flow and payer_id (1.3); RefundResult.failure_reason (1.5)
CAPABILITIES = ProviderCapabilities(
    methods=(MethodCapability("alipay", "Alipay", (Flow.QR_CODE, Flow.REDIRECT, Flow.MOBILE_REDIRECT)),),
    currencies=("CNY",),
)
PRECREATE = "alipay.trade.precreate"
PAGE_PAY = "alipay.trade.page.pay"
WAP_PAY = "alipay.trade.wap.pay"
QUERY = "alipay.trade.query"
CLOSE = "alipay.trade.close"
REFUND = "alipay.trade.refund"
REFUND_QUERY = "alipay.trade.fastpay.refund.query"
# product codes of the redirects (precreate's default, FACE_TO_FACE_PAYMENT, is left to Alipay)
_PRODUCT_CODES = {Flow.REDIRECT: (PAGE_PAY, "FAST_INSTANT_TRADE_PAY"), Flow.MOBILE_REDIRECT: (WAP_PAY, "QUICK_WAP_WAY")}
TRADE_NOT_EXIST = "ACQ.TRADE_NOT_EXIST"
BUSINESS_FAILED = "40004"  # Business Failed: `sub_code` says which rule refused the call
# `alipay.trade.refund`'s Business Failed answers about a valid refund whose money could not move
# (the seller's balance, a frozen trade): the refund failed, and the same out_request_no may be sent
# again once that is fixed. Every other refusal (an unpaid, closed or unknown trade, more than is
# left, invalid arguments) refuses the request itself and raises, as the port says.
REFUND_FAILURES = frozenset({"ACQ.SELLER_BALANCE_NOT_ENOUGH", "ACQ.REASON_TRADE_BEEN_FREEZEN"})
# what alipay.trade.close answers for a trade that is not waiting for payment (closed or paid)
_NOT_CLOSABLE = frozenset({"ACQ.TRADE_STATUS_ERROR", "ACQ.REASON_TRADE_STATUS_INVALID", "ACQ.TRADE_HAS_CLOSE",
                           "ACQ.TRADE_HAS_SUCCESS"})
_STATES = {"WAIT_BUYER_PAY": PaymentState.PENDING, "TRADE_SUCCESS": PaymentState.SUCCEEDED,
           "TRADE_FINISHED": PaymentState.SUCCEEDED, "TRADE_CLOSED": PaymentState.CLOSED}
_SUBJECT_FORBIDDEN = str.maketrans({"/": " ", "=": " ", "&": " "})  # Alipay refuses them in `subject`
_TEXT = "text/plain;charset=utf-8"


class AlipayProvider:
    """See the module docstring."""

    requires_port = PORT

    def __init__(self, settings: AlipaySettings, *, http: httpx.AsyncClient, clock: Clock,
                 name: str = "alipay") -> None:
        self.name = name
        self._settings = settings
        self._clock = clock
        self._gateway = Gateway(settings, http=http, clock=clock)
        self._recipient = Recipient(settings.app_id, settings.seller_id)

    @property
    def capabilities(self) -> ProviderCapabilities:
        return CAPABILITIES

    @property
    def merchant_id(self) -> str | None:
        return self._recipient.merchant_id

    # ------------------------------------------------------------------ orders
    async def open_payment(self, order: PaymentOrder) -> PaymentInstructions:
        flow = order.flow or CAPABILITIES.methods[0].flows[0]
        biz: dict[str, Any] = {"out_trade_no": order.order_id, "total_amount": _yuan(order.amount),
                               "subject": _subject(order.description), "time_expire": _beijing(order.expires_at)}
        if flow is Flow.QR_CODE:
            node = await self._gateway.call(PRECREATE, biz, notify_url=order.notify_url)
            qr_code = node.get("qr_code")
            if not (isinstance(qr_code, str) and qr_code) or node.get("out_trade_no", order.order_id) != order.order_id:
                raise ProviderError(f"Alipay {PRECREATE} answered no qr_code for {order.order_id}")
            return PaymentInstructions(payment_url=None, qr_code=qr_code)
        if flow not in _PRODUCT_CODES:
            raise ProviderError(f"Alipay offers no {flow.value} flow")
        method, product_code = _PRODUCT_CODES[flow]
        biz["product_code"] = product_code
        if flow is Flow.MOBILE_REDIRECT and order.return_url:
            biz["quit_url"] = order.return_url  # where the payer lands on leaving the payment page
        url = self._gateway.page_url(method, biz, notify_url=order.notify_url, return_url=order.return_url)
        return PaymentInstructions(payment_url=url, qr_code=None)

    async def query_payment(self, order_id: str) -> PaymentStatus:
        try:
            node = await self._gateway.call(QUERY, {"out_trade_no": order_id})
        except AlipayRefusal as refusal:
            if refusal.sub_code == TRADE_NOT_EXIST:  # the payer has not scanned or logged in yet
                return PaymentStatus(order_id, PaymentState.PENDING)
            raise
        state = _STATES.get(node.get("trade_status"))  # type: ignore[arg-type]
        if state is None or node.get("out_trade_no", order_id) != order_id:
            raise ProviderError(f"Alipay {QUERY} answered an unknown trade_status for {order_id}")
        reference = _text(node.get("trade_no"))
        if state is not PaymentState.SUCCEEDED:
            return PaymentStatus(order_id, state, provider_reference=reference,
                                 failure_reason="closed" if state is PaymentState.CLOSED else None)
        try:
            amount = fen(node.get("total_amount"))  # type: ignore[arg-type]
        except WireFormatError as error:
            raise ProviderError(f"Alipay {QUERY}: total_amount {error}") from None
        return PaymentStatus(order_id, state, amount, reference, paid_at=_time(node.get("send_pay_date")),
                             payer_id=_text(node.get("buyer_user_id")) or _text(node.get("buyer_open_id")))

    async def close_payment(self, order_id: str) -> None:
        try:
            await self._gateway.call(CLOSE, {"out_trade_no": order_id})
            return
        except AlipayRefusal as refusal:
            if refusal.sub_code == TRADE_NOT_EXIST:  # no trade yet: nothing to close
                return
            if refusal.sub_code not in _NOT_CLOSABLE:
                raise
            refused = refusal
        status = await self.query_payment(order_id)  # closed already, or paid?
        if status.state is PaymentState.CLOSED:
            return
        if status.state is PaymentState.SUCCEEDED:
            raise ProviderError(f"order {order_id} is paid at Alipay and cannot be closed")
        raise refused

    # ------------------------------------------------------------------ refunds
    async def refund(self, refund: RefundOrder) -> RefundResult:
        biz = {"out_trade_no": refund.payment_order_id, "refund_amount": _yuan(refund.amount),
               "out_request_no": refund.refund_order_id, "refund_reason": refund.reason[:256]}
        try:
            node = await self._gateway.call(REFUND, biz)
        except AlipayRefusal as refusal:
            if refusal.alipay_code == BUSINESS_FAILED and refusal.sub_code in REFUND_FAILURES:
                return RefundResult(refund.refund_order_id, RefundState.FAILED, failure_reason=refusal.sub_code)
            raise
        state = RefundState.SUCCEEDED if node.get("fund_change") == "Y" else RefundState.PENDING
        return RefundResult(refund.refund_order_id, state)

    async def query_refund(self, refund_order_id: str, payment_order_id: str) -> RefundResult:
        biz = {"out_trade_no": payment_order_id, "out_request_no": refund_order_id, "query_options": ["gmt_refund_pay"]}
        try:
            node = await self._gateway.call(REFUND_QUERY, biz)
        except AlipayRefusal as refusal:
            if refusal.sub_code == TRADE_NOT_EXIST:
                raise RefundNotFoundError(f"Alipay has no trade {payment_order_id}, so no refund {refund_order_id}") \
                    from None
            raise
        if not node.get("out_request_no") and not node.get("refund_amount"):  # nothing found: never made
            raise RefundNotFoundError(f"Alipay has no refund {refund_order_id} of {payment_order_id}")
        status = node.get("refund_status")
        state = RefundState.SUCCEEDED if status in (None, "", "REFUND_SUCCESS") else RefundState.PENDING
        return RefundResult(refund_order_id, state)

    # ------------------------------------------------------------------ notifications
    def parse_notification(self, headers: Mapping[str, str], body: bytes) -> ProviderEvent:
        return notifications.parse(body, alipay_public_key=self._settings.alipay_public_key,
                                   recipient=self._recipient, now=self._clock.now())

    def acknowledge(self, outcome: NotificationOutcome) -> Acknowledgement:
        if outcome is NotificationOutcome.ACCEPTED:
            return Acknowledgement(200, _TEXT, b"success")  # exactly these 7 characters stop Alipay's re-sends
        if outcome is NotificationOutcome.REJECTED:
            return Acknowledgement(401, _TEXT, b"fail")
        return Acknowledgement(503, _TEXT, b"fail")


def from_settings(settings: Mapping[str, str], *, http: httpx.AsyncClient, clock: Clock,
                  production: bool = False) -> AlipayProvider:
    """The entry point's factory: `PAYMENTS_ALIPAY_*` (see `plugins.alipay.settings`)."""
    return AlipayProvider(AlipaySettings.read(settings, production=production), http=http, clock=clock)


from_settings.requires_port = PORT  # type: ignore[attr-defined]


def _yuan(amount: Money) -> str:
    try:
        return yuan(amount)
    except WireFormatError as error:
        raise ProviderError(f"Alipay: {error}") from None


def _beijing(moment: datetime) -> str:
    try:
        return beijing_time(moment)
    except WireFormatError as error:
        raise ProviderError(f"Alipay: expires_at: {error}") from None


def _subject(description: str) -> str:
    return " ".join(description.translate(_SUBJECT_FORBIDDEN).split())[:256] or "Order"


def _text(value: object) -> str | None:
    return value if isinstance(value, str) and value else None


def _time(value: object) -> datetime | None:
    try:
        return parse_beijing_time(value) if isinstance(value, str) and value else None
    except WireFormatError:
        return None
