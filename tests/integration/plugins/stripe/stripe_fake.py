"""A fake Stripe, built to Stripe's published API (PROTOCOLS.md §4) for the Stripe plugin's tests:
Checkout Sessions (create, retrieve, list, expire), payment intents and charges made when a payer
pays, refunds (create, retrieve, list), Idempotency-Key replays, Stripe's error bodies, and
webhook events signed as Stripe signs them (`Stripe-Signature`, one `v1` per endpoint secret).

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
                 decline_code: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.body = {"error": {k: v for k, v in {"type": type_, "code": code, "param": param, "message": message,
                                                   "decline_code": decline_code}.items() if v is not None}}


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

    def pay(self, order_id: str, *, fingerprint: str = "fp_card_4242", customer: str | None = None,
            asynchronous: bool = False) -> dict[str, Any]:
        """The payer pays the open session of `order_id` on Stripe's page; the event Stripe sends
        (`checkout.session.completed`, unpaid while an `asynchronous` method settles)."""
        session = self.session_of(order_id)
        assert session["status"] == "open", session
        method = session["payment_method_types"][0]
        intent_id, charge_id = self._id("pi"), self._id("ch")
        succeeded = not asynchronous
        self.charges[charge_id] = {
            "id": charge_id, "object": "charge", "amount": session["amount_total"], "currency": session["currency"],
            "created": self.now(), "payment_intent": intent_id, "status": "succeeded" if succeeded else "pending",
            "amount_refunded": 0, "refunded": False, "metadata": dict(session["payment_intent_metadata"]),
            "payment_method_details": {"type": method, method: {"fingerprint": fingerprint,
                                                                **({"brand": "visa", "last4": "4242"}
                                                                   if method == "card" else {})}}}
        self.intents[intent_id] = {
            "id": intent_id, "object": "payment_intent", "amount": session["amount_total"],
            "currency": session["currency"], "status": "succeeded" if succeeded else "processing",
            "latest_charge": charge_id, "metadata": dict(session["payment_intent_metadata"]), "customer": customer}
        session.update(status="complete", payment_status="paid" if succeeded else "unpaid",
                       payment_intent=intent_id, customer=customer)
        return self.event("checkout.session.completed", self._public_session(session))

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
        body = self._create(path, dict(pairs))  # a refusal is not kept: the same key may be sent again
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
            if "payment_intent.latest_charge" in expand and session["payment_intent"]:
                intent = dict(self.intents[session["payment_intent"]])
                intent["latest_charge"] = dict(self.charges[intent["latest_charge"]])
                session["payment_intent"] = intent
            elif "payment_intent" in expand and session["payment_intent"]:
                session["payment_intent"] = dict(self.intents[session["payment_intent"]])
            return session
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
            "metadata": metadata, "payment_intent": None, "customer": None, "created": created,
            "expires_at": expires_at, "payment_method_types": types, "success_url": form["success_url"],
            "cancel_url": form.get("cancel_url"), "livemode": False, "payment_intent_metadata": intent_metadata,
            "product_name": form["line_items[0][price_data][product_data][name]"], "form": form,
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

    # ------------------------------------------------------------------ helpers
    def _public_session(self, session: dict[str, Any]) -> dict[str, Any]:
        hidden = ("payment_intent_metadata", "product_name", "form")
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
