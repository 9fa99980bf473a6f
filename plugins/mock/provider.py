"""The mock provider plugin (entry point `mock`).

Wire protocol, as the contract's mock section says: its checkout page is
`{PAYMENTS_PUBLIC_URL}/mock-checkout/{session_id}`; notifications are JSON
`{"id", "type": "payment.succeeded" | "payment.failed", "session_id", "order_id", "amount",
"currency", "created"}` signed like Stripe's: `Mock-Signature: t=<unix>,v1=<hex HMAC-SHA256 of
"<t>.<raw body>" keyed with PAYMENTS_MOCK_WEBHOOK_SECRET>`, refused when `t` is more than 300 s
from now. Acknowledgement: 200 `{"received": true}`.

Its "remote side" (which orders exist, which were paid, closed or refunded) lives in this object.
"""
from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
import secrets
from collections.abc import Mapping
from typing import TYPE_CHECKING

from domain.errors import DomainValidationError, InvalidSignatureError, ProviderError, ProviderUnavailableError
from domain.money import Currency, Money
from plugins.mock.faults import FaultPlan
from plugins.mock.remote import InMemoryRemote, MockOrder, OrderConflictError, SqliteRemote
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
    ProviderEventKind,
    RefundOrder,
    RefundResult,
    RefundState,
)

if TYPE_CHECKING:
    import httpx

DEVELOPMENT_WEBHOOK_SECRET = "development-mock-webhook-secret"
DEFAULT_STATE_PATH = "./payments-mock.sqlite3"
# Seconds before each delivery attempt of a notification (the first one at once).
REDELIVERY_DELAYS = (0, 1, 2, 5, 10, 30, 60, 120, 300, 600)
TOLERANCE_SECONDS = 300
SIGNATURE_HEADER = "Mock-Signature"
_EVENT_KINDS = {"payment.succeeded": ProviderEventKind.PAYMENT_SUCCEEDED,
                "payment.failed": ProviderEventKind.PAYMENT_FAILED}

log = logging.getLogger("payments.mock")

CAPABILITIES = ProviderCapabilities(
    methods=(
        MethodCapability("wechat_pay", "WeChat Pay", (Flow.QR_CODE,)),
        MethodCapability("alipay", "Alipay", (Flow.QR_CODE, Flow.REDIRECT)),
        MethodCapability("credit_card", "Card", (Flow.REDIRECT,)),
        MethodCapability("mock", "Mock", (Flow.QR_CODE, Flow.REDIRECT)),
    ),
    currencies=("CNY",),
)


class MockProvider:
    """See the module docstring."""

    def __init__(self, *, webhook_secret: str, public_url: str, clock: Clock, name: str = "mock",
                 http: httpx.AsyncClient | None = None, remote: InMemoryRemote | SqliteRemote | None = None,
                 redelivery_delays: tuple[float, ...] = REDELIVERY_DELAYS, lose_notifications: bool = False,
                 faults: FaultPlan | None = None) -> None:
        self.name = name
        self._secret = webhook_secret.encode()
        self._public_url = public_url.rstrip("/")
        self._clock = clock
        self._http = http
        self._remote = remote if remote is not None else InMemoryRemote()
        self._redelivery_delays = redelivery_delays
        self._lose_notifications = lose_notifications
        self._plan = faults or FaultPlan()
        self._deliveries: set[asyncio.Task] = set()
        self._faults: dict[str, list[ProviderError]] = {}

    @classmethod
    def from_settings(cls, settings: Mapping[str, str], *, http: httpx.AsyncClient | None = None,
                      clock: Clock) -> MockProvider:
        """Settings: PAYMENTS_MOCK_WEBHOOK_SECRET, PAYMENTS_PUBLIC_URL, PAYMENTS_MOCK_STATE_PATH (the
        file of its remote side, default ./payments-mock.sqlite3), PAYMENTS_MOCK_LOSE_NOTIFICATIONS
        (`true`: never send notifications, for drills of the reconciler)."""
        state_path = settings.get("PAYMENTS_MOCK_STATE_PATH") or DEFAULT_STATE_PATH
        return cls(webhook_secret=settings.get("PAYMENTS_MOCK_WEBHOOK_SECRET") or DEVELOPMENT_WEBHOOK_SECRET,
                   public_url=settings.get("PAYMENTS_PUBLIC_URL") or "http://127.0.0.1:8080", clock=clock,
                   http=http, remote=SqliteRemote(state_path),
                   faults=FaultPlan.from_settings(settings))

    def inject_fault(self, operation: str, error: ProviderError, times: int = 1) -> None:
        """Make the next `times` calls of `operation` ("open_payment", "query_payment",
        "close_payment", "refund") raise `error`, as a failing remote would (fault drills)."""
        self._faults.setdefault(operation, []).extend([error] * times)

    def _maybe_fail(self, operation: str) -> str | None:
        """Raise an injected fault, or draw one from the fault plan: `unavailable` and `error`
        raise now; `timeout` is returned, for the caller to do the work and then lose the answer."""
        pending = self._faults.get(operation)
        if pending:
            raise pending.pop(0)
        kind = self._plan.draw(operation)
        if kind == "unavailable":
            raise ProviderUnavailableError(f"mock {operation}: 503 (fault drill)")
        if kind == "error":
            raise ProviderError(f"mock {operation}: refused (fault drill)")
        return kind

    async def _lose_answer(self, operation: str, kind: str | None) -> None:
        if kind == "timeout":
            await asyncio.sleep(self._plan.timeout_seconds)
            raise ProviderUnavailableError(f"mock {operation}: timed out (fault drill)")

    @property
    def capabilities(self) -> ProviderCapabilities:
        return CAPABILITIES

    @property
    def merchant_id(self) -> str | None:
        return None

    # ------------------------------------------------------------------ orders
    async def open_payment(self, order: PaymentOrder) -> PaymentInstructions:
        fault = self._maybe_fail("open_payment")
        try:
            self._remote.open(order)
        except OrderConflictError:
            raise ProviderError(f"order {order.order_id} exists with other parameters") from None
        await self._lose_answer("open_payment", fault)
        url = f"{self._public_url}/mock-checkout/{order.session_id}"
        return PaymentInstructions(payment_url=url, qr_code=url, provider_reference=f"mock_{order.order_id}")

    async def query_payment(self, order_id: str) -> PaymentStatus:
        fault = self._maybe_fail("query_payment")
        found = self._remote.get(order_id)
        await self._lose_answer("query_payment", fault)
        if found is None:
            return PaymentStatus(order_id, PaymentState.PENDING)
        return PaymentStatus(order_id, found.state, found.order.amount, f"mock_{order_id}",
                             failure_reason="declined" if found.state is PaymentState.FAILED else None)

    async def close_payment(self, order_id: str) -> None:
        fault = self._maybe_fail("close_payment")
        found = self._remote.get(order_id)
        if found is None or found.state is PaymentState.CLOSED:
            return
        if found.state is PaymentState.SUCCEEDED:
            raise ProviderError(f"order {order_id} is paid and cannot be closed")
        self._remote.set_state(order_id, PaymentState.CLOSED)
        await self._lose_answer("close_payment", fault)

    async def refund(self, refund: RefundOrder) -> RefundResult:
        fault = self._maybe_fail("refund")
        found = self._remote.get(refund.payment_order_id)
        if found is None or found.state is not PaymentState.SUCCEEDED:
            raise ProviderError(f"order {refund.payment_order_id} is not paid")
        if not self._remote.refund_exists(refund.refund_order_id):
            if refund.amount.amount + found.refunded > found.order.amount.amount:
                raise ProviderError("refund exceeds the payment")
            self._remote.refund(refund.payment_order_id, refund.refund_order_id, refund.amount.amount)
        await self._lose_answer("refund", fault)
        return RefundResult(refund.refund_order_id, RefundState.SUCCEEDED, f"mock_re_{refund.refund_order_id}")

    async def query_refund(self, refund_order_id: str, payment_order_id: str) -> RefundResult:
        if not self._remote.refund_exists(refund_order_id):
            return RefundResult(refund_order_id, RefundState.FAILED)
        return RefundResult(refund_order_id, RefundState.SUCCEEDED, f"mock_re_{refund_order_id}")

    # ------------------------------------------------------------------ the payer's side
    def order_for_session(self, session_id: str) -> MockOrder | None:
        """The order a checkout page shows (the page is addressed by our session id)."""
        return self._remote.by_session(session_id)

    def settle(self, order_id: str, succeeded: bool) -> tuple[dict[str, str], bytes]:
        """The payer paid (or declined) order `order_id` on the checkout page: record it and
        return the signed notification the mock sends (headers, body). An order already paid
        stays paid; the notification then says so again."""
        found = self._remote.get(order_id)
        if found is None:
            raise ProviderError(f"no mock order {order_id}")
        if found.state is PaymentState.SUCCEEDED:
            succeeded = True
        else:
            self._remote.set_state(order_id, PaymentState.SUCCEEDED if succeeded else PaymentState.FAILED)
        return self.notification_for(found.order, succeeded)

    def checkout(self, session_id: str, succeeded: bool) -> MockOrder:
        """The payer pressed Pay (or Decline) on the page of `session_id`: settle the order and
        send its notification to the order's `notify_url` now, re-sending with back-off until
        it is acknowledged with a 2xx (as real providers do)."""
        found = self._remote.by_session(session_id)
        if found is None:
            raise ProviderError(f"no mock order for session {session_id}")
        _, body = self.settle(found.order.order_id, succeeded)
        if not self._lose_notifications and not self._plan.lose_notification():
            task = asyncio.get_running_loop().create_task(self.deliver(found.order.notify_url, body))
            self._deliveries.add(task)
            task.add_done_callback(self._deliveries.discard)
        return self._remote.get(found.order.order_id) or found

    async def deliver(self, url: str, body: bytes) -> bool:
        """POST a notification until a 2xx answer; each attempt is signed anew (fresh `t`)."""
        import httpx  # here, not at import: a worker that never delivers does not load it

        if self._http is None:
            self._http = httpx.AsyncClient(timeout=10.0)  # in-memory set-ups inject none
        for delay in self._redelivery_delays:
            await asyncio.sleep(delay)
            headers = {SIGNATURE_HEADER: self.sign(body, int(self._clock.now().timestamp())),
                       "Content-Type": "application/json"}
            try:
                response = await self._http.post(url, content=body, headers=headers)
                if 200 <= response.status_code < 300:
                    return True
                log.warning("mock notification to %s answered %s; will re-send", url, response.status_code)
            except httpx.HTTPError as error:
                log.warning("mock notification to %s failed (%s); will re-send", url, error)
        log.error("mock notification to %s was never acknowledged", url)
        return False

    async def wait_for_deliveries(self) -> None:
        """Until every notification in flight was delivered or given up (tests, shutdown)."""
        while self._deliveries:
            await asyncio.gather(*list(self._deliveries), return_exceptions=True)

    def notification_for(self, order: PaymentOrder, succeeded: bool) -> tuple[dict[str, str], bytes]:
        created = int(self._clock.now().timestamp())
        body = json.dumps({
            "id": f"evt_{secrets.token_hex(12)}",
            "type": "payment.succeeded" if succeeded else "payment.failed",
            "session_id": order.session_id, "order_id": order.order_id,
            "amount": order.amount.amount, "currency": order.amount.currency.code, "created": created,
        }, separators=(",", ":")).encode()
        return {SIGNATURE_HEADER: self.sign(body, created), "Content-Type": "application/json"}, body

    def sign(self, body: bytes, timestamp: int) -> str:
        mac = hmac.new(self._secret, str(timestamp).encode() + b"." + body, hashlib.sha256).hexdigest()
        return f"t={timestamp},v1={mac}"

    # ------------------------------------------------------------------ notifications
    def parse_notification(self, headers: Mapping[str, str], body: bytes) -> ProviderEvent:
        header = _header(headers, SIGNATURE_HEADER)
        if header is None:
            raise InvalidSignatureError("Mock-Signature header missing")
        parts: dict[str, list[str]] = {}
        for item in header.split(","):
            key, _, value = item.strip().partition("=")
            parts.setdefault(key, []).append(value)
        try:
            timestamp = int(parts["t"][0])
        except (KeyError, ValueError):
            raise InvalidSignatureError("Mock-Signature has no timestamp") from None
        expected = self.sign(body, timestamp).rsplit("v1=", 1)[1]
        if not any(hmac.compare_digest(expected.encode(), candidate.encode("utf-8", "replace"))  # non-ASCII: no match
                   for candidate in parts.get("v1", [])):
            raise InvalidSignatureError("Mock-Signature does not match")
        if abs(int(self._clock.now().timestamp()) - timestamp) > TOLERANCE_SECONDS:
            raise InvalidSignatureError("Mock-Signature timestamp outside the tolerance")
        return _event_from(body)

    def acknowledge(self, outcome: NotificationOutcome) -> Acknowledgement:
        if outcome is NotificationOutcome.ACCEPTED:
            return Acknowledgement(200, "application/json; charset=utf-8", b'{"received": true}')
        if outcome is NotificationOutcome.REJECTED:
            return Acknowledgement(401, "application/json; charset=utf-8",
                                   b'{"error": {"code": "unauthorized", "message": "Invalid Mock-Signature."}}')
        return Acknowledgement(503, "application/json; charset=utf-8",
                               b'{"error": {"code": "provider_unavailable", "message": "Try again later."}}')


def _header(headers: Mapping[str, str], name: str) -> str | None:
    lowered = name.lower()
    return next((v for k, v in headers.items() if k.lower() == lowered), None)


def _event_from(body: bytes) -> ProviderEvent:
    """Translate an authentic notification; one we cannot read is treated like a forged one."""
    try:
        data = json.loads(body)
        kind = _EVENT_KINDS.get(data["type"], ProviderEventKind.IGNORED)
        amount = data["amount"]
        if type(amount) is not int or not isinstance(data["id"], str) or not isinstance(data["order_id"], str):
            raise TypeError("bad field types")
        return ProviderEvent(
            event_id=data["id"], kind=kind, order_id=data["order_id"],
            amount=Money(amount, _currency(data["currency"])), provider_reference=f"mock_{data['order_id']}",
            failure_reason="declined" if kind is ProviderEventKind.PAYMENT_FAILED else None,
        )
    except (ValueError, KeyError, TypeError, DomainValidationError) as error:  # refuse rather than guess
        raise InvalidSignatureError(f"unreadable notification: {error}") from None


def _currency(code: object) -> Currency:
    """The notification's currency. A code this service does not know is still readable: it
    matches no order, so the notification is an anomaly (acknowledged, changes nothing), not a
    forgery to refuse with 401, which the provider would re-send forever."""
    if not isinstance(code, str) or not code:
        raise TypeError("bad currency")
    try:
        return Currency.of(code)
    except DomainValidationError:
        return Currency(code, 0)  # its minor unit is unknown and irrelevant: it only has to differ
