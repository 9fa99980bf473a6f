"""What a plugin's tests hand the conformance kit: a *harness*, its provider wired to a fake of the
provider's remote side plus the means to write the provider's notifications. `Harness` is the
protocol; `BaseHarness` implements its generic members."""
from __future__ import annotations

import secrets
from collections.abc import Awaitable, Mapping
from datetime import timedelta
from typing import Any, Protocol

import attrs

from domain.money import Currency, Money
from ports.clock import Clock
from ports.payment_provider import FRESHNESS_SECONDS, PaymentOrder, PaymentProvider

__all__ = ["BaseHarness", "Harness", "Notification", "TOLERANCE_SECONDS", "new_order_id", "retime_in_headers"]

Notification = tuple[dict[str, str], bytes]  # (headers, raw body), as the provider would POST them
TOLERANCE_SECONDS = FRESHNESS_SECONDS  # the port's freshness window for notifications (±, inclusive)
_ALPHANUMERIC = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"


class Harness(Protocol):
    """What the kit needs from a plugin's tests. `BaseHarness` implements the generic members.

    `provider` is a built instance wired to a fake remote side that behaves like the real
    provider's servers: orders opened by `order_id`, paid by `pay_remotely`, closable, refundable
    up to the paid amount (and never beyond), an unknown order answered as the provider answers it.
    `clock` is the clock the provider was built with, standing still on a whole second.

    Notifications are `(headers, raw body)` exactly as the provider would POST them:
    - `signed_notification(order, succeeded=)`: an authentic one saying that `order` (its id and
      amount *as given*, which the kit sometimes changes, to another currency too) was paid, or
      failed/closed unpaid.
    - `forged_notification(order)`: the same, but signed with a key that is not ours.
    - `stale_notification(order, age_seconds=)`: authentic, signed `age_seconds` ago (negative: in
      the future).
    - `tamper(headers, body, order)`: an authentic notification changed after signing.
    - `strip_signature(headers, body)`: one with its signature removed.

    Optional members (leave them out, or set the flags, when the protocol has no such thing):
    - `sends_failure_notifications: bool` (default True) - the provider notifies unpaid endings.
    - `signs_timestamps: bool` (default True) - notifications carry a signed time to check.
    - `names_currency: bool` (default True) - notifications say their currency (Alipay's do not).
    - `signed_refund_notification(order, refund_order_id, succeeded=)` - an authentic refund one.
    - `sign_body(body, *, age_seconds=0)` - the headers that make any raw `body` authentic, signed
      `age_seconds` ago (`age_seconds` is optional: without it, re-deliveries are signed at the same
      time). The kit signs re-deliveries with it, and bodies that only a buggy provider would send
      (the plugin must refuse them, not crash or round).
    - `open_body(body)` and `seal_body(body, document)` - for a protocol whose notification body
      carries its fields sealed (WeChat Pay's AES-GCM `resource`): the readable JSON document inside
      `body`, and `body` with that document replaced, sealed again as the provider would (unsigned:
      the kit signs it with `sign_body`). Without them the kit reads and writes the body as JSON.
    - `retime(headers, body, timestamp)` - the notification with its signed time changed to the unix
      `timestamp` *without* signing again. `BaseHarness` does it for a time written in a header as
      unix seconds; override it when the time travels otherwise.
    - `fail_remote_with(failure)` - from now on every call to the remote fails: `failure` is an
      HTTP status (answer it, in the provider's own error format) or an `httpx` exception
      instance (raise it from the transport, as a refused connection or a timeout would);
      `fail_remote_with(None)` makes the remote work again.
    - `close()` - called after each check (release files, connections).
    `pay_remotely` and `fail_remote_with` may be sync or async.
    """

    provider: PaymentProvider
    clock: Clock

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
    names_currency: bool = True

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

    def retime(self, headers: Mapping[str, str], body: bytes, timestamp: int) -> Notification | None:
        """The notification with the signing time (the clock's now, as unix seconds in a header)
        replaced by `timestamp`, not signed again; None when no header carries that time."""
        return retime_in_headers(headers, body, int(self.clock.now().timestamp()), timestamp)


def retime_in_headers(headers: Mapping[str, str], body: bytes, signed_at: int, timestamp: int) -> Notification | None:
    """`headers` with the unix time `signed_at` replaced by `timestamp` wherever a value holds it;
    None when none does."""
    if not any(str(signed_at) in value for value in headers.values()):
        return None
    return {name: value.replace(str(signed_at), str(timestamp)) for name, value in headers.items()}, body


def new_order_id(prefix: str = "C") -> str:
    """A random merchant order number, 21 characters of [A-Za-z0-9] (the port allows 6-32)."""
    return prefix + "".join(secrets.choice(_ALPHANUMERIC) for _ in range(20))
