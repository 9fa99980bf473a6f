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

Loading. Plugins are found by entry point, group `payments.providers`; the entry-point name is the
provider id (API, routes, database) and names a factory

    (settings: Mapping[str, str], *, http: httpx.AsyncClient, clock: Clock) -> PaymentProvider

- `settings` holds only the plugin's own variables, `PAYMENTS_<NAME>_*` where NAME is the entry-point
  name upper-cased (`wechat_pay` → `PAYMENTS_WECHAT_PAY_MCHID`), plus one shared, non-secret value:
  `PAYMENTS_PUBLIC_URL`, the service's *effective* public base URL (the variable, or the one
  `--host`/`--port` shape when it is unset; no trailing slash), for URLs handed to payers and
  providers. Never the JWT secret, the database URL, or another plugin's variables (a variable
  that also fits a longer plugin name, `PAYMENTS_WECHAT_PAY_*` for a plugin `wechat`, is that one's).
- `http` is the one client plugins call out through (tests replace the remote side with respx or an
  `httpx.MockTransport`). It is **shared** by every plugin: it has no `base_url`, no auth and no
  default headers of yours (send absolute URLs and per-request headers), and a plugin never closes
  it or changes its settings (the service closes it at shutdown). Timeouts: 10 s per request, 5 s
  to connect; pass `timeout=` on a request that needs another. The service hands over a stand-in
  that makes the real `httpx.AsyncClient` on first use, so a plugin that never calls out (the
  mock) costs its process no httpx.
- `clock` is the service's clock (freshness checks, timestamps); tests pass a fixed one.
- Keyword arguments added after port 1.0 are passed only to factories that declare them (by name,
  or `**kwargs`), so an older factory keeps working: `production: bool` (1.1), true when the
  service runs with `PAYMENTS_ENV=production`, so a plugin can refuse test credentials there.

Port versions. `PORT_VERSION` is (major, minor): a minor version only adds (optional members,
keyword arguments, enum values a plugin may return); a major one would break plugins. A plugin
written against a newer port declares it, `requires_port = (1, 1)` on its provider class (or its
factory function); `plugins.discover` refuses at start-up, in one line, a plugin whose major
differs or whose minor is above this service's. A plugin that declares nothing is taken as 1.0.

Optional members (1.1; the service looks them up with `getattr`):
- `requires_port: tuple[int, int]`, as above.
- `web_routes() -> Iterable[aiohttp.web.RouteDef]`: pages the plugin serves itself (the mock's
  hosted checkout page `/mock-checkout/{session_id}`), built with `aiohttp.web.get/post(...)` on
  absolute paths outside `/api/`. The app mounts them at start-up for every loaded provider that has
  them, outside production only. When several loaded providers offer the same method and path (the
  in-memory set-up registers the mock under every provider name), each handler is tried in turn and
  one that raises `aiohttp.web.HTTPNotFound` passes the request to the next.

Added in 1.2 (a plugin that ignores it keeps working): `PaymentOrder.lines`, how the amount is made
up (receives and their bulk discount; a plan and the credit for the unused part of the current
one), for pages and receipts the payer sees. Display only: the amount to collect is `amount`.

Added in 1.3 (each optional for a plugin; one that ignores them keeps working):
- `Flow.MOBILE_REDIRECT` (a phone's browser) and `PaymentOrder.flow`, the flow the payer asked for,
  always one the method's capability lists (the core checks it; None only from an older core: take
  the method's first flow). Alipay chooses precreate, page pay or wap pay by it.
- `payer_id` on `ProviderEvent` and `PaymentStatus`: the provider's stable id of the payer (WeChat
  `openid`, Alipay `buyer_id`, Stripe customer), for risk rules. The core never stores it raw.
- `async prepare_notification(headers, body) -> None`, an optional member called just before
  `parse_notification` (which is synchronous): a plugin whose verification keys can change fetches
  here what the notification names (WeChat Pay platform certificates by `Wechatpay-Serial`). It
  raises nothing: whatever it could not fetch, `parse_notification` then refuses.

Added in 1.4: `query_payment` and `close_payment` may declare a keyword-only
`provider_reference: str | None = None`; the core then passes the `provider_reference` the plugin
returned for that order in `PaymentInstructions` (None when it returned none), so a provider that
names orders by its own id (Stripe's `cs_…`) reads one object instead of searching for our order
id. A plugin that does not declare it is called as before (`call_with_reference`).

Added in 1.5: `RefundResult.failure_reason`, the provider's reason when `state` is FAILED (WeChat's
refund `status` ABNORMAL or CLOSED, Alipay's `sub_code` of a refund whose money could not move,
Stripe's refund `failure_reason`; the mock's drill `insufficient_merchant_balance`), so a failure
learnt from `query_refund` (or from the `refund` answer) carries the provider's words rather than a
generic one. None otherwise, and from a plugin that ignores it (the core then records `refund_failed`).

Added in 1.6: saved methods (the contract's "Saved payment methods"), for a provider whose
capabilities say `can_save_methods=True` (`ProviderWithSavedMethods`); the core never calls these
members on any other provider, so a plugin without them keeps working.
- `PaymentOrder.save_method`: the payer asked to keep the method when this payment succeeds (Stripe:
  `setup_future_usage=off_session`); `PaymentOrder.customer_reference`: the user's customer at this
  provider (Stripe `cus_…`), from `create_customer`, set whenever the core holds one.
- `create_customer(user_id)`: the provider's customer for one of our users, made once (the core stores
  it per user and provider, and asks again only when it holds none; the plugin makes the call
  idempotent, e.g. an Idempotency-Key derived from the user id). None: the provider needs none.
- `saved_method(order_id, provider_reference=…)`: after a payment with `save_method` succeeded, the
  method it saved, with its display fields (brand, last4, expiry), or None if none was saved.
- `charge_saved_method(OffSessionCharge)`: charge a saved method with no payer present (one-click
  purchases, renewals), idempotent by `order_id` exactly as `open_payment` is. `ChargeResult.state`
  SUCCEEDED or FAILED (with the provider's `failure_reason`, e.g. a decline code), PENDING (settled
  later by a notification or `query_payment`, which is then passed the charge's `provider_reference`),
  or REQUIRES_PAYER (3-D Secure and the like: the core opens a session for the payer instead).
  `ProviderUnavailableError`: the outcome is unknown; the core queries the order before charging again.
- `detach_saved_method(token, customer_reference=…)`: the method can no longer be charged (deleted
  by the user). Detaching one already gone is not an error.
- `MethodCapability.can_save` (default True): whether this method, of a provider that saves methods,
  can be saved; a provider saving only some of its methods says False on the others (Stripe saves
  cards, not WeChat Pay or Alipay). `can_save_method(provider, method)` combines both; the core
  asks it before it passes `save_method` or charges a saved method, and a plugin refuses the rest.

Notifications (`parse_notification`):
- Verified over the raw bytes, then translated: event kind, our `order_id` (and `refund_order_id`),
  the amount read exactly as integer minor units of the currency the notification names (another
  currency is reported as that currency, never coerced to the order's; an amount written as a float,
  as a string where the protocol has a number, or finer than the minor unit is refused, never
  rounded). A currency code this service does not know is reported as it is or refused with
  `InvalidSignatureError`; no other exception escapes.
- Freshness: a signed time at most 300 s from `clock.now()` either way is accepted (exactly 300
  included), anything further is refused; a time changed without re-signing is refused.
- `event_id` is the provider's id of the notification: the same across re-deliveries of one
  notification (even when re-signed at another time), different for different ones (a payment and a
  refund of the same order included).
"""
from __future__ import annotations

import enum
import inspect
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any, Protocol

import attrs

from domain.errors import PaymentMethodUnavailableError
from domain.money import Money

PORT_VERSION = (1, 6)  # (major, minor): see "Port versions" above
FRESHNESS_SECONDS = 300  # a notification's signed time may be this far from now, either way (inclusive)


def port_supports(required: tuple[int, int]) -> bool:
    """Whether this port serves a plugin that declares `requires_port = required`."""
    return required[0] == PORT_VERSION[0] and required[1] <= PORT_VERSION[1]


class Flow(str, enum.Enum):
    QR_CODE = "qr_code"  # show a code for the payer's phone to scan
    REDIRECT = "redirect"  # send the payer's browser to `payment_url` (a desktop page)
    MOBILE_REDIRECT = "mobile_redirect"  # send a phone's browser to `payment_url` (port 1.3)


@attrs.frozen
class MethodCapability:
    """One payment method a provider can serve: `wechat_pay`, `alipay`, `credit_card`, `mock`."""

    id: str
    name: str
    flows: tuple[Flow, ...]
    icon_url: str | None = None
    can_save: bool = True  # port 1.6: with the provider's `can_save_methods`; see `can_save_method`


@attrs.frozen
class ProviderCapabilities:
    methods: tuple[MethodCapability, ...]
    currencies: tuple[str, ...]
    can_query: bool = True
    can_close: bool = True
    can_refund: bool = True
    can_refund_partially: bool = True
    can_save_methods: bool = False  # port 1.6: `ProviderWithSavedMethods`

    def method(self, method_id: str) -> MethodCapability | None:
        return next((m for m in self.methods if m.id == method_id), None)


class LineKind(str, enum.Enum):
    """What a line of an order's breakdown stands for (port 1.2)."""

    RECEIVES = "receives"  # `quantity` receives at the list price: the subtotal
    DISCOUNT = "discount"  # the bulk discount on them, taken off
    PLAN = "plan"  # the new `plan` for its period (or what is left of the current one)
    PLAN_CREDIT = "plan_credit"  # the unused part of the current `plan`, taken off

    @property
    def reduces(self) -> bool:
        """Whether the line is taken off the others (discounts, credits)."""
        return self in (LineKind.DISCOUNT, LineKind.PLAN_CREDIT)


@attrs.frozen
class OrderLine:
    """One line of how an order's amount is made up (port 1.2). `amount` is never negative; a
    line whose kind `reduces` is taken off. `quantity` is set for RECEIVES, `plan` (a plan id:
    `basic`, `pro`, `vip`) for PLAN and PLAN_CREDIT."""

    kind: LineKind
    amount: Money
    quantity: int | None = None
    plan: str | None = None


@attrs.frozen
class PaymentOrder:
    """What we ask a provider to collect.

    `order_id` is the merchant order number (6-32 of `[A-Za-z0-9]`), unique per attempt;
    `session_id` is ours, for URLs that name the session (the mock's checkout page). `lines`
    (port 1.2; may be empty) break `amount` down for the payer's eyes: the lines that add, less
    those that reduce, make `amount`. The same order opened again carries the same lines.
    """

    order_id: str
    session_id: str
    amount: Money
    description: str
    payment_method: str
    expires_at: datetime
    notify_url: str
    return_url: str | None = None
    lines: tuple[OrderLine, ...] = ()
    flow: Flow | None = None  # port 1.3: the flow asked for, one the method offers; None: its first
    save_method: bool = False  # port 1.6: keep the method when this payment succeeds
    customer_reference: str | None = None  # port 1.6: the user's customer at this provider (`cus_…`)


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
    payer_id: str | None = None  # port 1.3: the provider's id of the payer, for risk rules


@attrs.frozen
class RefundOrder:
    refund_order_id: str  # our refund number: out_refund_no / out_request_no / idempotency key
    payment_order_id: str  # the paid order's `order_id`
    amount: Money  # to refund
    payment_total: Money  # what the order was paid (WeChat Pay needs both)
    reason: str
    provider_reference: str | None = None  # the payment's provider id, where the provider needs it
    notify_url: str | None = None


@attrs.frozen
class SavedMethodDetails:
    """A method the provider keeps for off-session charges (port 1.6): its token and what the payer
    sees of it. Never a card number: the provider tokenized it."""

    token: str  # the provider's id of the method: Stripe `pm_…`, the mock's own
    payment_method: str  # the method id it pays with: `credit_card`, …
    label: str  # "Visa •••• 4242"
    brand: str | None = None
    last4: str | None = None
    exp_month: int | None = None
    exp_year: int | None = None
    fingerprint: str | None = None  # the provider's fingerprint of the card, for risk rules (kept hashed)


@attrs.frozen
class OffSessionCharge:
    """A charge of a saved method with no payer present (port 1.6). `order_id` plays the role it
    plays in `PaymentOrder`: the provider's idempotency key, unique per attempt."""

    order_id: str
    amount: Money
    description: str
    payment_method: str
    token: str
    customer_reference: str | None = None
    lines: tuple[OrderLine, ...] = ()
    notify_url: str | None = None


class ChargeState(str, enum.Enum):
    SUCCEEDED = "succeeded"
    FAILED = "failed"  # declined: `failure_reason` says why
    PENDING = "pending"  # the provider is still processing it: a notification or a query settles it
    REQUIRES_PAYER = "requires_payer"  # authentication needed (3-D Secure): open a session instead


@attrs.frozen
class ChargeResult:
    order_id: str
    state: ChargeState
    provider_reference: str | None = None  # Stripe `pi_…`: passed to `query_payment` later
    failure_reason: str | None = None
    payer_id: str | None = None


class RefundState(str, enum.Enum):
    PENDING = "pending"
    SUCCEEDED = "succeeded"
    FAILED = "failed"


@attrs.frozen
class RefundResult:
    refund_order_id: str
    state: RefundState
    provider_reference: str | None = None
    failure_reason: str | None = None  # port 1.5: the provider's reason when `state` is FAILED


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
    payer_id: str | None = None  # port 1.3: the provider's id of the payer (openid, buyer_id, …)


class NotificationOutcome(str, enum.Enum):
    """What became of a notification, for `acknowledge` to answer in the provider's terms."""

    ACCEPTED = "accepted"  # applied, a duplicate, or authentic but not matching: stop re-sending
    REJECTED = "rejected"  # signature missing, wrong or stale: changes nothing (401)
    RETRY = "retry"  # processing failed transiently (nothing applied): the provider should re-deliver (5xx)


@attrs.frozen
class Acknowledgement:
    """The HTTP answer a provider expects to a notification.

    `status`: 2xx for ACCEPTED, 401 for REJECTED, 5xx for RETRY (each provider's own choice within
    those). `content_type` is the whole `Content-Type` header value, any valid media type with its
    parameters (`application/json`, `text/plain;charset=utf-8`), sent verbatim; `body` the raw bytes.
    """

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
        """Ask for a refund (asynchronous at every provider: often `PENDING`, settled later by a
        notification or `query_refund`). Never more than is left of the payment in total: beyond
        it, or for an unpaid order, `ProviderError`.

        Calling it again with the same `refund_order_id` (after a timeout, or to send a failed refund
        again) never refunds twice: it answers the refund already made under that id, in its current
        state, or makes it once if the first call never arrived. `ProviderUnavailableError` means the
        outcome is unknown: query it, or call again with the same id."""
        ...

    async def query_refund(self, refund_order_id: str, payment_order_id: str) -> RefundResult:
        """The provider's view of the refund `refund_order_id` of the paid order `payment_order_id`
        (the core follows a `PENDING` refund with it). A refund the provider does not know raises
        `RefundNotFoundError` (port 1.1): it never arrived, and the core sends it again with the
        same id, which never refunds twice. (A port 1.0 plugin answers `FAILED` or a plain
        `ProviderError` instead; the core then leaves the refund as it is.)"""
        ...

    def parse_notification(self, headers: Mapping[str, str], body: bytes) -> ProviderEvent:
        """Verify a notification over its raw bytes (signature and freshness, ±300 s inclusive),
        decrypt it if needed and translate it (see "Notifications" above). Header names match in
        any case. Raises `InvalidSignatureError` for anything unverifiable or unreadable, and no
        other exception."""
        ...

    def acknowledge(self, outcome: NotificationOutcome) -> Acknowledgement:
        """The answer this provider expects for `outcome`: ACCEPTED 2xx (WeChat 200/204, Alipay
        `success`, Stripe 200); REJECTED 401 and RETRY 5xx, in the provider's own error format
        where it has one (WeChat `{"code": "FAIL", "message": …}`)."""
        ...


class ProviderWithPages(PaymentProvider, Protocol):
    """A provider that serves pages of its own (optional, port 1.1; see "Optional members")."""

    def web_routes(self) -> Iterable[Any]:
        """`aiohttp.web.RouteDef`s on absolute paths; a handler raises `web.HTTPNotFound` for what
        is not its own (another provider offering the same path is then tried)."""
        ...


class ProviderWithRotatingKeys(PaymentProvider, Protocol):
    """A provider whose verification keys can change under it (optional, port 1.3)."""

    async def prepare_notification(self, headers: Mapping[str, str], body: bytes) -> None:
        """Fetch what verifying this notification needs and is not held yet (WeChat Pay platform
        certificates by `Wechatpay-Serial`). Never raises: `parse_notification` refuses what it
        still cannot verify."""
        ...


class ProviderWithSavedMethods(PaymentProvider, Protocol):
    """A provider that keeps payment methods for off-session charges (optional, port 1.6; its
    capabilities say `can_save_methods=True`)."""

    async def create_customer(self, user_id: str) -> str | None:
        """The provider's customer for our user `user_id`, made once (idempotent); None if the
        provider needs none."""
        ...

    async def saved_method(self, order_id: str, *, provider_reference: str | None = None) -> SavedMethodDetails | None:
        """The method the succeeded payment `order_id` saved (it was opened with `save_method`)."""
        ...

    async def charge_saved_method(self, charge: OffSessionCharge) -> ChargeResult:
        """Charge a saved method off-session; the same `order_id` never charges twice. Raises
        `ProviderError`, or `ProviderUnavailableError` when the outcome is unknown."""
        ...

    async def detach_saved_method(self, token: str, *, customer_reference: str | None = None) -> None:
        """Make the method unusable at the provider; one already detached is not an error."""
        ...


def saves_methods(provider: PaymentProvider) -> bool:
    """Whether the provider keeps methods for off-session charges (port 1.6)."""
    return bool(getattr(provider.capabilities, "can_save_methods", False))


def can_save_method(provider: PaymentProvider, method: str) -> bool:
    """Whether the provider keeps `method` (a method id it serves) for off-session charges (port 1.6)."""
    capability = provider.capabilities.method(method)
    return saves_methods(provider) and capability is not None and bool(getattr(capability, "can_save", True))


async def prepare_notification(provider: PaymentProvider, headers: Mapping[str, str], body: bytes) -> None:
    """Call the provider's optional `prepare_notification` (port 1.3), if it has one."""
    prepare = getattr(provider, "prepare_notification", None)
    if prepare is not None:
        await prepare(headers, body)


async def call_with_reference(call: Any, order_id: str, provider_reference: str | None) -> Any:
    """Await `call(order_id)` (a provider's `query_payment` or `close_payment`), passing
    `provider_reference=` when the method declares it (port 1.4)."""
    if _takes_reference(call):
        return await call(order_id, provider_reference=provider_reference)
    return await call(order_id)


def _takes_reference(call: Any) -> bool:
    function = getattr(call, "__func__", call)
    known = _REFERENCE_TAKERS.get(function)
    if known is None:
        try:
            parameters = inspect.signature(call).parameters
        except (TypeError, ValueError):
            parameters = {}
        known = _REFERENCE_TAKERS[function] = any(
            p.kind is inspect.Parameter.VAR_KEYWORD
            or (p.name == "provider_reference" and p.kind is not inspect.Parameter.POSITIONAL_ONLY)
            for p in parameters.values())
    return known


_REFERENCE_TAKERS: dict[Any, bool] = {}  # per function, not per instance: a signature never changes


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
