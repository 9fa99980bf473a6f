"""The mock provider plugin (entry point `mock`): the port, over the mock's own remote side.

Modules: `provider` (this: the port's calls), `wire` (its notifications: body, `Mock-Signature`,
reading), `checkout` (its hosted checkout page, served through the port's `web_routes()` hook),
`remote` (which orders exist, paid, closed or refunded: in memory or in a SQLite file shared by the
service's processes) and `faults` (fault drills).

It offers every flow for every method (`CAPABILITIES`; each method's first flow is its real
providers' usual one). An order keeps its flow: `qr_code` answers the page's URL as both
`payment_url` and `qr_code`, `redirect` and `mobile_redirect` only as `payment_url`, and the page
fits it (a code to scan, a desktop page, a phone's page).

Its checkout page is `{PAYMENTS_PUBLIC_URL}/mock-checkout/{session_id}`; pressing Pay there settles
the order and sends the signed notification to the order's `notify_url`, re-sent with back-off until
acknowledged. Acknowledgements: 200 `{"received": true}`; a refusal 401 and a retry 503, both in the
service's error format.

Refunds settle at its remote side `PAYMENTS_MOCK_REFUND_DELAY_SECONDS` after they are asked for
(`faults`). With the default 0 a refund that succeeds settles while it is asked for and `refund`
answers `succeeded`, no notification following (the answer said it all): the service's own tests and
demos then see a refund end at once, as they did before, and no test waits. With a delay, `refund`
answers `pending` and the refund settles that many seconds later: a timer in the process that took
it settles it and sends the signed refund notification (`refund.succeeded`/`refund.failed`, see
`wire`) to the refund's `notify_url`, re-sent like payment notifications; `query_refund` settles a
refund that is due itself (the process that took it may have stopped), and whoever settles it (one
process: a compare-and-set at the remote) sends the notification. The `refund_outcome=failed` drill
always answers `pending`: its refunds settle `failed`, with the reason, after the delay (at once
after the answer when it is 0). A refund id asked again answers that refund as it stands; a failed one
is sent again as a new attempt (an admin's retry), its amount refundable again.

Saved methods (port 1.6, docs/saved-methods.md): it saves a method for every method it serves. An
order opened with `save_method` and paid keeps the payer's method (`saved_method`: "Mock card ••••
4242", brand visa, 12/2030), which behaves as the `card` the payer chose on the checkout page:
`ok` (default: its off-session charges succeed), `declines` (each is declined, `card_declined`)
or `requires_action` (each needs the payer: `REQUIRES_PAYER`). Charges are idempotent by order id
(the same id answers the first outcome) and are answered at once, with no notification (the
answer says it all); a detached method cannot be charged (`ProviderError`). Customers are
`mock_cus_…`, derived from the user id (the same user, the same customer).
"""
from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
from collections.abc import Mapping
from datetime import timedelta
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from domain.errors import ProviderError, ProviderUnavailableError, RefundNotFoundError
from plugins.mock import wire
from plugins.mock.faults import REFUND_FAILURE_REASON, FaultPlan
from plugins.mock.remote import (
    InMemoryRemote,
    MockOrder,
    MockRefund,
    MockSavedMethod,
    OrderConflictError,
    SqliteRemote,
)
from plugins.mock.wire import SIGNATURE_HEADER, TOLERANCE_SECONDS
from ports.clock import Clock
from ports.payment_provider import (
    Acknowledgement,
    ChargeResult,
    ChargeState,
    Flow,
    MethodCapability,
    NotificationOutcome,
    OffSessionCharge,
    PaymentInstructions,
    PaymentOrder,
    PaymentState,
    PaymentStatus,
    ProviderCapabilities,
    ProviderEvent,
    RefundOrder,
    RefundResult,
    RefundState,
    SavedMethodDetails,
)

if TYPE_CHECKING:
    import httpx

__all__ = ["CAPABILITIES", "DEVELOPMENT_WEBHOOK_SECRET", "MockProvider", "SIGNATURE_HEADER", "TOLERANCE_SECONDS"]

DEVELOPMENT_WEBHOOK_SECRET = "development-mock-webhook-secret"
DEFAULT_STATE_PATH = "./payments-mock.sqlite3"
# Seconds before each delivery attempt of a notification (the first one at once).
REDELIVERY_DELAYS = (0, 1, 2, 5, 10, 30, 60, 120, 300, 600)
_JSON = "application/json; charset=utf-8"
# Refusals in the service's own error shape (`details` on every error)
_REFUSED = b'{"error": {"code": "unauthorized", "message": "Invalid Mock-Signature.", "details": {}}}'
_TRY_AGAIN = b'{"error": {"code": "provider_unavailable", "message": "Try again later.", "details": {}}}'

log = logging.getLogger("payments.mock")

_QR_FIRST = (Flow.QR_CODE, Flow.REDIRECT, Flow.MOBILE_REDIRECT)
# Every flow for every method (the real plugins offer fewer); each method's first flow, its
# default, is the one its real providers start with.
CAPABILITIES = ProviderCapabilities(
    methods=(
        MethodCapability("wechat_pay", "WeChat Pay", _QR_FIRST),
        MethodCapability("alipay", "Alipay", _QR_FIRST),
        MethodCapability("credit_card", "Card", (Flow.REDIRECT, Flow.MOBILE_REDIRECT, Flow.QR_CODE)),
        MethodCapability("mock", "Mock", _QR_FIRST),
    ),
    currencies=("CNY",),
    can_save_methods=True,
)
CARDS = ("ok", "declines", "requires_action")  # the checkout page's `card` field: what a saved method does
SAVED_LABEL = "Mock card •••• 4242"
DECLINE_CODE = "card_declined"


def order_flow(order: PaymentOrder) -> Flow:
    """The flow `order` asked for (an older core's order, with none: its method's first)."""
    if order.flow is not None:
        return order.flow
    capability = CAPABILITIES.method(order.payment_method)
    return capability.flows[0] if capability is not None else Flow.QR_CODE


class MockProvider:
    """See the module docstring."""

    # web_routes(), the acknowledgement of RETRY (1.1), the orders' lines (1.2), their flow (1.3),
    # the reason of a failed refund (1.5), saved methods (1.6)
    requires_port = (1, 6)

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
        """Settings (its own, as every plugin's): PAYMENTS_MOCK_WEBHOOK_SECRET, PAYMENTS_MOCK_STATE_PATH
        (the file of its remote side, default ./payments-mock.sqlite3), PAYMENTS_MOCK_FAULTS,
        PAYMENTS_MOCK_TIMEOUT_SECONDS, PAYMENTS_MOCK_LOSE_NOTIFICATIONS and
        PAYMENTS_MOCK_REFUND_DELAY_SECONDS (fault drills and the refunds' pace, see `faults`);
        and the shared PAYMENTS_PUBLIC_URL, the base of its checkout page's URL."""
        state_path = settings.get("PAYMENTS_MOCK_STATE_PATH") or DEFAULT_STATE_PATH
        return cls(webhook_secret=settings.get("PAYMENTS_MOCK_WEBHOOK_SECRET") or DEVELOPMENT_WEBHOOK_SECRET,
                   public_url=settings.get("PAYMENTS_PUBLIC_URL") or "http://127.0.0.1:8080", clock=clock,
                   http=http, remote=SqliteRemote(state_path),
                   faults=FaultPlan.from_settings(settings))

    def inject_fault(self, operation: str, error: ProviderError, times: int = 1) -> None:
        """Make the next `times` calls of `operation` ("open_payment", "query_payment",
        "close_payment", "refund", "query_refund") raise `error`, as a failing remote would (fault
        drills)."""
        self._faults.setdefault(operation, []).extend([error] * times)

    @property
    def fault_plan(self) -> FaultPlan:
        """The drills in force (tests and demos may change them while it runs: lift a drill, say)."""
        return self._plan

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
        url = self.checkout_url(order.session_id)
        # A code to scan encodes the page; a redirect flow sends the payer's browser to it (no code).
        qr_code = url if order_flow(order) is Flow.QR_CODE else None
        return PaymentInstructions(payment_url=url, qr_code=qr_code, provider_reference=f"mock_{order.order_id}")

    async def query_payment(self, order_id: str) -> PaymentStatus:
        fault = self._maybe_fail("query_payment")
        found = self._remote.get(order_id)
        await self._lose_answer("query_payment", fault)
        if found is None:
            return PaymentStatus(order_id, PaymentState.PENDING)
        declined = DECLINE_CODE if found.order.session_id.startswith("offsession:") else "declined"  # a charge's code
        return PaymentStatus(order_id, found.state, found.order.amount, f"mock_{order_id}",
                             failure_reason=declined if found.state is PaymentState.FAILED else None)

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
        existing = self._remote.get_refund(refund.refund_order_id)
        if existing is None or existing.state is RefundState.FAILED:  # new, or a failed one sent again
            if refund.amount.amount + found.refunded > found.order.amount.amount:
                raise ProviderError("refund exceeds the payment")
            fails = self._plan.refund_fails()
            delay = self._plan.refund_delay_seconds
            outcome = RefundState.FAILED if fails else RefundState.SUCCEEDED
            at_once = delay == 0 and not fails
            if self._remote.refund(MockRefund(
                    refund.refund_order_id, refund.payment_order_id, refund.amount.amount,
                    outcome if at_once else RefundState.PENDING, outcome, REFUND_FAILURE_REASON if fails else None,
                    self._clock.now() + timedelta(seconds=delay), refund.notify_url)) and not at_once:
                self._in_background(self._settle_later(refund.refund_order_id, delay))
        await self._lose_answer("refund", fault)
        stored = self._remote.get_refund(refund.refund_order_id)
        assert stored is not None
        return _refund_result(stored)

    async def query_refund(self, refund_order_id: str, payment_order_id: str) -> RefundResult:
        fault = self._maybe_fail("query_refund")
        found = self._remote.get_refund(refund_order_id)
        if found is not None and found.state is RefundState.PENDING and found.settles_at is not None \
                and found.settles_at <= self._clock.now():
            self._settled(self._remote.settle_refund(refund_order_id))  # due: the remote settles it now
            found = self._remote.get_refund(refund_order_id)
        await self._lose_answer("query_refund", fault)
        if found is None:
            raise RefundNotFoundError(f"the mock has no refund {refund_order_id}")
        return _refund_result(found)

    async def _settle_later(self, refund_order_id: str, delay: float) -> None:
        await asyncio.sleep(delay)
        self._settled(self._remote.settle_refund(refund_order_id))

    def _settled(self, refund: MockRefund | None) -> None:
        """Send the notification of a refund this process just settled (None: it settled none)."""
        if refund is None or not refund.notify_url:
            return
        headers_and_body = self.refund_notification(refund.refund_order_id)
        if headers_and_body is not None and not self._lose_notifications and not self._plan.lose_notification():
            self._in_background(self.deliver(refund.notify_url, headers_and_body[1]))

    def refund_notification(self, refund_order_id: str) -> tuple[dict[str, str], bytes] | None:
        """The signed notification (headers, raw body) of refund `refund_order_id` as it settled,
        signed now; None while it is pending (or unknown)."""
        refund = self._remote.get_refund(refund_order_id)
        order = self._remote.get(refund.order_id) if refund is not None else None
        if refund is None or order is None or refund.state is RefundState.PENDING:
            return None
        return self.refund_notification_for(order.order, refund_order_id, refund.amount,
                                            refund.state is RefundState.SUCCEEDED, refund.failure_reason)

    def refund_notification_for(self, order: PaymentOrder, refund_order_id: str, amount: int, succeeded: bool,
                                failure_reason: str | None = None) -> tuple[dict[str, str], bytes]:
        """A signed notification that refund `refund_order_id` of `order` settled, signed now."""
        created = int(self._clock.now().timestamp())
        body = wire.refund_body(order, refund_order_id, amount, succeeded, created, failure_reason=failure_reason)
        return wire.headers(self._secret, body, created), body

    def _in_background(self, work: Any) -> None:
        task = asyncio.get_running_loop().create_task(work)
        self._deliveries.add(task)
        task.add_done_callback(self._deliveries.discard)

    # ------------------------------------------------------------------ saved methods (port 1.6)
    async def create_customer(self, user_id: str) -> str | None:
        return "mock_cus_" + hashlib.sha256(user_id.encode()).hexdigest()[:20]

    async def saved_method(self, order_id: str, *, provider_reference: str | None = None) -> SavedMethodDetails | None:
        fault = self._maybe_fail("saved_method")
        saved = self._remote.saved_method(_token(order_id))
        await self._lose_answer("saved_method", fault)
        if saved is None:
            return None
        return SavedMethodDetails(token=saved.token, payment_method=saved.payment_method, label=SAVED_LABEL,
                                  brand="visa", last4="4242", exp_month=12, exp_year=2030)

    async def charge_saved_method(self, charge: OffSessionCharge) -> ChargeResult:
        fault = self._maybe_fail("charge_saved_method")
        found = self._remote.get(charge.order_id)
        if found is None:
            saved = self._remote.saved_method(charge.token)
            if saved is None or saved.detached:
                raise ProviderError(f"mock payment method {charge.token} cannot be charged (unknown or detached)")
            state = {"ok": PaymentState.SUCCEEDED, "declines": PaymentState.FAILED}.get(saved.card, PaymentState.CLOSED)
            order = PaymentOrder(order_id=charge.order_id, session_id=f"offsession:{charge.order_id}",
                                 amount=charge.amount, description=charge.description,
                                 payment_method=charge.payment_method, expires_at=self._clock.now(),
                                 notify_url=charge.notify_url or "", lines=charge.lines,
                                 customer_reference=charge.customer_reference)
            found = self._remote.open(order, state)
        elif found.order.amount != charge.amount:
            raise ProviderError(f"order {charge.order_id} exists with another amount")
        await self._lose_answer("charge_saved_method", fault)
        reference = f"mock_{charge.order_id}"
        if found.state is PaymentState.SUCCEEDED:
            return ChargeResult(charge.order_id, ChargeState.SUCCEEDED, reference)
        if found.state is PaymentState.FAILED:
            return ChargeResult(charge.order_id, ChargeState.FAILED, reference, failure_reason=DECLINE_CODE)
        return ChargeResult(charge.order_id, ChargeState.REQUIRES_PAYER, reference)

    async def detach_saved_method(self, token: str, *, customer_reference: str | None = None) -> None:
        self._remote.detach(token)

    # ------------------------------------------------------------------ the payer's side
    def checkout_url(self, session_id: str) -> str:
        """The checkout page of the order opened for `session_id` (its `payment_url` and QR code)."""
        return f"{self._public_url}/mock-checkout/{session_id}"

    @property
    def public_origin(self) -> str:
        """Scheme, host and port of the public URL (where the checkout page's form posts)."""
        parts = urlsplit(self._public_url)
        return f"{parts.scheme}://{parts.netloc}"

    def checkout_form_token(self, session_id: str) -> str:
        """The checkout page's form token for `session_id`: a keyed hash only this mock can make,
        which a cross-site form cannot know (see `checkout`)."""
        return hmac.new(self._secret, b"mock-checkout-form:" + session_id.encode(), hashlib.sha256).hexdigest()[:32]

    def web_routes(self) -> list[Any]:
        """The port's page hook: the hosted checkout page (see `checkout`)."""
        from plugins.mock.checkout import routes  # aiohttp only where pages are served

        return routes(self)

    def order_for_session(self, session_id: str) -> MockOrder | None:
        """The order a checkout page shows (the page is addressed by our session id)."""
        return self._remote.by_session(session_id)

    def settle(self, order_id: str, succeeded: bool, card: str = "ok") -> tuple[dict[str, str], bytes]:
        """The payer paid (or declined) order `order_id` on the checkout page, with `card` (one of
        `CARDS`: what the method does once saved): record it and return the signed notification
        the mock sends (headers, body). An order already paid stays paid; the notification then
        says so again. A paid order opened with `save_method` keeps the method (its token)."""
        found = self._remote.get(order_id)
        if found is None:
            raise ProviderError(f"no mock order {order_id}")
        if card not in CARDS:
            raise ProviderError(f"card must be one of {', '.join(CARDS)}")
        if found.state is PaymentState.SUCCEEDED:
            succeeded = True
        else:
            self._remote.set_state(order_id, PaymentState.SUCCEEDED if succeeded else PaymentState.FAILED, card)
            if succeeded and found.order.save_method:
                self._remote.save_method(MockSavedMethod(_token(order_id), order_id, found.order.payment_method, card,
                                                         found.order.customer_reference))
        return self.notification_for(found.order, succeeded)

    def checkout(self, session_id: str, succeeded: bool, card: str = "ok") -> MockOrder:
        """The payer pressed Pay (or Decline) on the page of `session_id`: settle the order and
        send its notification to the order's `notify_url` now, re-sending with back-off until
        it is acknowledged with a 2xx (as real providers do)."""
        found = self._remote.by_session(session_id)
        if found is None:
            raise ProviderError(f"no mock order for session {session_id}")
        _, body = self.settle(found.order.order_id, succeeded, card)
        if not self._lose_notifications and not self._plan.lose_notification():
            self._in_background(self.deliver(found.order.notify_url, body))
        return self._remote.get(found.order.order_id) or found

    async def deliver(self, url: str, body: bytes) -> bool:
        """POST a notification until a 2xx answer; each attempt is signed anew (fresh `t`)."""
        import httpx  # here, not at import: a worker that never delivers does not load it

        if self._http is None:
            self._http = httpx.AsyncClient(timeout=10.0)  # in-memory set-ups inject none
        for delay in self._redelivery_delays:
            await asyncio.sleep(delay)
            headers = wire.headers(self._secret, body, int(self._clock.now().timestamp()))
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
        """Until every notification in flight was delivered or given up, and every refund waiting to
        settle has settled and been notified (tests, shutdown)."""
        while self._deliveries:
            await asyncio.gather(*list(self._deliveries), return_exceptions=True)

    def cancel_background(self) -> None:
        """Stop every notification in flight and every refund waiting to settle in this process
        (shutdown, tests; a refund left pending settles when it is next queried)."""
        for task in list(self._deliveries):
            task.cancel()

    def notification_for(self, order: PaymentOrder, succeeded: bool) -> tuple[dict[str, str], bytes]:
        """The signed notification (headers, raw body) the mock sends about `order`, signed now."""
        created = int(self._clock.now().timestamp())
        body = wire.body(order, succeeded, created)
        return wire.headers(self._secret, body, created), body

    def sign(self, body: bytes, timestamp: int) -> str:
        """The `Mock-Signature` header value of `body` sent at `timestamp`."""
        return wire.signature(self._secret, body, timestamp)

    # ------------------------------------------------------------------ notifications
    def parse_notification(self, headers: Mapping[str, str], body: bytes) -> ProviderEvent:
        wire.verify(self._secret, headers, body, int(self._clock.now().timestamp()))
        return wire.event(body)

    def acknowledge(self, outcome: NotificationOutcome) -> Acknowledgement:
        if outcome is NotificationOutcome.ACCEPTED:
            return Acknowledgement(200, _JSON, b'{"received": true}')
        if outcome is NotificationOutcome.REJECTED:
            return Acknowledgement(401, _JSON, _REFUSED)
        return Acknowledgement(503, _JSON, _TRY_AGAIN)


def _token(order_id: str) -> str:
    """The token of the method that paying order `order_id` saved."""
    return f"mock_pm_{order_id}"


def _refund_result(refund: MockRefund) -> RefundResult:
    return RefundResult(refund.refund_order_id, refund.state, f"mock_re_{refund.refund_order_id}",
                        failure_reason=refund.failure_reason if refund.state is RefundState.FAILED else None)
