"""The conformance kit for payment provider plugins: one pytest suite that any plugin runs against
itself, checking the contract of `ports.payment_provider.PaymentProvider` through the plugin's
own fake remote side.

How to use it. In the plugin's tests, give the kit a *harness* (see `Harness` below; `BaseHarness`
fills in the generic parts) and subclass `ProviderConformance`:

    from plugins.conformance import BaseHarness, ProviderConformance

    class MyHarness(BaseHarness):
        def __init__(self):
            self.clock = MyFixedClock(...)
            self.remote = MyFakeRemote(...)              # the provider's server side, in memory
            http = httpx.AsyncClient(transport=httpx.MockTransport(self.remote.handle))
            self.provider = plugins.discover(["my"], SETTINGS, http=http, clock=self.clock)["my"]
        def signed_notification(self, order, *, succeeded=True): ...
        def forged_notification(self, order): ...
        def stale_notification(self, order, *, age_seconds=301): ...
        def pay_remotely(self, order_id): ...

    class TestMyProvider(ProviderConformance):
        def harness(self):
            return MyHarness()

Instead of the `harness()` method, a pytest fixture named `harness` (in the class, the module or a
conftest) may build it, e.g. to tear something down after each test or to parametrise the suite
over several set-ups. A new harness is built for every test.

The checks are `async` test methods: run them with pytest-asyncio (`asyncio_mode = auto`, or
`pytestmark = pytest.mark.asyncio` in the module that subclasses the kit).

What is checked (each a test method named by the rule it checks): the provider is installed as an
entry point of group `payments.providers` under its `name` with a factory
`(settings, *, http, clock)`, and has the port's calls (I/O calls async, `parse_notification` and
`acknowledge` not); capabilities are well formed (known method ids, flows, ISO currencies);
`open_payment` gives a URL and/or QR code and is idempotent for the same `order_id`; an order the
provider does not know queries as PENDING; a remotely paid order queries as SUCCEEDED with its
amount; `close_payment` is idempotent, unknown orders close quietly and paid ones are refused;
refunds of paid orders succeed or pend, the same `refund_order_id` again never refunds twice,
refunds never exceed the payment, unpaid orders are refused; authentic notifications parse to the
right `ProviderEventKind` with event id, order id and `Money` amount, the same notification
always has the same event id and different ones have different ids; a notification whose amount
differs from the order's still parses (the core detects the mismatch); header names match in any
case; a missing signature, a tampered body, a wrong key, a stale or future timestamp, garbage and
an authentic but unreadable body are refused with `InvalidSignatureError`, and non-ASCII junk in
any header is refused so or ignored, never any other exception; `acknowledge` answers 2xx to
ACCEPTED, 4xx to REJECTED and no 2xx to RETRY; and, when the harness can make its remote fail,
5xx answers, refused connections and timeouts raise `ProviderUnavailableError`, a 4xx refusal a
plain `ProviderError`, and no `httpx` exception ever escapes.

Skips are declared, never guessed: refund checks skip when the capabilities say `can_refund=False`
(likewise `can_query`, `can_close`, `can_refund_partially`); the harness declares what its
protocol lacks with `sends_failure_notifications = False` or `signs_timestamps = False`, and
leaves out the optional `signed_refund_notification`, `sign_body` or `fail_remote_with` when it
cannot do them. Every skip names its reason.

This module is only imported by tests; it needs no pytest to be imported (the service's own
run-time environment has none), only to run.
"""
from __future__ import annotations

import inspect
import secrets
from collections.abc import Awaitable, Callable, Mapping
from datetime import timedelta
from typing import Any, Protocol

import attrs
import httpx

from domain.catalog import PAYMENT_METHODS
from domain.errors import InvalidSignatureError, ProviderError, ProviderUnavailableError
from domain.money import Currency, Money
from ports.clock import Clock
from ports.payment_provider import (
    Acknowledgement,
    Flow,
    NotificationOutcome,
    PaymentInstructions,
    PaymentOrder,
    PaymentProvider,
    PaymentState,
    ProviderEvent,
    ProviderEventKind,
    RefundOrder,
    RefundResult,
    RefundState,
)

try:
    import pytest
except ImportError:  # the service at run time: the kit can be imported, not run
    pytest = None  # type: ignore[assignment]

__all__ = ["BaseHarness", "Harness", "Notification", "ProviderConformance", "TOLERANCE_SECONDS", "new_order_id"]

Notification = tuple[dict[str, str], bytes]  # (headers, raw body), as the provider would POST them
TOLERANCE_SECONDS = 300  # the port's freshness window for notifications (±)
_ALPHANUMERIC = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"


class Harness(Protocol):
    """What the kit needs from a plugin's tests. `BaseHarness` implements the generic members.

    `provider` is a built instance wired to a fake remote side that behaves like the real
    provider's servers: orders opened by `order_id`, paid by `pay_remotely`, closable, refundable
    up to the paid amount (and never beyond), an unknown order answered as the provider answers it.

    Notifications are `(headers, raw body)` exactly as the provider would POST them:
    - `signed_notification(order, succeeded=)`: an authentic one saying that `order` (its id and
      amount *as given*, which the kit sometimes changes) was paid, or failed/closed unpaid.
    - `forged_notification(order)`: the same, but signed with a key that is not ours.
    - `stale_notification(order, age_seconds=)`: authentic, signed `age_seconds` ago (negative: in
      the future).
    - `tamper(headers, body, order)`: an authentic notification changed after signing.
    - `strip_signature(headers, body)`: one with its signature removed.

    Optional members (leave them out, or set the flags, when the protocol has no such thing):
    - `sends_failure_notifications: bool` (default True) - the provider notifies unpaid endings.
    - `signs_timestamps: bool` (default True) - notifications carry a signed time to check.
    - `signed_refund_notification(order, refund_order_id, succeeded=)` - an authentic refund one.
    - `sign_body(body)` - the headers that make any raw `body` authentic (for bodies that only a
      buggy provider would send: the plugin must refuse them, not crash).
    - `fail_remote_with(failure)` - from now on every call to the remote fails: `failure` is an
      HTTP status (answer it, in the provider's own error format) or an `httpx` exception
      instance (raise it from the transport, as a refused connection or a timeout would);
      `fail_remote_with(None)` makes the remote work again.
    `pay_remotely` and `fail_remote_with` may be sync or async.
    """

    provider: PaymentProvider

    def order(self, **changes: Any) -> PaymentOrder: ...

    def signed_notification(self, order: PaymentOrder, *, succeeded: bool = True) -> Notification: ...

    def forged_notification(self, order: PaymentOrder) -> Notification: ...

    def stale_notification(self, order: PaymentOrder, *, age_seconds: int = TOLERANCE_SECONDS + 1) -> Notification: ...

    def tamper(self, headers: Mapping[str, str], body: bytes, order: PaymentOrder) -> Notification: ...

    def strip_signature(self, headers: Mapping[str, str], body: bytes) -> Notification: ...

    def pay_remotely(self, order_id: str) -> None | Awaitable[None]: ...


class BaseHarness:
    """The generic half of a `Harness`. A subclass sets `provider` and `clock` and implements
    `signed_notification`, `forged_notification`, `stale_notification` and `pay_remotely`
    (plus the optional members it can offer)."""

    provider: PaymentProvider
    clock: Clock
    sends_failure_notifications: bool = True
    signs_timestamps: bool = True

    def order(self, **changes: Any) -> PaymentOrder:
        """A fresh order (new random `order_id`) for the provider's first method and currency,
        expiring in an hour; `changes` replace any field."""
        capabilities = self.provider.capabilities
        order = PaymentOrder(
            order_id=new_order_id(), session_id=f"ps_{secrets.token_hex(8)}",
            amount=Money(1700, Currency.of(capabilities.currencies[0])), description="10 receives",
            payment_method=capabilities.methods[0].id, expires_at=self.clock.now() + timedelta(hours=1),
            notify_url=f"https://payments.example.test/api/v1/payments/webhooks/{self.provider.name}",
            return_url="https://app.example.test/payments/done",
        )
        return attrs.evolve(order, **changes)

    def tamper(self, headers: Mapping[str, str], body: bytes, order: PaymentOrder) -> Notification:
        """Another order id in the body, keeping the signature. Override it when the order id
        does not appear in the raw body (an encrypted resource, say)."""
        if order.order_id.encode() not in body:
            raise NotImplementedError(f"{type(self).__name__}.tamper: the order id does not appear in the raw "
                                      "body; override tamper() to change the body some other way")
        other = order.order_id[:-1] + ("0" if order.order_id[-1] != "0" else "1")
        return dict(headers), body.replace(order.order_id.encode(), other.encode())

    def strip_signature(self, headers: Mapping[str, str], body: bytes) -> Notification:
        """The notification without its `*Signature*` headers. Override it when the signature
        travels elsewhere (Alipay's `sign` form field)."""
        kept = {name: value for name, value in headers.items() if "signature" not in name.lower()}
        if len(kept) == len(headers):
            raise NotImplementedError(f"{type(self).__name__}.strip_signature: no header is named *signature*; "
                                      "override strip_signature() to remove the signature")
        return kept, body


def new_order_id(prefix: str = "C") -> str:
    """A random merchant order number, 21 characters of [A-Za-z0-9] (the port allows 6-32)."""
    return prefix + "".join(secrets.choice(_ALPHANUMERIC) for _ in range(20))


def _fixture(function: Callable) -> Callable:
    return pytest.fixture(function) if pytest is not None else function


def _skip(reason: str) -> None:
    import pytest as runner  # only ever called under pytest

    runner.skip(reason)


async def _settle(result: Any) -> Any:
    return await result if inspect.isawaitable(result) else result


@attrs.frozen
class _Paid:
    order: PaymentOrder
    instructions: PaymentInstructions

    def refund(self, amount: Money | None = None, refund_order_id: str | None = None) -> RefundOrder:
        return RefundOrder(
            refund_order_id=refund_order_id or new_order_id("R"), payment_order_id=self.order.order_id,
            amount=amount or self.order.amount, payment_total=self.order.amount, reason="requested_by_customer",
            provider_reference=self.instructions.provider_reference, notify_url=self.order.notify_url,
        )


class ProviderConformance:
    """Subclass it as `Test…` and give it a harness: `def harness(self)` in the subclass, or a
    pytest fixture named `harness`. Each check is a test method requesting that fixture."""

    def __init_subclass__(cls, **kwargs: Any) -> None:
        """A plain `def harness(self)` becomes the class's pytest fixture `harness`, which every
        check requests (a fixture `harness` defined anywhere else is used as it is)."""
        super().__init_subclass__(**kwargs)
        plain = cls.__dict__.get("harness")
        if inspect.isfunction(plain):
            cls.harness = _fixture(plain)  # type: ignore[attr-defined]

    # ------------------------------------------------------------------ helpers
    @staticmethod
    async def _opened(h: Harness, **changes: Any) -> tuple[PaymentOrder, PaymentInstructions]:
        order = h.order(**changes)
        return order, await h.provider.open_payment(order)

    async def _paid(self, h: Harness) -> _Paid:
        order, instructions = await self._opened(h)
        await _settle(h.pay_remotely(order.order_id))
        return _Paid(order, instructions)

    @staticmethod
    def _require(h: Harness, capability: str) -> None:
        if not getattr(h.provider.capabilities, capability):
            _skip(f"{h.provider.name} declares {capability}=False")

    @staticmethod
    def _authentic(h: Harness, order: PaymentOrder, *, succeeded: bool = True) -> ProviderEvent:
        headers, body = h.signed_notification(order, succeeded=succeeded)
        try:
            event = h.provider.parse_notification(headers, body)
        except Exception as error:
            raise AssertionError(f"an authentic notification was refused: {type(error).__name__}: {error}") from error
        assert isinstance(event, ProviderEvent), event
        assert isinstance(event.event_id, str) and event.event_id, f"no event id: {event!r}"
        assert isinstance(event.kind, ProviderEventKind), event.kind
        return event

    @staticmethod
    def _refused(h: Harness, headers: Mapping[str, str], body: bytes, what: str) -> None:
        try:
            event = h.provider.parse_notification(headers, body)
        except InvalidSignatureError:
            return
        except Exception as error:
            raise AssertionError(f"{what}: raised {type(error).__name__} ({error}); "
                                 "every refusal must be InvalidSignatureError") from error
        raise AssertionError(f"{what}: accepted as {event!r}; it must raise InvalidSignatureError")

    @staticmethod
    async def _failing(h: Harness, call: Awaitable[Any]) -> Exception | None:
        try:
            await call
        except Exception as error:  # the checks look at exactly what escaped
            return error
        return None

    async def _calls_against_a_failing_remote(self, h: Harness, failure: int | Exception) -> dict[str, Exception | None]:
        """Each of the provider's remote calls, made after the remote started failing with `failure`."""
        fail_remote_with = getattr(h, "fail_remote_with", None)
        if fail_remote_with is None:
            _skip(f"the harness of {h.provider.name} cannot make its remote fail (no fail_remote_with)")
        capabilities = h.provider.capabilities
        opened, _ = await self._opened(h)
        paid = await self._paid(h) if capabilities.can_refund else None
        await _settle(fail_remote_with(failure))
        calls: dict[str, Callable[[], Awaitable[Any]]] = {"open_payment": lambda: h.provider.open_payment(h.order())}
        if capabilities.can_query:
            calls["query_payment"] = lambda: h.provider.query_payment(opened.order_id)
        if capabilities.can_close:
            calls["close_payment"] = lambda: h.provider.close_payment(opened.order_id)
        if paid is not None:
            refund = paid.refund()
            calls["refund"] = lambda: h.provider.refund(refund)
            calls["query_refund"] = lambda: h.provider.query_refund(refund.refund_order_id, paid.order.order_id)
        escaped = {name: await self._failing(h, call()) for name, call in calls.items()}
        await _settle(fail_remote_with(None))
        return escaped

    # ------------------------------------------------------------------ the plugin and its capabilities
    async def test_the_provider_is_installed_under_its_name_with_a_factory_taking_settings_http_and_clock(
            self, harness: Harness) -> None:
        from importlib.metadata import entry_points

        name = harness.provider.name
        assert isinstance(name, str) and name, f"provider.name must be its entry-point name, not {name!r}"
        installed = {ep.name: ep for ep in entry_points(group="payments.providers")}
        assert name in installed, (f"no entry point {name!r} in group payments.providers (installed: "
                                   f"{', '.join(sorted(installed)) or 'none'}); declare it and reinstall the plugin")
        factory = installed[name].load()
        assert callable(factory), f"entry point {name!r} does not name a callable factory"
        try:
            inspect.signature(factory).bind({}, http=None, clock=None)
        except TypeError as error:
            raise AssertionError(f"factory {installed[name].value} must accept (settings, *, http, clock): {error}")

    async def test_the_provider_has_every_call_of_the_port_async_where_it_does_io(self, harness: Harness) -> None:
        provider = harness.provider
        for name in ("open_payment", "query_payment", "close_payment", "refund", "query_refund"):
            assert inspect.iscoroutinefunction(getattr(provider, name, None)), f"{name} must be an async method"
        for name in ("parse_notification", "acknowledge"):
            method = getattr(provider, name, None)
            assert callable(method) and not inspect.iscoroutinefunction(method), f"{name} must be a plain method"
        assert provider.merchant_id is None or (isinstance(provider.merchant_id, str) and provider.merchant_id)

    async def test_capabilities_name_at_least_one_method_and_only_method_ids_the_service_knows(
            self, harness: Harness) -> None:
        methods = harness.provider.capabilities.methods
        assert methods, "a provider serves at least one payment method"
        ids = [m.id for m in methods]
        assert len(ids) == len(set(ids)), f"method ids repeat: {ids}"
        unknown = [i for i in ids if i not in PAYMENT_METHODS]
        assert not unknown, (f"methods {unknown} are not in domain.catalog.PAYMENT_METHODS "
                             f"({', '.join(PAYMENT_METHODS)}): routes could never reach them")
        assert all(isinstance(m.name, str) and m.name for m in methods), "every method has a display name"

    async def test_every_method_offers_at_least_one_flow_and_only_known_flows(self, harness: Harness) -> None:
        for method in harness.provider.capabilities.methods:
            assert method.flows, f"method {method.id} offers no flow"
            assert all(isinstance(f, Flow) for f in method.flows), f"method {method.id}: flows must be Flow values"
            assert len(set(method.flows)) == len(method.flows), f"method {method.id} repeats a flow"

    async def test_capabilities_name_at_least_one_currency_as_an_iso_4217_code(self, harness: Harness) -> None:
        currencies = harness.provider.capabilities.currencies
        assert currencies, "a provider takes at least one currency"
        for code in currencies:
            assert isinstance(code, str) and len(code) == 3 and code.isascii() and code.isupper(), \
                f"{code!r} is not an ISO 4217 code"

    async def test_partial_refunds_are_only_declared_together_with_refunds(self, harness: Harness) -> None:
        capabilities = harness.provider.capabilities
        assert capabilities.can_refund or not capabilities.can_refund_partially

    # ------------------------------------------------------------------ orders
    async def test_open_payment_returns_a_payment_url_or_a_qr_code(self, harness: Harness) -> None:
        _, instructions = await self._opened(harness)

        assert isinstance(instructions, PaymentInstructions)
        assert instructions.payment_url or instructions.qr_code, "the payer needs a URL to visit or a code to scan"
        for value in (instructions.payment_url, instructions.qr_code, instructions.provider_reference):
            assert value is None or (isinstance(value, str) and value)

    async def test_open_payment_again_with_the_same_order_is_idempotent(self, harness: Harness) -> None:
        h = harness
        order, first = await self._opened(h)

        again = await h.provider.open_payment(order)

        # Equal URLs are not required (a signed page URL may carry its own timestamp); the same
        # provider order is, and the same kind of instructions.
        assert again.provider_reference == first.provider_reference
        assert (bool(again.payment_url), bool(again.qr_code)) == (bool(first.payment_url), bool(first.qr_code))
        await _settle(h.pay_remotely(order.order_id))
        if h.provider.capabilities.can_query:
            status = await h.provider.query_payment(order.order_id)
            assert (status.state, status.amount) == (PaymentState.SUCCEEDED, order.amount)

    async def test_querying_an_order_the_provider_does_not_know_is_pending_not_an_error(
            self, harness: Harness) -> None:
        self._require(harness, "can_query")
        order_id = new_order_id()

        status = await harness.provider.query_payment(order_id)

        assert (status.order_id, status.state) == (order_id, PaymentState.PENDING)

    async def test_querying_an_opened_unpaid_order_is_pending(self, harness: Harness) -> None:
        self._require(harness, "can_query")
        order, _ = await self._opened(harness)

        status = await harness.provider.query_payment(order.order_id)

        assert (status.order_id, status.state) == (order.order_id, PaymentState.PENDING)

    async def test_querying_an_order_paid_remotely_is_succeeded_with_its_amount(self, harness: Harness) -> None:
        self._require(harness, "can_query")
        paid = await self._paid(harness)

        status = await harness.provider.query_payment(paid.order.order_id)

        assert (status.order_id, status.state) == (paid.order.order_id, PaymentState.SUCCEEDED)
        assert isinstance(status.amount, Money) and status.amount == paid.order.amount, \
            f"a paid order reports its amount as Money ({status.amount!r}, ordered {paid.order.amount!r})"

    async def test_closing_an_order_twice_is_not_an_error_and_leaves_it_closed(self, harness: Harness) -> None:
        h = harness
        self._require(h, "can_close")
        order, _ = await self._opened(h)

        await h.provider.close_payment(order.order_id)
        await h.provider.close_payment(order.order_id)

        if h.provider.capabilities.can_query:
            assert (await h.provider.query_payment(order.order_id)).state is PaymentState.CLOSED

    async def test_closing_an_order_the_provider_does_not_know_is_not_an_error(self, harness: Harness) -> None:
        self._require(harness, "can_close")

        await harness.provider.close_payment(new_order_id())

    async def test_closing_a_paid_order_is_refused_with_provider_error(self, harness: Harness) -> None:
        h = harness
        self._require(h, "can_close")
        paid = await self._paid(h)

        error = await self._failing(h, h.provider.close_payment(paid.order.order_id))

        assert isinstance(error, ProviderError), f"closing a paid order must raise ProviderError, not {error!r}"
        if h.provider.capabilities.can_query:
            assert (await h.provider.query_payment(paid.order.order_id)).state is PaymentState.SUCCEEDED

    # ------------------------------------------------------------------ refunds
    async def test_refunding_a_paid_order_succeeds_or_pends(self, harness: Harness) -> None:
        h = harness
        self._require(h, "can_refund")
        refund = (await self._paid(h)).refund()

        result = await h.provider.refund(refund)

        assert isinstance(result, RefundResult)
        assert (result.refund_order_id, result.state in (RefundState.SUCCEEDED, RefundState.PENDING)) == \
            (refund.refund_order_id, True), result

    async def test_the_same_refund_id_again_never_refunds_twice(self, harness: Harness) -> None:
        h = harness
        self._require(h, "can_refund")
        paid = await self._paid(h)
        refund = paid.refund()  # all of it: a second refund of it could only exceed the payment

        first = await h.provider.refund(refund)
        again = await h.provider.refund(refund)

        assert again.refund_order_id == first.refund_order_id == refund.refund_order_id
        assert again.state in (RefundState.SUCCEEDED, RefundState.PENDING), again
        # The remote really holds the whole amount refunded once: not even one minor unit more is refundable.
        error = await self._failing(h, h.provider.refund(paid.refund(Money(1, paid.order.amount.currency))))
        assert isinstance(error, ProviderError), f"a refund beyond the payment must raise ProviderError, not {error!r}"

    async def test_partial_refunds_add_up_to_the_payment_and_no_further(self, harness: Harness) -> None:
        h = harness
        self._require(h, "can_refund_partially")
        paid = await self._paid(h)
        currency = paid.order.amount.currency
        half = paid.order.amount.amount // 2
        first = paid.refund(Money(half, currency))
        rest = paid.refund(Money(paid.order.amount.amount - half, currency))

        results = [await h.provider.refund(first), await h.provider.refund(rest), await h.provider.refund(first)]

        assert all(r.state in (RefundState.SUCCEEDED, RefundState.PENDING) for r in results), results
        error = await self._failing(h, h.provider.refund(paid.refund(Money(1, currency))))
        assert isinstance(error, ProviderError), f"a refund beyond the payment must raise ProviderError, not {error!r}"

    async def test_refunding_an_unpaid_order_is_refused_with_provider_error(self, harness: Harness) -> None:
        h = harness
        self._require(h, "can_refund")
        order, instructions = await self._opened(h)

        error = await self._failing(h, h.provider.refund(_Paid(order, instructions).refund()))

        assert isinstance(error, ProviderError), f"refunding an unpaid order must raise ProviderError, not {error!r}"

    async def test_a_submitted_refund_can_be_queried(self, harness: Harness) -> None:
        h = harness
        self._require(h, "can_refund")
        paid = await self._paid(h)
        refund = paid.refund()
        await h.provider.refund(refund)

        result = await h.provider.query_refund(refund.refund_order_id, paid.order.order_id)

        assert result.refund_order_id == refund.refund_order_id
        assert result.state in (RefundState.SUCCEEDED, RefundState.PENDING), result

    # ------------------------------------------------------------------ notifications
    async def test_an_authentic_payment_notification_is_a_payment_succeeded_event_with_order_and_amount(
            self, harness: Harness) -> None:
        h = harness
        order = h.order()

        event = self._authentic(h, order)

        assert event.kind is ProviderEventKind.PAYMENT_SUCCEEDED
        assert event.order_id == order.order_id
        assert isinstance(event.amount, Money) and event.amount == order.amount, (event.amount, order.amount)
        assert event.merchant_id is None or event.merchant_id == h.provider.merchant_id

    async def test_an_authentic_failure_notification_is_a_payment_failed_or_closed_event(
            self, harness: Harness) -> None:
        h = harness
        if not getattr(h, "sends_failure_notifications", True):
            _skip(f"the harness declares that {h.provider.name} sends no notification of unpaid endings")
        order = h.order()

        event = self._authentic(h, order, succeeded=False)

        assert event.kind in (ProviderEventKind.PAYMENT_FAILED, ProviderEventKind.PAYMENT_CLOSED), event.kind
        assert event.order_id == order.order_id

    async def test_an_authentic_refund_notification_is_a_refund_event_with_its_refund_id(
            self, harness: Harness) -> None:
        h = harness
        signed_refund_notification = getattr(h, "signed_refund_notification", None)
        if signed_refund_notification is None:
            _skip(f"the harness of {h.provider.name} has no signed_refund_notification (it sends none)")
        order, refund_order_id = h.order(), new_order_id("R")

        for succeeded, kind in ((True, ProviderEventKind.REFUND_SUCCEEDED), (False, ProviderEventKind.REFUND_FAILED)):
            event = h.provider.parse_notification(*signed_refund_notification(order, refund_order_id, succeeded=succeeded))
            assert (event.kind, event.order_id, event.refund_order_id) == (kind, order.order_id, refund_order_id)

    async def test_the_same_notification_parsed_twice_has_the_same_event_id(self, harness: Harness) -> None:
        h = harness
        headers, body = h.signed_notification(h.order())

        first = h.provider.parse_notification(dict(headers), body)
        again = h.provider.parse_notification(dict(headers), body)

        assert first.event_id == again.event_id

    async def test_notifications_about_different_orders_have_different_event_ids(self, harness: Harness) -> None:
        h = harness

        ids = {self._authentic(h, h.order()).event_id for _ in range(3)}

        assert len(ids) == 3, "the event id is the de-duplication key: distinct notifications must not share it"

    async def test_a_notification_whose_amount_differs_from_the_order_still_parses(self, harness: Harness) -> None:
        h = harness
        order = h.order()
        claimed = Money(order.amount.amount + 1, order.amount.currency)

        event = self._authentic(h, attrs.evolve(order, amount=claimed))

        # Verified and translated as it is: the core compares it with the order and keeps it apart.
        assert (event.order_id, event.amount) == (order.order_id, claimed)

    async def test_header_names_are_matched_case_insensitively(self, harness: Harness) -> None:
        h = harness
        order = h.order()
        headers, body = h.signed_notification(order)

        for variant in ({k.lower(): v for k, v in headers.items()}, {k.upper(): v for k, v in headers.items()}):
            assert h.provider.parse_notification(variant, body).order_id == order.order_id, variant

    async def test_a_notification_without_its_signature_is_refused(self, harness: Harness) -> None:
        h = harness
        headers, body = h.signed_notification(h.order())

        self._refused(h, *h.strip_signature(headers, body), "a notification without its signature")

    async def test_a_notification_whose_body_was_changed_after_signing_is_refused(self, harness: Harness) -> None:
        h = harness
        order = h.order()
        headers, body = h.signed_notification(order)
        tampered_headers, tampered = h.tamper(headers, body, order)
        assert tampered != body, "tamper() must change the body"

        self._refused(h, tampered_headers, tampered, "a tampered body")

    async def test_a_notification_signed_with_another_key_is_refused(self, harness: Harness) -> None:
        h = harness

        self._refused(h, *h.forged_notification(h.order()), "a notification signed with another key")

    async def test_a_notification_older_or_newer_than_the_tolerance_is_refused(self, harness: Harness) -> None:
        h = harness
        if not getattr(h, "signs_timestamps", True):
            _skip(f"the harness declares that {h.provider.name}'s notifications carry no signed time")
        order = h.order()

        self._refused(h, *h.stale_notification(order, age_seconds=TOLERANCE_SECONDS + 1), "a notification 301 s old")
        self._refused(h, *h.stale_notification(order, age_seconds=-(TOLERANCE_SECONDS + 1)),
                      "a notification signed 301 s in the future")
        self._refused(h, *h.stale_notification(order, age_seconds=86400), "a notification a day old")

    async def test_a_notification_within_the_tolerance_is_accepted(self, harness: Harness) -> None:
        h = harness
        if not getattr(h, "signs_timestamps", True):
            _skip(f"the harness declares that {h.provider.name}'s notifications carry no signed time")
        order = h.order()

        for age in (TOLERANCE_SECONDS - 10, -(TOLERANCE_SECONDS - 10)):
            assert h.provider.parse_notification(*h.stale_notification(order, age_seconds=age)).order_id == order.order_id

    async def test_garbage_is_refused_with_invalid_signature_error_and_nothing_else(self, harness: Harness) -> None:
        h = harness
        headers, body = h.signed_notification(h.order())
        cases = {
            "no headers and no body": ({}, b""),
            "an empty body": (headers, b""),
            "a body that is not what the provider sends": (headers, b"<xml>hello</xml>"),
            "bytes that are no text": (headers, b"\xff\xfe\x00\x81"),
            "half of the body": (headers, body[: len(body) // 2]),
        }
        for what, (case_headers, case_body) in cases.items():
            self._refused(h, dict(case_headers), case_body, what)

    async def test_an_authentic_but_unreadable_body_is_refused_with_invalid_signature_error(
            self, harness: Harness) -> None:
        h = harness
        sign_body = getattr(h, "sign_body", None)
        if sign_body is None:
            _skip(f"the harness of {h.provider.name} cannot sign arbitrary bodies (no sign_body)")
        for body in (b"", b"null", b"[]", b"{}", b"not what the provider sends", b"\xff\xfe", b'{"type": 1}'):
            self._refused(h, sign_body(body), body, f"the authentic but unreadable body {body!r}")

    async def test_a_header_with_non_ascii_junk_is_refused_or_ignored_never_a_crash(self, harness: Harness) -> None:
        h = harness
        headers, body = h.signed_notification(h.order())

        for name in headers:
            junk = {**headers, name: headers[name] + "\u00e9\u2603"}
            try:
                h.provider.parse_notification(junk, body)
            except InvalidSignatureError:
                pass
            except Exception as error:
                raise AssertionError(f"non-ASCII junk in header {name}: raised {type(error).__name__} ({error}); "
                                     "every refusal must be InvalidSignatureError") from error

    # ------------------------------------------------------------------ acknowledgements
    async def test_acknowledging_an_accepted_notification_is_a_2xx(self, harness: Harness) -> None:
        ack = harness.provider.acknowledge(NotificationOutcome.ACCEPTED)

        assert isinstance(ack, Acknowledgement) and 200 <= ack.status < 300, ack
        assert isinstance(ack.content_type, str) and ack.content_type and isinstance(ack.body, bytes)

    async def test_acknowledging_a_rejected_notification_is_a_4xx(self, harness: Harness) -> None:
        ack = harness.provider.acknowledge(NotificationOutcome.REJECTED)

        assert isinstance(ack, Acknowledgement) and 400 <= ack.status < 500, ack
        assert isinstance(ack.content_type, str) and ack.content_type and isinstance(ack.body, bytes)

    async def test_acknowledging_a_notification_to_retry_is_no_2xx_so_the_provider_resends(
            self, harness: Harness) -> None:
        ack = harness.provider.acknowledge(NotificationOutcome.RETRY)

        assert isinstance(ack, Acknowledgement) and 400 <= ack.status < 600, ack
        assert isinstance(ack.content_type, str) and ack.content_type and isinstance(ack.body, bytes)

    # ------------------------------------------------------------------ a failing remote
    async def test_a_remote_5xx_is_provider_unavailable_for_every_call(self, harness: Harness) -> None:
        for status in (500, 503):
            escaped = await self._calls_against_a_failing_remote(harness, status)
            wrong = {call: error for call, error in escaped.items() if not isinstance(error, ProviderUnavailableError)}
            assert not wrong, f"after HTTP {status}, expected ProviderUnavailableError from each call, got {wrong}"

    async def test_a_refused_connection_or_a_timeout_is_provider_unavailable_and_no_httpx_error_escapes(
            self, harness: Harness) -> None:
        for failure in (httpx.ConnectError("connection refused"), httpx.ReadTimeout("timed out")):
            escaped = await self._calls_against_a_failing_remote(harness, failure)
            wrong = {call: error for call, error in escaped.items() if not isinstance(error, ProviderUnavailableError)}
            assert not wrong, f"after {failure!r}, expected ProviderUnavailableError from each call, got {wrong}"

    async def test_a_remote_4xx_refusal_is_a_provider_error_whose_outcome_is_known(self, harness: Harness) -> None:
        escaped = await self._calls_against_a_failing_remote(harness, 400)

        wrong = {call: error for call, error in escaped.items()
                 if not isinstance(error, ProviderError)
                 or isinstance(error, (ProviderUnavailableError, InvalidSignatureError))}
        assert not wrong, f"after HTTP 400, expected a plain ProviderError (not unavailable) from each call, got {wrong}"
