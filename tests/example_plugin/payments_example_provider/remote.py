"""ExamplePay's server side, in memory: a fake of the remote for tests and demos.

`handle` answers the plugin's HTTP requests as ExamplePay would (the API in `provider`'s docstring);
hand it to the plugin's client as `httpx.AsyncClient(transport=httpx.MockTransport(remote.handle))`
or as a respx side effect. The payer's side: `pay` / `decline` an order and `settle_refund`, each
returning the signed notification ExamplePay then sends. `notify` signs any notification (with
another key or time, for tests of refusals). `fail_with` makes every following request fail.
"""
from __future__ import annotations

import json
import re
import secrets
from typing import Any

import attrs
import httpx

from domain.errors import DomainValidationError
from domain.money import Money
from payments_example_provider import wire
from ports.clock import Clock

_ROUTES = (
    ("POST", re.compile(r"/orders$"), "_open"),
    ("GET", re.compile(r"/orders/(?P<key>[^/]+)$"), "_get_order"),
    ("POST", re.compile(r"/orders/(?P<key>[^/]+)/close$"), "_close"),
    ("POST", re.compile(r"/refunds$"), "_refund"),
    ("GET", re.compile(r"/refunds/(?P<key>[^/]+)$"), "_get_refund"),
)


class RemoteError(Exception):
    """The payer's side asked for something ExamplePay would not do (pay a closed order)."""


@attrs.define
class _Order:
    id: str
    out_trade_no: str
    request: dict[str, Any]  # what it was opened with: the same out_trade_no must repeat it
    amount: Money
    status: str = "open"
    paid_at: int | None = None
    refunded: int = 0  # minor units, pending refunds included

    def as_json(self, checkout_base: str) -> dict[str, Any]:
        return {"id": self.id, "out_trade_no": self.out_trade_no, "status": self.status,
                "amount": wire.amount_to_wire(self.amount), "checkout_url": f"{checkout_base}/checkout/{self.id}",
                "qr_payload": f"examplepay://pay?order={self.id}", "paid_at": self.paid_at}


@attrs.define
class _Refund:
    id: str
    out_refund_no: str
    out_trade_no: str
    amount: Money
    status: str = "pending"

    def as_json(self) -> dict[str, Any]:
        return {"id": self.id, "out_refund_no": self.out_refund_no, "out_trade_no": self.out_trade_no,
                "status": self.status, "amount": wire.amount_to_wire(self.amount)}


class ExamplePayRemote:
    def __init__(self, *, api_key: str, webhook_secret: str, merchant_id: str, clock: Clock,
                 checkout_base: str = "https://pay.examplepay.test") -> None:
        self._api_key = api_key
        self._webhook_secret = webhook_secret
        self._merchant_id = merchant_id
        self._clock = clock
        self._checkout_base = checkout_base
        self.orders: dict[str, _Order] = {}
        self.refunds: dict[str, _Refund] = {}
        self._failure: int | Exception | None = None

    # ------------------------------------------------------------------ the API
    def fail_with(self, failure: int | Exception | None) -> None:
        """Answer every following request with HTTP `failure`, or raise it (an httpx exception, as
        the transport would); None: work again."""
        self._failure = failure

    def handle(self, request: httpx.Request) -> httpx.Response:
        if isinstance(self._failure, Exception):
            raise self._failure
        if self._failure is not None:
            return _error(self._failure, "unavailable" if self._failure >= 500 else "bad_request", "Injected failure.")
        if request.headers.get("Authorization") != f"Bearer {self._api_key}":
            return _error(401, "unauthorized", "Bad API key.")
        for method, pattern, handler in _ROUTES:
            found = pattern.search(request.url.path)
            if found and request.method == method:
                return getattr(self, handler)(request, **found.groupdict())
        return _error(404, "not_found", "No such endpoint.")

    def _open(self, request: httpx.Request) -> httpx.Response:
        try:
            data = json.loads(request.content)
            out_trade_no, amount = data["out_trade_no"], wire.amount_from_wire(data["amount"])
            if data["merchant_id"] != self._merchant_id or not re.fullmatch(r"[A-Za-z0-9]{6,32}", out_trade_no):
                raise ValueError("merchant or out_trade_no")
        except (ValueError, KeyError, TypeError, DomainValidationError) as error:
            return _error(400, "invalid_request", str(error))
        order = self.orders.get(out_trade_no)
        if order is None:
            order = self.orders[out_trade_no] = _Order(f"exo_{secrets.token_hex(8)}", out_trade_no, data, amount)
        elif order.request != data:
            return _error(409, "order_conflict", "This out_trade_no was used with other parameters.")
        return _ok(order.as_json(self._checkout_base))

    def _get_order(self, request: httpx.Request, key: str) -> httpx.Response:
        order = self.orders.get(key)
        if order is None:
            return _error(404, "order_not_found", "No such order.")
        return _ok(order.as_json(self._checkout_base))

    def _close(self, request: httpx.Request, key: str) -> httpx.Response:
        order = self.orders.get(key)
        if order is None:
            return _error(404, "order_not_found", "No such order.")
        if order.status == "paid":
            return _error(409, "order_paid", "A paid order cannot be closed; refund it.")
        order.status = "closed"
        return _ok(order.as_json(self._checkout_base))

    def _refund(self, request: httpx.Request) -> httpx.Response:
        try:
            data = json.loads(request.content)
            out_refund_no, out_trade_no = data["out_refund_no"], data["out_trade_no"]
            amount = wire.amount_from_wire(data["amount"])
        except (ValueError, KeyError, TypeError, DomainValidationError) as error:
            return _error(400, "invalid_request", str(error))
        existing = self.refunds.get(out_refund_no)
        if existing is not None:  # the idempotency key: the same refund, never a second one
            if (existing.out_trade_no, existing.amount) != (out_trade_no, amount):
                return _error(409, "refund_conflict", "This out_refund_no was used with other parameters.")
            return _ok(existing.as_json())
        order = self.orders.get(out_trade_no)
        if order is None:
            return _error(404, "order_not_found", "No such order.")
        if order.status != "paid":
            return _error(409, "order_not_paid", "Only a paid order can be refunded.")
        if amount.currency != order.amount.currency or order.refunded + amount.amount > order.amount.amount:
            return _error(409, "refund_exceeds_payment", "That is more than is left to refund.")
        order.refunded += amount.amount
        refund = self.refunds[out_refund_no] = _Refund(f"exr_{secrets.token_hex(8)}", out_refund_no, out_trade_no, amount)
        return _ok(refund.as_json())

    def _get_refund(self, request: httpx.Request, key: str) -> httpx.Response:
        refund = self.refunds.get(key)
        if refund is None:
            return _error(404, "refund_not_found", "No such refund.")
        return _ok(refund.as_json())

    # ------------------------------------------------------------------ the payer's side
    def pay(self, out_trade_no: str) -> tuple[dict[str, str], bytes]:
        """The payer paid: the order is paid, and this is the notification ExamplePay sends."""
        order = self._payable(out_trade_no)
        if order.status == "open":
            order.status, order.paid_at = "paid", int(self._clock.now().timestamp())
        return self.notify(wire.ORDER_PAID, out_trade_no, order.amount)

    def decline(self, out_trade_no: str) -> tuple[dict[str, str], bytes]:
        """The payer declined: the order failed, and this is the notification ExamplePay sends."""
        order = self._payable(out_trade_no)
        if order.status == "paid":
            raise RemoteError(f"order {out_trade_no} is paid")
        order.status = "failed"
        return self.notify(wire.ORDER_FAILED, out_trade_no, order.amount)

    def settle_refund(self, out_refund_no: str, succeeded: bool = True) -> tuple[dict[str, str], bytes]:
        """ExamplePay finished a pending refund; this is the notification it sends."""
        refund = self.refunds[out_refund_no]
        refund.status = "succeeded" if succeeded else "failed"
        if not succeeded:
            self.orders[refund.out_trade_no].refunded -= refund.amount.amount
        return self.notify(wire.REFUND_SUCCEEDED if succeeded else wire.REFUND_FAILED, refund.out_trade_no,
                           refund.amount, out_refund_no=out_refund_no)

    def notify(self, event_type: str, out_trade_no: str, amount: Money, *, out_refund_no: str | None = None,
               age_seconds: int = 0, secret: str | None = None) -> tuple[dict[str, str], bytes]:
        """A notification signed by ExamplePay `age_seconds` ago (or with another `secret`)."""
        timestamp = int(self._clock.now().timestamp()) - age_seconds
        return wire.notification(secret or self._webhook_secret, timestamp, event_type, merchant_id=self._merchant_id,
                                 out_trade_no=out_trade_no, amount=amount, out_refund_no=out_refund_no)

    def _payable(self, out_trade_no: str) -> _Order:
        order = self.orders.get(out_trade_no)
        if order is None or order.status not in ("open", "paid"):
            raise RemoteError(f"order {out_trade_no} cannot be paid ({order.status if order else 'unknown'})")
        return order


def _ok(data: dict[str, Any]) -> httpx.Response:
    return httpx.Response(200, json=data)


def _error(status: int, code: str, message: str) -> httpx.Response:
    return httpx.Response(status, json={"error": {"code": code, "message": message}})
