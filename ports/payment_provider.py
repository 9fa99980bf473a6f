"""The payment provider port: what a provider plugin (mock, WeChat Pay, Alipay, Stripe, …) does.

Payments here are payer-present and asynchronous: we open an order at the provider, the payer
scans a QR code or visits a page, and the provider confirms later by a signed notification
(webhook) or when we query it. The port says so rather than pretending to be a card `charge()`.

How the three real providers fit (see shared/providers/PROTOCOLS.md):

| port call             | WeChat Pay v3 (Native)                 | Alipay (RSA2)                                    | Stripe Checkout                                  |
|-----------------------|----------------------------------------|--------------------------------------------------|--------------------------------------------------|
| `open_payment`        | POST /v3/pay/transactions/native with  | `alipay.trade.precreate` → `qr_code`; or         | POST /v1/checkout/sessions, `client_reference_id`|
|                       | `out_trade_no`=order_id, `amount.total`| `alipay.trade.page.pay`: a signed gateway URL    | = order_id, Idempotency-Key = order_id →         |
|                       | (fen) → `qr_code`=`code_url`           | → `payment_url` (no server call)                 | `payment_url`=`url`, `provider_reference`=`cs_…` |
| `query_payment`       | GET …/out-trade-no/{order_id}          | `alipay.trade.query`; `ACQ.TRADE_NOT_EXIST` before| GET /v1/checkout/sessions/{provider_reference}   |
|                       | (`trade_state`)                        | the scan is `PaymentState.PENDING`, not an error | (`payment_status`)                               |
| `close_payment`       | POST …/{order_id}/close (204)          | `alipay.trade.close` (not-exist = nothing to do) | POST …/sessions/{id}/expire                      |
| `refund`              | POST /v3/refund/domestic/refunds,      | `alipay.trade.refund`, `out_request_no` =        | POST /v1/refunds, Idempotency-Key =              |
|                       | `out_refund_no` = refund_order_id      | refund_order_id, yuan string amount              | refund_order_id                                  |
| `parse_notification`  | verify Wechatpay-Signature over        | verify RSA2 over the sorted form fields without  | verify Stripe-Signature `t=…,v1=…` (HMAC over    |
|                       | "ts\\nnonce\\nbody\\n", decrypt AES-GCM | `sign`/`sign_type`; event id = `notify_id`       | "t.body"), ±300 s; event id = `evt_…`            |
|                       | resource; event id = notification `id` |                                                  |                                                  |
| `acknowledge`         | 200/204, no body; refusal 4xx with     | plain text `success`; refusal anything else      | any 2xx                                          |
|                       | `{"code":"FAIL","message":…}`          |                                                  |                                                  |

Amounts cross this port as `Money` (integer minor units); only plugins convert to wire formats
(WeChat integer fen, Alipay "12.34" yuan strings, Stripe minor units).

Idempotency: our `order_id` is the provider's order key (`out_trade_no`, `client_reference_id` +
Idempotency-Key), so retrying `open_payment` with the same order can never create a second
provider order; `refund_order_id` plays the same role for refunds.

Errors: `ProviderError` (the provider refused), `ProviderUnavailableError` (timeout, connection
error, 5xx: the outcome is unknown, query before acting again), `InvalidSignatureError` (a
notification failed verification or is stale). No transport exception (httpx) ever escapes a plugin.

Plugins are found by entry point, group `payments.providers`; the entry point names a factory
    (settings: Mapping[str, str], *, http: httpx.AsyncClient, clock: Clock) -> PaymentProvider
where `settings` holds the `PAYMENTS_<PROVIDER>_*` variables and `http` is the one client plugins
must call out through (so tests can replace the remote side with respx). The service passes a
stand-in that creates the real `httpx.AsyncClient` on first use; a plugin that never calls out
(the mock) then costs its process no httpx.
"""
from __future__ import annotations

import enum
from collections.abc import Mapping
from datetime import datetime
from typing import Protocol

import attrs

from domain.errors import PaymentMethodUnavailableError
from domain.money import Money


class Flow(str, enum.Enum):
    QR_CODE = "qr_code"  # show a code for the payer's phone to scan
    REDIRECT = "redirect"  # send the payer's browser to `payment_url`


@attrs.frozen
class MethodCapability:
    """One payment method a provider can serve: `wechat_pay`, `alipay`, `credit_card`, `mock`."""

    id: str
    name: str
    flows: tuple[Flow, ...]
    icon_url: str | None = None


@attrs.frozen
class ProviderCapabilities:
    methods: tuple[MethodCapability, ...]
    currencies: tuple[str, ...]
    can_query: bool = True
    can_close: bool = True
    can_refund: bool = True
    can_refund_partially: bool = True

    def method(self, method_id: str) -> MethodCapability | None:
        return next((m for m in self.methods if m.id == method_id), None)


@attrs.frozen
class PaymentOrder:
    """What we ask a provider to collect.

    `order_id` is the merchant order number (6-32 of `[A-Za-z0-9]`), unique per attempt;
    `session_id` is ours, for URLs that name the session (the mock's checkout page).
    """

    order_id: str
    session_id: str
    amount: Money
    description: str
    payment_method: str
    expires_at: datetime
    notify_url: str
    return_url: str | None = None


@attrs.frozen
class PaymentInstructions:
    """Where and how the payer pays: a URL to visit, a QR payload to scan, or both, plus the
    provider's own id for the order (WeChat `prepay`-less Native gives none; Stripe `cs_…`)."""

    payment_url: str | None
    qr_code: str | None
    provider_reference: str | None = None


class PaymentState(str, enum.Enum):
    PENDING = "pending"  # created, or not yet known to the provider (Alipay before the scan)
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CLOSED = "closed"  # closed or expired unpaid


@attrs.frozen
class PaymentStatus:
    order_id: str
    state: PaymentState
    amount: Money | None = None
    provider_reference: str | None = None
    paid_at: datetime | None = None
    failure_reason: str | None = None


@attrs.frozen
class RefundOrder:
    refund_order_id: str  # our refund number: out_refund_no / out_request_no / idempotency key
    payment_order_id: str  # the paid order's `order_id`
    amount: Money  # to refund
    payment_total: Money  # what the order was paid (WeChat Pay needs both)
    reason: str
    provider_reference: str | None = None  # the payment's provider id, where the provider needs it
    notify_url: str | None = None


class RefundState(str, enum.Enum):
    PENDING = "pending"
    SUCCEEDED = "succeeded"
    FAILED = "failed"


@attrs.frozen
class RefundResult:
    refund_order_id: str
    state: RefundState
    provider_reference: str | None = None


class ProviderEventKind(str, enum.Enum):
    PAYMENT_SUCCEEDED = "payment_succeeded"
    PAYMENT_FAILED = "payment_failed"
    PAYMENT_CLOSED = "payment_closed"
    REFUND_SUCCEEDED = "refund_succeeded"
    REFUND_FAILED = "refund_failed"
    IGNORED = "ignored"  # authentic, but of a type we do not act on


@attrs.frozen
class ProviderEvent:
    """A verified notification, in provider-neutral terms.

    `event_id` is the provider's id for the notification, stable across its re-deliveries (the
    de-duplication key). `merchant_id` is the merchant the notification is for, where the
    protocol carries one (WeChat `mchid`, Alipay `app_id`), to be matched against the provider's.
    """

    event_id: str
    kind: ProviderEventKind
    order_id: str | None
    amount: Money | None = None
    merchant_id: str | None = None
    provider_reference: str | None = None
    refund_order_id: str | None = None
    failure_reason: str | None = None
    occurred_at: datetime | None = None


class NotificationOutcome(str, enum.Enum):
    ACCEPTED = "accepted"  # applied, a duplicate, or authentic but not matching: stop re-sending
    REJECTED = "rejected"  # signature missing, wrong or stale: changes nothing
    RETRY = "retry"  # we could not process it now: please re-send


@attrs.frozen
class Acknowledgement:
    """The HTTP answer a provider expects to a notification."""

    status: int
    content_type: str
    body: bytes


class PaymentProvider(Protocol):
    name: str  # the entry-point name: "mock", "wechat_pay", …

    @property
    def capabilities(self) -> ProviderCapabilities: ...

    @property
    def merchant_id(self) -> str | None:
        """Our merchant id at this provider, matched against notifications that carry one."""
        ...

    async def open_payment(self, order: PaymentOrder) -> PaymentInstructions:
        """Create (or, for the same `order_id`, return again) the provider order. Raises
        `ProviderError`, or `ProviderUnavailableError` when the outcome is unknown."""
        ...

    async def query_payment(self, order_id: str) -> PaymentStatus:
        """The provider's view of the order; an order it does not know yet is `PENDING`."""
        ...

    async def close_payment(self, order_id: str) -> None:
        """Stop the order from being paid. Closing an unknown or already closed order is not an
        error; closing a paid one raises `ProviderError` (query it instead)."""
        ...

    async def refund(self, refund: RefundOrder) -> RefundResult:
        """Ask for a refund (asynchronous at every provider: usually `PENDING`). The same
        `refund_order_id` again never refunds twice."""
        ...

    async def query_refund(self, refund_order_id: str, payment_order_id: str) -> RefundResult: ...

    def parse_notification(self, headers: Mapping[str, str], body: bytes) -> ProviderEvent:
        """Verify a notification over its raw bytes (signature and freshness, ±300 s), decrypt it
        if needed and translate it. Raises `InvalidSignatureError` for anything unverifiable."""
        ...

    def acknowledge(self, outcome: NotificationOutcome) -> Acknowledgement:
        """The answer this provider expects for `outcome` (WeChat 200/204, Alipay `success`,
        Stripe any 2xx; a refusal in the provider's own error format where it has one)."""
        ...


class ProviderRegistry:
    """The loaded providers and which one serves each payment method (`PAYMENTS_METHOD_ROUTES`)."""

    def __init__(self, providers: Mapping[str, PaymentProvider], routes: Mapping[str, str],
                 known_methods: Mapping[str, str]) -> None:
        missing = sorted({p for p in routes.values() if p not in providers})
        if missing:
            raise ValueError(f"payment methods are routed to providers that are not loaded: {', '.join(missing)}")
        self._providers = dict(providers)
        self._routes = dict(routes)
        self._known_methods = dict(known_methods)  # method id → display name

    def get(self, name: str) -> PaymentProvider | None:
        return self._providers.get(name)

    def for_method(self, method: str) -> PaymentProvider:
        """The provider that serves `method`; raises `PaymentMethodUnavailableError`."""
        provider = self._providers.get(self._routes.get(method, ""))
        if provider is None or provider.capabilities.method(method) is None:
            raise PaymentMethodUnavailableError(method)
        return provider

    def is_known_method(self, method: str) -> bool:
        return method in self._known_methods

    def method_listing(self) -> list[tuple[str, str, MethodCapability | None, ProviderCapabilities | None]]:
        """Every known method with its display name and, when some provider serves it, that
        provider's capability for it (None: listed as unavailable)."""
        rows = []
        for method, name in self._known_methods.items():
            provider = self._providers.get(self._routes.get(method, ""))
            capability = provider.capabilities.method(method) if provider else None
            rows.append((method, name, capability, provider.capabilities if capability else None))
        return rows

    @property
    def providers(self) -> Mapping[str, PaymentProvider]:
        return dict(self._providers)
