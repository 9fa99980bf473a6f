"""The Stripe provider: the port's calls over Stripe Checkout Sessions (PROTOCOLS.md §4).

- `open_payment`: `POST /v1/checkout/sessions` (`mode=payment`, one CNY line item of the amount,
  `payment_method_types` by method, `client_reference_id` and `metadata` = our order and session
  ids, `expires_at` clamped into Stripe's 30 min – 24 h window, `success_url`/`cancel_url` = the
  order's `return_url`), `Idempotency-Key: <order id>`. The payer pays (3-D Secure
  included) on Stripe's hosted page, the session's `url`; `provider_reference` is its `cs_…` id.
- The port names orders by our order id; Stripe names sessions by its own id and cannot filter
  them by `client_reference_id`. The core passes the `cs_…` id it stored with the order to
  `query_payment`/`close_payment` (port 1.4), so one GET finds it. Without it the plugin remembers the sessions it opened or was notified
  about (this process, bounded), and otherwise looks the order up among the sessions created in
  the last 25 hours (`GET /v1/checkout/sessions?created[gte]=…`, newest first; sessions live at
  most 24 h). See docs/providers/stripe.md, "Finding a session by our order id".
- `query_payment`/`close_payment`: retrieve the session (`status`, `payment_status`; its payment
  intent's latest charge expanded for the paid time and the payer's fingerprint), expire it
  (`POST …/expire`, `Idempotency-Key: expire-<order id>`).
- `refund`/`query_refund`: refunds on the session's payment intent, found again by
  `metadata[refund_order_id]` before any POST (so a retry after Stripe forgot the idempotency key,
  24 h on, still never refunds twice), `Idempotency-Key: <refund order id>`.
- Saved cards (port 1.6, cards only: `intents`): `create_customer` (`POST /v1/customers`,
  `metadata[user_id]`, `Idempotency-Key: customer-<user id>`); a payment that asks to save opens its
  session with `customer` and `payment_intent_data[setup_future_usage]=off_session`; `saved_method`
  reads the session's payment method back (`expand[]=payment_intent.payment_method`);
  `charge_saved_method` confirms a PaymentIntent off-session (`off_session=true`, `confirm=true`,
  `Idempotency-Key: <order id>`, `metadata[order_id]` alone: see `events` for why), whose `pi_…`
  then names the order to `query_payment`/`close_payment` (`POST …/cancel`)/`refund`;
  `detach_saved_method` (`POST /v1/payment_methods/{pm}/detach`).
- Notifications: `Stripe-Signature` (`signature`), events in the port's terms (`events`).
"""
from __future__ import annotations

import hashlib
from collections import OrderedDict
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from domain.errors import InvalidSignatureError, ProviderError, RefundNotFoundError
from plugins.stripe import events, intents, signature
from plugins.stripe.client import (
    StripeApi,
    StripeCardError,
    StripeError,
    StripeIdempotencyError,
    StripeNotFoundError,
)
from plugins.stripe.settings import StripeSettings, read_settings
from ports.clock import Clock
from ports.payment_provider import (
    Acknowledgement,
    ChargeResult,
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

__all__ = ["CAPABILITIES", "StripeProvider"]

_FLOWS = (Flow.REDIRECT, Flow.MOBILE_REDIRECT)  # Stripe's hosted page serves desktops and phones alike
CAPABILITIES = ProviderCapabilities(
    methods=(
        MethodCapability("credit_card", "Card", _FLOWS),
        # WeChat Pay and Alipay through Stripe take no setup_future_usage: only cards are saved
        MethodCapability("wechat_pay", "WeChat Pay", _FLOWS, can_save=False),
        MethodCapability("alipay", "Alipay", _FLOWS, can_save=False),
    ),
    currencies=("CNY",),
    can_save_methods=True,
)
PAYMENT_METHOD_TYPES = {"credit_card": "card", "wechat_pay": "wechat_pay", "alipay": "alipay"}
# Stripe's reasons for a refund; ours travel in metadata[reason] as well
REFUND_REASONS = {"duplicate_payment": "duplicate", "requested_by_customer": "requested_by_customer"}
REFUND_STATES = {"succeeded": RefundState.SUCCEEDED, "pending": RefundState.PENDING,
                 "requires_action": RefundState.PENDING, "failed": RefundState.FAILED,
                 "canceled": RefundState.FAILED}

MIN_LIFETIME = timedelta(minutes=30)  # Stripe's window for expires_at, from the session's creation
MAX_LIFETIME = timedelta(hours=24)
CLAMP_MARGIN = timedelta(minutes=1)  # off each end of the window, for the clocks' difference
CLAMP_STEP = 300  # a clamped time is rounded to 5 minutes, so that a retry soon after sends the same one
LOOKUP_WINDOW = timedelta(hours=25)  # sessions live 24 h at most
LOOKUP_PAGES = 20  # of 100 sessions each
PREPARE_TIMEOUT_SECONDS = 3.0  # the payer lookup before parsing must not hold Stripe's delivery long
REMEMBERED = 10_000  # order ids → session ids kept in memory, and payers found for notifications
_JSON = "application/json; charset=utf-8"
_PAID_EVENTS = ("checkout.session.completed", "checkout.session.async_payment_succeeded")
_CHARGE = "payment_intent.latest_charge"
_SAVED = "payment_intent.payment_method"
MAX_IDEMPOTENCY_KEY = 255  # Stripe's limit on an Idempotency-Key's length


class StripeProvider:
    """See the module docstring."""

    requires_port = (1, 6)  # 1.3: flows, payer_id, prepare_notification; 1.5: refund failure_reason; 1.6: saved cards

    def __init__(self, settings: StripeSettings, *, http: httpx.AsyncClient, clock: Clock, name: str = "stripe",
                 ) -> None:
        self.name = name
        self._settings = settings
        self._clock = clock
        self._api = StripeApi(http, secret_key=settings.secret_key, api_base=settings.api_base)
        self._sessions: OrderedDict[str, str] = OrderedDict()  # our order id → cs_…
        self._intents: OrderedDict[str, str] = OrderedDict()  # our order id of an off-session charge → pi_…
        self._payers: OrderedDict[str, str] = OrderedDict()  # cs_… → payer id found by prepare_notification

    @classmethod
    def from_settings(cls, settings: Mapping[str, str], *, http: httpx.AsyncClient, clock: Clock,
                      production: bool = False) -> StripeProvider:
        """PAYMENTS_STRIPE_SECRET_KEY, PAYMENTS_STRIPE_WEBHOOK_SECRETS (comma-separated),
        PAYMENTS_STRIPE_API_BASE (default https://api.stripe.com) and the shared PAYMENTS_PUBLIC_URL
        (where the payer returns when an order has no return URL). A test key is refused in production."""
        return cls(read_settings(settings, production=production), http=http, clock=clock)

    @property
    def capabilities(self) -> ProviderCapabilities:
        return CAPABILITIES

    @property
    def merchant_id(self) -> str | None:
        return None  # events carry no account id outside Stripe Connect

    # ------------------------------------------------------------------ orders
    async def open_payment(self, order: PaymentOrder) -> PaymentInstructions:
        method_type = PAYMENT_METHOD_TYPES.get(order.payment_method)
        if method_type is None:
            raise ProviderError(f"Stripe does not serve the payment method {order.payment_method!r} here")
        try:
            session = await self._api.post("/v1/checkout/sessions", params=self.session_params(order, method_type),
                                           idempotency_key=order.order_id)
        except StripeIdempotencyError:
            # The key was first used with other parameters (a clamped expires_at moves with the
            # time): the session made then is the order's.
            found = await self._find_session(order.order_id)
            if found is None:
                raise
            session = found
        url, reference = session.get("url"), session.get("id")
        if not (isinstance(url, str) and url and isinstance(reference, str) and reference.startswith("cs_")):
            raise ProviderError("Stripe answered a Checkout Session without its url or id")
        self._remember(self._sessions, order.order_id, reference)
        return PaymentInstructions(payment_url=url, qr_code=None, provider_reference=reference)

    def session_params(self, order: PaymentOrder, method_type: str) -> dict[str, Any]:
        """The form parameters of the order's Checkout Session."""
        ids = {"order_id": order.order_id, "session_id": order.session_id}
        return_url = order.return_url or self._settings.public_url
        params: dict[str, Any] = {
            "mode": "payment",
            "line_items": [{"quantity": 1, "price_data": {
                "currency": order.amount.currency.code.lower(), "unit_amount": order.amount.amount,
                "product_data": {"name": order.description or f"Order {order.order_id}"}}}],
            "payment_method_types": [method_type],
            "client_reference_id": order.order_id,
            "metadata": ids,
            "payment_intent_data": {"metadata": ids},
            "expires_at": self.stripe_expires_at(order.expires_at),
            "success_url": return_url,
            "cancel_url": return_url,
        }
        if method_type == "wechat_pay":
            params["payment_method_options"] = {"wechat_pay": {"client": "web"}}
        if order.save_method:
            if method_type != "card":
                raise ProviderError(f"Stripe saves cards only, not {order.payment_method!r}")
            if not order.customer_reference:
                raise ProviderError("saving a card at Stripe needs the user's Stripe customer (create_customer)")
            params["customer"] = order.customer_reference
            params["payment_intent_data"]["setup_future_usage"] = "off_session"
        return params

    def stripe_expires_at(self, expires_at: datetime) -> int:
        """Our expiry as Stripe's `expires_at`, clamped into its window (30 min – 24 h from now, a
        minute inside each end). An earlier expiry of ours still holds: the core closes the order
        (`close_payment`, which expires the session) when ours passes."""
        now = int(self._clock.now().timestamp())
        ours = int(expires_at.timestamp())
        earliest = now + int((MIN_LIFETIME + CLAMP_MARGIN).total_seconds())
        latest = now + int((MAX_LIFETIME - CLAMP_MARGIN).total_seconds())
        if ours < earliest:
            return -(-earliest // CLAMP_STEP) * CLAMP_STEP  # rounded up
        if ours > latest:
            return latest // CLAMP_STEP * CLAMP_STEP  # rounded down
        return ours

    async def query_payment(self, order_id: str, *, provider_reference: str | None = None) -> PaymentStatus:
        if not self._is_charge(order_id, provider_reference):
            session = await self._find_session(order_id, expand=True, reference=provider_reference)
            if session is not None:
                return events.session_status(order_id, session)
        intent = await self._find_intent(order_id, reference=provider_reference)  # an off-session charge
        if intent is None:
            return PaymentStatus(order_id, PaymentState.PENDING)
        return intents.intent_status(order_id, intent)

    async def close_payment(self, order_id: str, *, provider_reference: str | None = None) -> None:
        if self._is_charge(order_id, provider_reference):
            await self._cancel_intent(order_id, provider_reference)
            return
        session = await self._find_session(order_id, reference=provider_reference)
        if session is None or session.get("status") == "expired":
            return
        if session.get("status") == "open":
            try:
                await self._api.post("/v1/checkout/sessions/{}/expire", session["id"],
                                     idempotency_key=f"expire-{order_id}")
                return
            except StripeError:  # only an open session can be expired: it may have just ended
                session = await self._retrieve(session["id"]) or session
                if session.get("status") == "expired":
                    return
                if session.get("status") == "open":
                    raise
        raise ProviderError(f"Stripe Checkout Session of order {order_id} is complete "
                            f"({session.get('payment_status')}) and cannot be closed")

    # ------------------------------------------------------------------ refunds
    async def refund(self, refund: RefundOrder) -> RefundResult:
        intent = await self._paid_intent_of(refund.payment_order_id, refund.provider_reference)
        if intent is None:
            raise ProviderError(f"order {refund.payment_order_id} is not paid at Stripe: nothing to refund")
        made = await self._refund_of(intent, refund.refund_order_id)
        if made is None:
            params = {"payment_intent": intent, "amount": refund.amount.amount,
                      "reason": REFUND_REASONS.get(refund.reason),
                      "metadata": {"order_id": refund.payment_order_id, "refund_order_id": refund.refund_order_id,
                                   "reason": refund.reason}}
            made = await self._api.post("/v1/refunds", params=params,
                                        idempotency_key=refund.refund_order_id)
        return _refund_result(refund.refund_order_id, made)

    async def query_refund(self, refund_order_id: str, payment_order_id: str) -> RefundResult:
        intent = await self._paid_intent_of(payment_order_id, None)
        made = await self._refund_of(intent, refund_order_id) if intent else None
        if made is None:
            raise RefundNotFoundError(f"Stripe has no refund {refund_order_id} of order {payment_order_id}")
        return _refund_result(refund_order_id, made)

    async def _paid_intent_of(self, order_id: str, reference: str | None) -> str | None:
        """The id of the payment intent that paid our order `order_id` (its session's, or its
        off-session charge), None when unpaid or unknown."""
        if not self._is_charge(order_id, reference):
            session = None
            if reference and reference.startswith("cs_"):
                session = await self._retrieve(reference)
            if session is None or events.session_order_id(session) != order_id:
                session = await self._find_session(order_id)
            if session is not None:
                return _paid_intent(session)
        intent = await self._find_intent(order_id, reference=reference)
        return intent["id"] if intent is not None and intent.get("status") == "succeeded" else None

    async def _refund_of(self, payment_intent: str, refund_order_id: str) -> dict[str, Any] | None:
        """The refund of `payment_intent` made under `refund_order_id`, if any."""
        params: dict[str, Any] = {"payment_intent": payment_intent, "limit": 100}
        for _ in range(LOOKUP_PAGES):
            page = await self._list("/v1/refunds", params)
            refunds = [r for r in page.get("data") or () if isinstance(r, dict)]
            for refund in refunds:
                metadata = refund.get("metadata") if isinstance(refund.get("metadata"), dict) else {}
                if metadata.get("refund_order_id") == refund_order_id:
                    return refund
            if not page.get("has_more") or not refunds:
                return None
            params["starting_after"] = refunds[-1].get("id")
        return None

    # ------------------------------------------------------------------ sessions by our order id
    async def _retrieve(self, session_id: str, *, expand: bool | str = False,
                        timeout: float | None = None) -> dict[str, Any] | None:
        """The session `session_id`; `expand`: True for its payment intent's latest charge, or a path."""
        fields = [_CHARGE if expand is True else expand] if expand else None
        try:
            return await self._api.get("/v1/checkout/sessions/{}", session_id,
                                       params={"expand": fields} if fields else None, timeout=timeout)
        except StripeNotFoundError:
            return None

    async def _find_session(self, order_id: str, *, expand: bool | str = False,
                            reference: str | None = None) -> dict[str, Any] | None:
        """The Checkout Session of our order `order_id`, or None when Stripe has none. The core
        hands over the session id it stored (`reference`, port 1.4): then one GET finds it."""
        known = reference if reference and reference.startswith("cs_") else self._sessions.get(order_id)
        if known is not None:
            session = await self._retrieve(known, expand=expand)
            if session is not None and events.session_order_id(session) == order_id:
                return session
            self._sessions.pop(order_id, None)
        since = int((self._clock.now() - LOOKUP_WINDOW).timestamp())
        params: dict[str, Any] = {"limit": 100, "created": {"gte": since}}
        for _ in range(LOOKUP_PAGES):
            page = await self._list("/v1/checkout/sessions", params)
            sessions = [s for s in page.get("data") or () if isinstance(s, dict)]
            for session in sessions:
                if events.session_order_id(session) == order_id and isinstance(session.get("id"), str):
                    self._remember(self._sessions, order_id, session["id"])
                    return await self._retrieve(session["id"], expand=expand) if expand else session
            if not page.get("has_more") or not sessions:
                return None
            params["starting_after"] = sessions[-1].get("id")
        return None

    async def _list(self, path: str, params: Mapping[str, Any]) -> dict[str, Any]:
        """A page of a list; a list Stripe says does not exist (404) is an empty one."""
        try:
            return await self._api.get(path, params=params)
        except StripeNotFoundError:
            return {"object": "list", "data": [], "has_more": False}

    @staticmethod
    def _remember(memory: OrderedDict[str, str], key: str, value: str) -> None:
        memory[key] = value
        memory.move_to_end(key)
        while len(memory) > REMEMBERED:
            memory.popitem(last=False)

    # ------------------------------------------------------------------ saved cards (port 1.6)
    async def create_customer(self, user_id: str) -> str | None:
        """One Stripe customer per user: the core stores it and asks once; the key covers a retry
        within the 24 h Stripe keeps it."""
        customer = await self._api.post("/v1/customers", params={"metadata": {"user_id": user_id}},
                                        idempotency_key=_derived_key("customer", user_id))
        customer_id = customer.get("id")
        if not (isinstance(customer_id, str) and customer_id.startswith("cus_")):
            raise ProviderError("Stripe answered a customer without its id")
        return customer_id

    async def saved_method(self, order_id: str, *, provider_reference: str | None = None,
                           ) -> SavedMethodDetails | None:
        session = await self._find_session(order_id, expand=_SAVED, reference=provider_reference)
        if session is None or session.get("payment_status") != "paid":
            return None
        intent = session.get("payment_intent")
        method = intent.get("payment_method") if isinstance(intent, dict) else None
        if isinstance(method, str) and method:
            try:
                method = await self._api.get("/v1/payment_methods/{}", method)
            except StripeNotFoundError:
                return None
        if not isinstance(method, dict) or not method.get("customer"):  # not kept for later charges
            return None
        return intents.saved_method_details(method)

    async def charge_saved_method(self, charge: OffSessionCharge) -> ChargeResult:
        if PAYMENT_METHOD_TYPES.get(charge.payment_method) != "card":
            raise ProviderError(f"Stripe charges saved cards only, not {charge.payment_method!r}")
        known = self._intents.get(charge.order_id)
        if known is not None:  # this process charged the order already: its answer, never a second charge
            intent = await self._retrieve_intent(known)
            if intent is not None and events.intent_order_id(intent) == charge.order_id:
                return intents.charge_result(charge.order_id, intent)
        params: dict[str, Any] = {
            "amount": charge.amount.amount, "currency": charge.amount.currency.code.lower(),
            "customer": charge.customer_reference, "payment_method": charge.token,
            "payment_method_types": ["card"], "off_session": True, "confirm": True,
            "description": charge.description or f"Order {charge.order_id}",
            "metadata": {"order_id": charge.order_id},  # no session_id: see `events`
        }
        try:
            intent = await self._api.post("/v1/payment_intents", params=params, idempotency_key=charge.order_id)
        except StripeCardError as declined:  # the intent stays, in requires_payment_method
            if declined.payment_intent_id:
                self._remember(self._intents, charge.order_id, declined.payment_intent_id)
            return intents.declined(charge.order_id, declined)
        except StripeIdempotencyError:
            found = await self._find_intent(charge.order_id)
            if found is None:
                raise
            intent = found
        if isinstance(intent.get("id"), str):
            self._remember(self._intents, charge.order_id, intent["id"])
        return intents.charge_result(charge.order_id, intent)

    async def detach_saved_method(self, token: str, *, customer_reference: str | None = None) -> None:
        try:
            await self._api.post("/v1/payment_methods/{}/detach", token, idempotency_key=_derived_key("detach", token))
            return
        except StripeNotFoundError:
            return
        except StripeError:  # Stripe refuses to detach one that is not attached: look before calling it a failure
            try:
                method = await self._api.get("/v1/payment_methods/{}", token)
            except StripeNotFoundError:
                return
            if not method.get("customer"):
                return
            raise

    # ------------------------------------------------------------------ off-session charges by our order id
    def _is_charge(self, order_id: str, reference: str | None) -> bool:
        """Whether the order is an off-session charge (its `pi_…` given or remembered), not a session."""
        return bool(reference and reference.startswith("pi_")) or order_id in self._intents

    async def _retrieve_intent(self, intent_id: str) -> dict[str, Any] | None:
        try:
            return await self._api.get("/v1/payment_intents/{}", intent_id, params={"expand": ["latest_charge"]})
        except StripeNotFoundError:
            return None

    async def _find_intent(self, order_id: str, *, reference: str | None = None) -> dict[str, Any] | None:
        """The PaymentIntent of our off-session charge `order_id` (its latest charge expanded), or
        None: by the `pi_…` the core stored, else among those created in the last 25 hours."""
        known = reference if reference and reference.startswith("pi_") else self._intents.get(order_id)
        if known is not None:
            intent = await self._retrieve_intent(known)
            if intent is not None and events.intent_order_id(intent) == order_id:
                return intent
            self._intents.pop(order_id, None)
        since = int((self._clock.now() - LOOKUP_WINDOW).timestamp())
        params: dict[str, Any] = {"limit": 100, "created": {"gte": since}}
        for _ in range(LOOKUP_PAGES):
            page = await self._list("/v1/payment_intents", params)
            found = [i for i in page.get("data") or () if isinstance(i, dict)]
            for intent in found:
                if events.intent_order_id(intent) == order_id and isinstance(intent.get("id"), str):
                    self._remember(self._intents, order_id, intent["id"])
                    return await self._retrieve_intent(intent["id"])
            if not page.get("has_more") or not found:
                return None
            params["starting_after"] = found[-1].get("id")
        return None

    async def _cancel_intent(self, order_id: str, reference: str | None) -> None:
        """Close an off-session charge: cancel its intent unless it succeeded (a `ProviderError`)."""
        intent = await self._find_intent(order_id, reference=reference)
        if intent is None or intent.get("status") == "canceled":
            return
        if intent.get("status") != "succeeded":
            try:
                await self._api.post("/v1/payment_intents/{}/cancel", intent["id"],
                                     idempotency_key=f"cancel-{order_id}")
                return
            except StripeError:  # it may have just settled
                intent = await self._retrieve_intent(intent["id"]) or intent
                if intent.get("status") == "canceled":
                    return
                if intent.get("status") != "succeeded":
                    raise
        raise ProviderError(f"Stripe charged order {order_id} already: it cannot be closed")

    # ------------------------------------------------------------------ notifications
    async def prepare_notification(self, headers: Mapping[str, str], body: bytes) -> None:
        """For an authentic payment of a session without a customer, find the payer's fingerprint
        (the event's session does not carry its charge): retrieve the session with its payment
        intent's latest charge. Also remembers the session of the order. Never raises: without it
        the event still parses, with no payer id."""
        try:
            signature.verify(headers, body, self._settings.webhook_secrets, int(self._clock.now().timestamp()))
            event = events.read_event(body)
            session = event["data"]["object"]
            order_id, session_id = events.session_order_id(session), session.get("id")
            if not (event["type"].startswith("checkout.session.") and order_id and isinstance(session_id, str)):
                return
            self._remember(self._sessions, order_id, session_id)
            if event["type"] in _PAID_EVENTS and not events.session_payer(session):
                expanded = await self._retrieve(session_id, expand=True, timeout=PREPARE_TIMEOUT_SECONDS)
                payer = events.session_payer(expanded) if expanded else None
                if payer:
                    self._remember(self._payers, session_id, payer)
        except Exception:  # noqa: BLE001 - the hook never raises; parse_notification decides
            return

    def parse_notification(self, headers: Mapping[str, str], body: bytes) -> ProviderEvent:
        signature.verify(headers, body, self._settings.webhook_secrets, int(self._clock.now().timestamp()))
        event = events.read_event(body)
        try:
            return events.to_provider_event(event, self._payers)
        except InvalidSignatureError:
            raise
        except Exception as error:  # an authentic event of an unexpected shape: refused, never a crash
            raise InvalidSignatureError(f"The Stripe event {event['id']} is unreadable "
                                        f"({type(error).__name__}).") from None

    def acknowledge(self, outcome: NotificationOutcome) -> Acknowledgement:
        if outcome is NotificationOutcome.ACCEPTED:
            return Acknowledgement(200, _JSON, b'{"received": true}')
        # Refusals and retries in the service's error shape (the contract), which Stripe only logs
        if outcome is NotificationOutcome.REJECTED:
            return Acknowledgement(401, _JSON, b'{"error": {"code": "unauthorized", '
                                               b'"message": "Invalid or stale Stripe-Signature.", "details": {}}}')
        return Acknowledgement(503, _JSON, b'{"error": {"code": "provider_unavailable", '
                                           b'"message": "Try again later.", "details": {}}}')


def _derived_key(kind: str, value: str) -> str:
    """An Idempotency-Key for `kind` of `value`, hashed when it would pass Stripe's length limit."""
    key = f"{kind}-{value}"
    if len(key) <= MAX_IDEMPOTENCY_KEY:
        return key
    return f"{kind}-sha256-{hashlib.sha256(value.encode()).hexdigest()}"


def _paid_intent(session: dict[str, Any] | None) -> str | None:
    """The payment intent id of a paid session."""
    if session is None or session.get("payment_status") != "paid":
        return None
    intent = session.get("payment_intent")
    intent = intent.get("id") if isinstance(intent, dict) else intent
    return intent if isinstance(intent, str) and intent else None


def _refund_result(refund_order_id: str, refund: dict[str, Any]) -> RefundResult:
    state = REFUND_STATES.get(refund.get("status"))
    if state is None:
        raise ProviderError(f"Stripe answered refund {refund_order_id} in an unknown status")
    reference = refund.get("id")
    reason = None
    if state is RefundState.FAILED:  # Stripe's failure_reason (`insufficient_funds`, …); a canceled one has none
        given = refund.get("failure_reason")
        reason = given if isinstance(given, str) and given else refund.get("status")
    return RefundResult(refund_order_id, state, reference if isinstance(reference, str) else None,
                        failure_reason=reason)
