"""A fake Stripe, built to Stripe's published API (PROTOCOLS.md §4) for the Stripe plugin's tests:
Checkout Sessions (create, retrieve, list, expire), payment intents and charges made when a payer
pays, refunds (create, retrieve, list), Idempotency-Key replays, Stripe's error bodies, and
webhook events signed as Stripe signs them (`Stripe-Signature`, one `v1` per endpoint secret).

Saved cards: customers (`POST /v1/customers`), payment methods made when a payer pays (from one of
Stripe's test cards, `TEST_CARDS`, and attached to the session's customer when it was opened with
`payment_intent_data[setup_future_usage]`), retrieved and detached (`POST …/detach`), and
PaymentIntents made by the API (`POST /v1/payment_intents` with `off_session=true&confirm=true`),
retrieved, listed and canceled. A declined or authentication-needing confirmation answers 402
`card_error` with the PaymentIntent in the error, as Stripe does, and that answer is replayed for
its Idempotency-Key. Checkout takes any test card (the test chooses what the saved card does later:
`pm_card_chargeCustomerFail`, Stripe's `…0341`, saves fine and declines every charge).

It answers `httpx.Request`s (`handle`, for an `httpx.MockTransport`) and, through `serve()`, real
HTTP on a local port (the end-to-end tests point `PAYMENTS_STRIPE_API_BASE` at it). The payer's
side is `pay()` / `fail_async_payment()`; the Dashboard's webhook endpoint is `webhook_url` with
`webhook_secrets`, and `deliver()` POSTs an event there as Stripe would.

Strict where Stripe is strict (the secret key, `expires_at` in 30 min – 24 h, one currency, a
refund beyond what is left) and stricter where the plugin promises more: every POST must carry an
Idempotency-Key, and a float anywhere in a form is refused.
"""
from __future__ import annotations

import hashlib
import hmac
import itertools
import json
import secrets
import time
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import parse_qsl

import httpx

API_VERSION = "2026-10-28.endive"
CHECKOUT_BASE = "https://checkout.stripe.test"
MIN_LIFETIME, MAX_LIFETIME = 30 * 60, 24 * 3600
EXP_MONTH, EXP_YEAR = 12, 2034
# Stripe's test payment methods (docs.stripe.com/testing): brand, last4, and what an off-session charge does
TEST_CARDS: dict[str, tuple[str, str, str | None, str | None]] = {
    "pm_card_visa": ("visa", "4242", None, None),
    "pm_card_mastercard": ("mastercard", "4444", None, None),
    "pm_card_chargeCustomerFail": ("visa", "0341", "card_declined", "generic_decline"),
    "pm_card_visa_chargeDeclinedInsufficientFunds": ("visa", "9995", "card_declined", "insufficient_funds"),
    "pm_card_authenticationRequired": ("visa", "3184", "authentication_required", "authentication_required"),
}
_CANCELABLE = ("requires_payment_method", "requires_capture", "requires_confirmation", "requires_action",
               "processing")


def new_webhook_secret() -> str:
    return "whsec_" + secrets.token_urlsafe(24)


def new_secret_key() -> str:
    return "sk_test_" + secrets.token_urlsafe(24)


def signature_header(body: bytes, secrets_: Iterable[str], timestamp: int) -> str:
    parts = [f"t={timestamp}"]
    for secret in secrets_:
        parts.append("v1=" + hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest())
    return ",".join(parts)


class StripeFailure(Exception):
    def __init__(self, status: int, type_: str, message: str, *, code: str | None = None, param: str | None = None,
                 decline_code: str | None = None, kept: bool = False, **more: Any) -> None:
        super().__init__(message)
        self.status = status
        self.kept = kept  # the request ran (a declined confirmation): its answer is kept for its Idempotency-Key
        self.body = {"error": {k: v for k, v in {"type": type_, "code": code, "param": param, "message": message,
                                                   "decline_code": decline_code, **more}.items() if v is not None}}


def _missing(kind: str, object_id: str, param: str = "id") -> StripeFailure:
    return StripeFailure(404, "invalid_request_error", f"No such {kind}: '{object_id}'", code="resource_missing",
                         param=param)


def _invalid(message: str, param: str | None = None, code: str | None = None) -> StripeFailure:
    return StripeFailure(400, "invalid_request_error", message, param=param, code=code)


class FakeStripe:
    """One Stripe account, in memory. `now` gives Stripe's clock (unix seconds)."""

    def __init__(self, *, secret_key: str, webhook_secrets: Iterable[str] = (), now: Callable[[], int] | None = None,
                 webhook_url: str | None = None) -> None:
        self.secret_key = secret_key
        self.webhook_secrets = list(webhook_secrets)
        self.webhook_url = webhook_url
        self.now = now or (lambda: int(time.time()))
        self.sessions: dict[str, dict[str, Any]] = {}
        self.intents: dict[str, dict[str, Any]] = {}
        self.charges: dict[str, dict[str, Any]] = {}
        self.refunds: dict[str, dict[str, Any]] = {}
        self.customers: dict[str, dict[str, Any]] = {}
        self.payment_methods: dict[str, dict[str, Any]] = {}
        self._card_of: dict[str, str] = {}  # pm_… → the test card it was made from
        # What a confirmed off-session charge of a good card becomes: `succeeded`, or `processing`
        # (settled later by `settle_intent`)
        self.charge_status = "succeeded"
        self.events: list[dict[str, Any]] = []
        self.requests: list[httpx.Request] = []
        self.refund_status = "succeeded"  # what a new refund is: `pending` for WeChat Pay/Alipay-like ones
        # A refund Stripe refuses (error code, message), e.g. ("balance_insufficient", "You have insufficient
        # funds in your Stripe account for this refund."): a 400 invalid_request_error; None: refunds are made.
        self.refund_refusal: tuple[str, str] | None = None
        # The path of a POST whose next answer is lost: Stripe does the work, the caller gets a 503.
        self.lose_answer_to: str | None = None
        self._idempotency: dict[str, tuple[str, list[tuple[str, str]], int, dict[str, Any]]] = {}
        self._failure: int | Exception | None = None
        self._serial = itertools.count(1)

    # ------------------------------------------------------------------ the test's controls
    def fail_with(self, failure: int | Exception | None) -> None:
        """From now on every call fails: an HTTP status (Stripe's error body) or an httpx
        exception raised from the transport; None: works again."""
        self._failure = failure

    def session_of(self, order_id: str) -> dict[str, Any]:
        (found,) = [s for s in self.sessions.values() if s["client_reference_id"] == order_id]
        return found

    def pay(self, order_id: str, *, fingerprint: str | None = None, customer: str | None = None,
            asynchronous: bool = False, card: str = "pm_card_visa") -> dict[str, Any]:
        """The payer pays the open session of `order_id` on Stripe's page (a card method with the
        test `card`); the event Stripe sends (`checkout.session.completed`, unpaid while an
        `asynchronous` method settles). The method is saved to the session's customer when the
        session was opened with `setup_future_usage`."""
        session = self.session_of(order_id)
        assert session["status"] == "open", session
        method = session["payment_method_types"][0]
        customer = customer or session["customer"]
        payment_method = self._payment_method(method, card, fingerprint)
        if session["setup_future_usage"] and customer:
            payment_method["customer"] = customer
        intent_id = self._id("pi")
        succeeded = not asynchronous
        charge_id = self._charge(intent_id, session["amount_total"], session["currency"], payment_method,
                                 session["payment_intent_metadata"], "succeeded" if succeeded else "pending")
        self.intents[intent_id] = {
            "id": intent_id, "object": "payment_intent", "amount": session["amount_total"],
            "currency": session["currency"], "status": "succeeded" if succeeded else "processing",
            "latest_charge": charge_id, "metadata": dict(session["payment_intent_metadata"]), "customer": customer,
            "payment_method": payment_method["id"], "setup_future_usage": session["setup_future_usage"],
            "created": self.now(), "livemode": False, "last_payment_error": None,
            "payment_method_types": [method]}
        session.update(status="complete", payment_status="paid" if succeeded else "unpaid",
                       payment_intent=intent_id, customer=customer)
        return self.event("checkout.session.completed", self._public_session(session))

    def settle_intent(self, intent_id: str, *, succeeded: bool = True) -> dict[str, Any]:
        """A `processing` PaymentIntent settles; the event Stripe sends."""
        intent = self.intents[intent_id]
        assert intent["status"] == "processing", intent
        if succeeded:
            intent["status"] = "succeeded"
            self.charges[intent["latest_charge"]]["status"] = "succeeded"
            return self.event("payment_intent.succeeded", dict(intent))
        intent.update(status="requires_payment_method", last_payment_error={
            "type": "card_error", "code": "card_declined", "decline_code": "generic_decline",
            "message": "Your card was declined.", "payment_method": self.payment_methods[intent["payment_method"]]})
        self.charges[intent["latest_charge"]]["status"] = "failed"
        return self.event("payment_intent.payment_failed", dict(intent))

    def fail_async_payment(self, order_id: str) -> dict[str, Any]:
        session = self.session_of(order_id)
        self.intents[session["payment_intent"]]["status"] = "canceled"
        return self.event("checkout.session.async_payment_failed", self._public_session(session))

    def settle_refund(self, refund_id: str, status: str) -> dict[str, Any]:
        refund = self.refunds[refund_id]
        refund["status"] = status
        if status in ("failed", "canceled"):
            refund["failure_reason"] = "lost_or_stolen_card" if status == "failed" else None
            charge = self.charges[refund["charge"]]
            charge["amount_refunded"] -= refund["amount"]
        return self.event("refund.updated", dict(refund))

    def event(self, event_type: str, obj: dict[str, Any]) -> dict[str, Any]:
        """Record an event Stripe would send about `obj` (a copy as of now)."""
        event = {"id": self._id("evt"), "object": "event", "api_version": API_VERSION, "created": self.now(),
                 "type": event_type, "livemode": False, "pending_webhooks": 1,
                 "request": {"id": None, "idempotency_key": None}, "data": {"object": json.loads(json.dumps(obj))}}
        self.events.append(event)
        return event

    def signed(self, event: dict[str, Any], *, secrets_: Iterable[str] | None = None,
               timestamp: int | None = None) -> tuple[dict[str, str], bytes]:
        """The event as Stripe POSTs it: its raw body and headers."""
        body = json.dumps(event, separators=(",", ":"), ensure_ascii=False).encode()
        header = signature_header(body, self.webhook_secrets if secrets_ is None else secrets_,
                                  self.now() if timestamp is None else timestamp)
        return {"Content-Type": "application/json; charset=utf-8", "Stripe-Signature": header,
                "User-Agent": "Stripe/1.0 (+https://stripe.com/docs/webhooks)"}, body

    async def deliver(self, event: dict[str, Any], **signing: Any) -> int:
        """POST `event` to the webhook endpoint once; the status it answered."""
        headers, body = self.signed(event, **signing)
        async with httpx.AsyncClient(timeout=10) as client:
            response = await client.post(self.webhook_url, content=body, headers=headers)
        return response.status_code

    # ------------------------------------------------------------------ HTTP
    def handle(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if isinstance(self._failure, Exception):
            raise self._failure
        if isinstance(self._failure, int):
            return self._error_response(self._failure)
        try:
            if request.headers.get("Authorization") != f"Bearer {self.secret_key}":
                raise StripeFailure(401, "invalid_request_error", "Invalid API Key provided.")
            if request.method == "POST":
                response = self._post(request)
                if request.url.path == self.lose_answer_to:
                    self.lose_answer_to = None
                    return self._error_response(503)
                return response
            return self._json(200, self._get(request))
        except StripeFailure as failure:
            return self._json(failure.status, failure.body)

    def _post(self, request: httpx.Request) -> httpx.Response:
        key = request.headers.get("Idempotency-Key")
        if not key:
            raise _invalid("This fake Stripe wants an Idempotency-Key on every POST (the plugin promises one).")
        if request.headers.get("Content-Type") != "application/x-www-form-urlencoded":
            raise _invalid("Invalid request: bodies are application/x-www-form-urlencoded.")
        pairs = parse_qsl(request.content.decode(), keep_blank_values=True, strict_parsing=bool(request.content))
        path = request.url.path
        stored = self._idempotency.get(key)
        if stored is not None:
            if stored[0] != path or stored[1] != pairs:
                raise StripeFailure(400, "idempotency_error", "Keys for idempotent requests can only be used with "
                                    "the same parameters they were first used with.")
            return self._json(stored[2], stored[3], replayed=True)
        try:
            body = self._create(path, dict(pairs))
        except StripeFailure as failure:
            if failure.kept:  # Stripe keeps the answer of a request that ran, declines included
                self._idempotency[key] = (path, pairs, failure.status, failure.body)
            raise  # other refusals are not kept: the same key may be sent again
        self._idempotency[key] = (path, pairs, 200, body)
        return self._json(200, body)

    def _create(self, path: str, form: dict[str, str]) -> dict[str, Any]:
        parts = path.strip("/").split("/")
        if parts == ["v1", "checkout", "sessions"]:
            return self._create_session(form)
        if len(parts) == 5 and parts[:3] == ["v1", "checkout", "sessions"] and parts[4] == "expire":
            return self._expire(parts[3])
        if parts == ["v1", "refunds"]:
            return self._create_refund(form)
        if parts == ["v1", "customers"]:
            return self._create_customer(form)
        if parts == ["v1", "payment_intents"]:
            return self._create_intent(form)
        if len(parts) == 4 and parts[:2] == ["v1", "payment_intents"] and parts[3] == "cancel":
            return self._cancel_intent(parts[2])
        if len(parts) == 4 and parts[:2] == ["v1", "payment_methods"] and parts[3] == "detach":
            return self._detach(parts[2])
        raise _invalid(f"Unrecognized request URL (POST: {path}).")

    def _get(self, request: httpx.Request) -> dict[str, Any]:
        parts = request.url.path.strip("/").split("/")
        query = list(parse_qsl(request.url.query.decode(), keep_blank_values=True))
        params = dict(query)
        expand = [v for k, v in query if k.startswith("expand[")]
        if parts == ["v1", "checkout", "sessions"]:
            sessions = [self._public_session(s) for s in self.sessions.values()
                        if s["created"] >= int(params.get("created[gte]", 0))]
            return self._page(sessions, params, "/v1/checkout/sessions")
        if len(parts) == 4 and parts[:3] == ["v1", "checkout", "sessions"]:
            if parts[3] not in self.sessions:
                raise _missing("checkout.session", parts[3])
            session = self._public_session(self.sessions[parts[3]])
            inner = [e.removeprefix("payment_intent.") for e in expand if e.startswith("payment_intent.")]
            if session["payment_intent"] and ("payment_intent" in expand or inner):
                session["payment_intent"] = self._expanded_intent(session["payment_intent"], inner)
            return session
        if parts == ["v1", "payment_intents"]:
            intents = [dict(i) for i in self.intents.values()
                       if i["created"] >= int(params.get("created[gte]", 0))
                       and params.get("customer", i["customer"]) == i["customer"]]
            return self._page(intents, params, "/v1/payment_intents")
        if len(parts) == 3 and parts[:2] == ["v1", "payment_intents"]:
            if parts[2] not in self.intents:
                raise _missing("payment_intent", parts[2])
            return self._expanded_intent(parts[2], expand)
        if len(parts) == 3 and parts[:2] == ["v1", "payment_methods"]:
            if parts[2] not in self.payment_methods:
                raise _missing("PaymentMethod", parts[2], "payment_method")
            return dict(self.payment_methods[parts[2]])
        if len(parts) == 3 and parts[:2] == ["v1", "customers"]:
            if parts[2] not in self.customers:
                raise _missing("customer", parts[2])
            return dict(self.customers[parts[2]])
        if parts == ["v1", "refunds"]:
            refunds = [dict(r) for r in self.refunds.values()
                       if "payment_intent" not in params or r["payment_intent"] == params["payment_intent"]]
            return self._page(refunds, params, "/v1/refunds")
        if len(parts) == 3 and parts[:2] == ["v1", "refunds"]:
            if parts[2] not in self.refunds:
                raise _missing("refund", parts[2])
            return dict(self.refunds[parts[2]])
        raise _invalid(f"Unrecognized request URL (GET: {request.url.path}).")

    # ------------------------------------------------------------------ objects
    def _create_session(self, form: dict[str, str]) -> dict[str, Any]:
        for key in ("line_items[0][price_data][unit_amount]", "expires_at", "line_items[0][quantity]"):
            if key in form and not form[key].isdigit():
                raise _invalid(f"Invalid integer: {form[key]}", key)
        if form.get("mode") != "payment":
            raise _invalid("This fake serves mode=payment only.", "mode")
        if not form.get("success_url"):
            raise _invalid("Missing required param: success_url.", "success_url")
        currency = form.get("line_items[0][price_data][currency]", "")
        amount = form.get("line_items[0][price_data][unit_amount]", "")
        quantity = form.get("line_items[0][quantity]", "")
        if currency != currency.lower() or len(currency) != 3 or not amount.isdigit() or quantity != "1":
            raise _invalid("Invalid line_items[0].", "line_items")
        if not form.get("line_items[0][price_data][product_data][name]"):
            raise _invalid("Missing required param: line_items[0][price_data][product_data][name].", "line_items")
        if any(k.startswith("line_items[1]") for k in form):
            raise _invalid("The plugin sends one line item.", "line_items")
        types = [v for k, v in sorted(form.items()) if k.startswith("payment_method_types[")]
        if len(types) != 1 or types[0] not in ("card", "wechat_pay", "alipay"):
            raise _invalid("Invalid payment_method_types.", "payment_method_types")
        if types[0] == "wechat_pay" and form.get("payment_method_options[wechat_pay][client]") != "web":
            raise _invalid("payment_method_options[wechat_pay][client] is required.", "payment_method_options")
        customer = form.get("customer")
        if customer is not None and customer not in self.customers:
            raise StripeFailure(400, "invalid_request_error", f"No such customer: '{customer}'",
                                code="resource_missing", param="customer")
        setup_future_usage = form.get("payment_intent_data[setup_future_usage]")
        if setup_future_usage not in (None, "on_session", "off_session"):
            raise _invalid("Invalid payment_intent_data[setup_future_usage].", "payment_intent_data[setup_future_usage]")
        if setup_future_usage and types[0] != "card":
            raise _invalid(f"The payment method type {types[0]!r} does not support setup_future_usage.",
                           "payment_intent_data[setup_future_usage]")
        created = self.now()
        expires_at = int(form.get("expires_at", created + MAX_LIFETIME))
        if not created + MIN_LIFETIME <= expires_at <= created + MAX_LIFETIME:
            raise _invalid("The `expires_at` timestamp must be between 30 minutes and 24 hours from Checkout "
                           "Session creation.", "expires_at")
        session_id = self._id("cs_test")
        metadata = {k[len("metadata["):-1]: v for k, v in form.items() if k.startswith("metadata[")}
        intent_metadata = {k[len("payment_intent_data[metadata]["):-1]: v for k, v in form.items()
                           if k.startswith("payment_intent_data[metadata][")}
        self.sessions[session_id] = {
            "id": session_id, "object": "checkout.session", "url": f"{CHECKOUT_BASE}/c/pay/{session_id}",
            "mode": "payment", "status": "open", "payment_status": "unpaid", "amount_total": int(amount),
            "amount_subtotal": int(amount), "currency": currency,
            "client_reference_id": form.get("client_reference_id"),
            "metadata": metadata, "payment_intent": None, "customer": customer, "created": created,
            "expires_at": expires_at, "payment_method_types": types, "success_url": form["success_url"],
            "cancel_url": form.get("cancel_url"), "livemode": False, "payment_intent_metadata": intent_metadata,
            "product_name": form["line_items[0][price_data][product_data][name]"], "form": form,
            "setup_future_usage": setup_future_usage,
        }
        return self._public_session(self.sessions[session_id])

    def _expire(self, session_id: str) -> dict[str, Any]:
        session = self.sessions.get(session_id)
        if session is None:
            raise _missing("checkout.session", session_id, "session")
        if session["status"] != "open":
            raise _invalid("Only Checkout Sessions with a status in [\"open\"] can be expired.")
        session["status"] = "expired"
        public = self._public_session(session)
        self.event("checkout.session.expired", public)
        return public

    def _create_refund(self, form: dict[str, str]) -> dict[str, Any]:
        intent = self.intents.get(form.get("payment_intent", ""))
        if intent is None:
            raise _missing("payment_intent", form.get("payment_intent", ""), "payment_intent")
        if intent["status"] != "succeeded":
            raise _invalid("This PaymentIntent does not have a successful charge to refund.", "payment_intent")
        charge = self.charges[intent["latest_charge"]]
        left = charge["amount"] - charge["amount_refunded"]
        if left == 0:
            raise _invalid(f"Charge {charge['id']} has already been refunded.", code="charge_already_refunded")
        raw = form.get("amount", str(left))
        if not raw.isdigit() or int(raw) < 1:
            raise _invalid(f"Invalid positive integer: {raw}", "amount")
        if int(raw) > left:
            raise _invalid(f"Refund amount ({raw}) is greater than unrefunded amount on charge ({left})", "amount",
                           code="amount_too_large")
        if self.refund_refusal is not None:
            raise _invalid(self.refund_refusal[1], code=self.refund_refusal[0])
        reason = form.get("reason")
        if reason is not None and reason not in ("duplicate", "fraudulent", "requested_by_customer"):
            raise _invalid("Invalid reason: must be one of duplicate, fraudulent, or requested_by_customer", "reason")
        refund_id = self._id("re")
        charge["amount_refunded"] += int(raw)
        charge["refunded"] = charge["amount_refunded"] == charge["amount"]
        refund = {"id": refund_id, "object": "refund", "amount": int(raw), "currency": charge["currency"],
                  "charge": charge["id"], "payment_intent": intent["id"], "status": self.refund_status,
                  "reason": reason, "created": self.now(), "failure_reason": None,
                  "metadata": {k[len("metadata["):-1]: v for k, v in form.items() if k.startswith("metadata[")}}
        self.refunds[refund_id] = refund
        self.event("refund.created", dict(refund))
        self.event("charge.refunded", dict(charge))
        return dict(refund)

    def _create_customer(self, form: dict[str, str]) -> dict[str, Any]:
        customer_id = self._id("cus")
        self.customers[customer_id] = {
            "id": customer_id, "object": "customer", "created": self.now(), "email": form.get("email"),
            "description": form.get("description"), "livemode": False,
            "invoice_settings": {"default_payment_method": None},
            "metadata": {k[len("metadata["):-1]: v for k, v in form.items() if k.startswith("metadata[")}}
        self.event("customer.created", dict(self.customers[customer_id]))
        return dict(self.customers[customer_id])

    def _create_intent(self, form: dict[str, str]) -> dict[str, Any]:
        amount, currency = form.get("amount", ""), form.get("currency", "")
        if not amount.isdigit() or int(amount) < 1:
            raise _invalid(f"Invalid positive integer: {amount}", "amount")
        if currency != currency.lower() or len(currency) != 3:
            raise _invalid(f"Invalid currency: {currency}", "currency")
        customer = form.get("customer")
        if customer is not None and customer not in self.customers:
            raise StripeFailure(400, "invalid_request_error", f"No such customer: '{customer}'",
                                code="resource_missing", param="customer")
        confirm = form.get("confirm") == "true"
        if form.get("off_session") not in (None, "true", "false"):
            raise _invalid("Invalid boolean: off_session", "off_session")
        if form.get("off_session") == "true" and not confirm:
            raise _invalid("off_session can only be used when confirm is true.", "off_session")
        types = [v for k, v in sorted(form.items()) if k.startswith("payment_method_types[")] or ["card"]
        if types != ["card"]:
            raise _invalid("This fake charges cards only.", "payment_method_types")
        method_id = form.get("payment_method")
        payment_method = self.payment_methods.get(method_id or "")
        if method_id is not None and payment_method is None:
            raise _missing("PaymentMethod", method_id, "payment_method")
        if payment_method is not None and payment_method["customer"] != customer:
            raise _invalid("The provided PaymentMethod was previously used with a PaymentIntent without Customer "
                           "attachment, shared with a connected account without Customer attachment, or was "
                           "detached from a Customer. It may not be used again.", "payment_method")
        intent_id = self._id("pi")
        intent = self.intents[intent_id] = {
            "id": intent_id, "object": "payment_intent", "amount": int(amount), "currency": currency,
            "status": "requires_payment_method" if payment_method is None else "requires_confirmation",
            "latest_charge": None, "customer": customer, "payment_method": method_id, "created": self.now(),
            "description": form.get("description"), "setup_future_usage": None, "livemode": False,
            "last_payment_error": None, "payment_method_types": types,
            "metadata": {k[len("metadata["):-1]: v for k, v in form.items() if k.startswith("metadata[")}}
        self.event("payment_intent.created", dict(intent))
        if confirm and payment_method is not None:
            self._confirm(intent, payment_method)
        return dict(intent)

    def _confirm(self, intent: dict[str, Any], payment_method: dict[str, Any]) -> None:
        _, _, code, decline_code = TEST_CARDS[self._card_of[payment_method["id"]]]
        if code is None:
            status = self.charge_status
            intent["status"] = status
            intent["latest_charge"] = self._charge(intent["id"], intent["amount"], intent["currency"],
                                                   payment_method, intent["metadata"],
                                                   "succeeded" if status == "succeeded" else "pending")
            if status == "succeeded":
                self.event("payment_intent.succeeded", dict(intent))
            return
        message = ("Your card was declined. This transaction requires authentication."
                   if code == "authentication_required" else "Your card was declined.")
        error = {"type": "card_error", "code": code, "decline_code": decline_code, "message": message,
                 "payment_method": dict(payment_method)}
        intent.update(status="requires_payment_method", last_payment_error=error)
        if code != "authentication_required":
            intent["latest_charge"] = self._charge(intent["id"], intent["amount"], intent["currency"],
                                                   payment_method, intent["metadata"], "failed")
        self.event("payment_intent.payment_failed", dict(intent))
        raise StripeFailure(402, "card_error", message, code=code, decline_code=decline_code, kept=True,
                            payment_intent=dict(intent), payment_method=dict(payment_method))

    def _cancel_intent(self, intent_id: str) -> dict[str, Any]:
        intent = self.intents.get(intent_id)
        if intent is None:
            raise _missing("payment_intent", intent_id, "intent")
        if intent["status"] not in _CANCELABLE:
            raise _invalid(f"You cannot cancel this PaymentIntent because it has a status of {intent['status']}. "
                           f"Only a PaymentIntent with one of the following statuses may be canceled: "
                           f"{', '.join(_CANCELABLE)}.", code="payment_intent_unexpected_state")
        intent["status"] = "canceled"
        self.event("payment_intent.canceled", dict(intent))
        return dict(intent)

    def _detach(self, method_id: str) -> dict[str, Any]:
        payment_method = self.payment_methods.get(method_id)
        if payment_method is None:
            raise _missing("PaymentMethod", method_id, "payment_method")
        if payment_method["customer"] is None:
            raise _invalid("The payment method you provided is not attached to a customer so detachment is "
                           "impossible.")
        payment_method["customer"] = None
        self.event("payment_method.detached", dict(payment_method))
        return dict(payment_method)

    def _payment_method(self, method: str, card: str, fingerprint: str | None) -> dict[str, Any]:
        """A new payment method of type `method` (a card: the test `card`), as a payer enters one."""
        method_id = self._id("pm")
        details: dict[str, Any] = {}
        if method == "card":
            brand, last4, _, _ = TEST_CARDS[card]
            details = {"brand": brand, "last4": last4, "exp_month": EXP_MONTH, "exp_year": EXP_YEAR,
                       "funding": "credit", "country": "US", "fingerprint": fingerprint or f"fp_card_{last4}"}
            self._card_of[method_id] = card
        else:
            details = {"fingerprint": fingerprint or "fp_card_4242"}
        self.payment_methods[method_id] = {
            "id": method_id, "object": "payment_method", "type": method, method: details, "customer": None,
            "created": self.now(), "livemode": False, "metadata": {}, "billing_details": {"email": None}}
        return self.payment_methods[method_id]

    def _charge(self, intent_id: str, amount: int, currency: str, payment_method: dict[str, Any],
                metadata: dict[str, str], status: str) -> str:
        charge_id = self._id("ch")
        method = payment_method["type"]
        self.charges[charge_id] = {
            "id": charge_id, "object": "charge", "amount": amount, "currency": currency, "created": self.now(),
            "payment_intent": intent_id, "status": status, "amount_refunded": 0, "refunded": False,
            "metadata": dict(metadata), "payment_method": payment_method["id"],
            "payment_method_details": {"type": method, method: dict(payment_method[method])}}
        return charge_id

    def _expanded_intent(self, intent_id: str, expand: list[str]) -> dict[str, Any]:
        intent = dict(self.intents[intent_id])
        if "latest_charge" in expand and intent["latest_charge"]:
            intent["latest_charge"] = dict(self.charges[intent["latest_charge"]])
        if "payment_method" in expand and intent["payment_method"]:
            intent["payment_method"] = dict(self.payment_methods[intent["payment_method"]])
        return intent

    # ------------------------------------------------------------------ helpers
    def _public_session(self, session: dict[str, Any]) -> dict[str, Any]:
        hidden = ("payment_intent_metadata", "product_name", "form", "setup_future_usage")
        return {k: (dict(v) if isinstance(v, dict) else v) for k, v in session.items() if k not in hidden}

    def _page(self, items: list[dict[str, Any]], params: dict[str, str], url: str) -> dict[str, Any]:
        items.sort(key=lambda o: (o["created"], o["id"]), reverse=True)  # newest first
        if "starting_after" in params:
            ids = [o["id"] for o in items]
            if params["starting_after"] not in ids:
                raise _missing("object", params["starting_after"], "starting_after")
            items = items[ids.index(params["starting_after"]) + 1:]
        limit = int(params.get("limit", 10))
        if not 1 <= limit <= 100:
            raise _invalid("limit must be between 1 and 100", "limit")
        return {"object": "list", "url": url, "data": items[:limit], "has_more": len(items) > limit}

    def _id(self, prefix: str) -> str:
        # Stripe's ids are opaque; a serial keeps ids made in one second in creation order
        return f"{prefix}_{next(self._serial):06d}{secrets.token_hex(8)}"

    @staticmethod
    def _json(status: int, body: dict[str, Any], *, replayed: bool = False) -> httpx.Response:
        headers = {"Request-Id": "req_" + secrets.token_hex(7), "Stripe-Version": API_VERSION}
        if replayed:
            headers["Idempotent-Replayed"] = "true"
        return httpx.Response(status, content=json.dumps(body).encode(),
                              headers={**headers, "Content-Type": "application/json"})

    def _error_response(self, status: int) -> httpx.Response:
        kinds = {402: ("card_error", "Your card was declined.", "card_declined", "insufficient_funds"),
                 429: ("rate_limit_error", "Too many requests.", "rate_limit", None)}
        type_, message, code, decline = kinds.get(
            status, ("api_error", "Something went wrong on Stripe's end.", None, None) if status >= 500
            else ("invalid_request_error", "Invalid request.", "parameter_invalid", None))
        return self._json(status, StripeFailure(status, type_, message, code=code, decline_code=decline).body)

    # ------------------------------------------------------------------ a real local server
    async def serve(self, host: str = "127.0.0.1", port: int = 0):
        """Serve this fake over HTTP; returns (base URL, aiohttp runner to `cleanup()`)."""
        from aiohttp import web

        async def answer(request: web.Request) -> web.Response:
            outgoing = httpx.Request(request.method, str(request.url), headers=dict(request.headers),
                                     content=await request.read())
            try:
                response = self.handle(outgoing)
            except httpx.HTTPError:
                raise web.HTTPServiceUnavailable() from None
            return web.Response(status=response.status_code, body=response.content,
                                headers={k: v for k, v in response.headers.items() if k.lower() != "content-length"})

        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", answer)
        runner = web.AppRunner(app)
        await runner.setup()
        site = web.TCPSite(runner, host, port)
        await site.start()
        bound = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        return f"http://{host}:{bound}", runner
