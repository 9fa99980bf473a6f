"""What the kit's checks share: running under pytest or not, a paid order, and the steps that
several checks take (open, pay, parse an authentic notification, expect a refusal)."""
from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import attrs

from domain.errors import InvalidSignatureError
from domain.money import Money
from plugins.conformance.harness import Harness, Notification, new_order_id
from ports.payment_provider import (
    PaymentInstructions,
    PaymentOrder,
    ProviderEvent,
    ProviderEventKind,
    RefundOrder,
)

try:
    import pytest
except ImportError:  # the service at run time: the kit can be imported, not run
    pytest = None  # type: ignore[assignment]


def fixture(function: Callable) -> Callable:
    return pytest.fixture(function) if pytest is not None else function


def skip(reason: str) -> None:
    import pytest as runner  # only ever called under pytest

    runner.skip(reason)


async def settle(result: Any) -> Any:
    return await result if inspect.isawaitable(result) else result


@attrs.frozen
class Paid:
    order: PaymentOrder
    instructions: PaymentInstructions

    def refund(self, amount: Money | None = None, refund_order_id: str | None = None) -> RefundOrder:
        return RefundOrder(
            refund_order_id=refund_order_id or new_order_id("R"), payment_order_id=self.order.order_id,
            amount=amount or self.order.amount, payment_total=self.order.amount, reason="requested_by_customer",
            provider_reference=self.instructions.provider_reference, notify_url=self.order.notify_url,
        )


class Checks:
    """The steps the checks share; each group of checks (a mixin of `ProviderConformance`) builds on it."""

    @staticmethod
    async def _opened(h: Harness, **changes: Any) -> tuple[PaymentOrder, PaymentInstructions]:
        order = h.order(**changes)
        return order, await h.provider.open_payment(order)

    async def _paid(self, h: Harness) -> Paid:
        order, instructions = await self._opened(h)
        await settle(h.pay_remotely(order.order_id))
        return Paid(order, instructions)

    @staticmethod
    def _require(h: Harness, capability: str) -> None:
        if not getattr(h.provider.capabilities, capability):
            skip(f"{h.provider.name} declares {capability}=False")

    @staticmethod
    def _parsed(h: Harness, headers: Mapping[str, str], body: bytes, what: str = "an authentic notification",
                ) -> ProviderEvent:
        try:
            event = h.provider.parse_notification(dict(headers), body)
        except Exception as error:
            raise AssertionError(f"{what} was refused: {type(error).__name__}: {error}") from error
        assert isinstance(event, ProviderEvent), event
        assert isinstance(event.event_id, str) and event.event_id, f"no event id: {event!r}"
        assert isinstance(event.kind, ProviderEventKind), event.kind
        return event

    def _authentic(self, h: Harness, order: PaymentOrder, *, succeeded: bool = True) -> ProviderEvent:
        return self._parsed(h, *h.signed_notification(order, succeeded=succeeded))

    @staticmethod
    def _refused(h: Harness, headers: Mapping[str, str], body: bytes, what: str) -> None:
        try:
            event = h.provider.parse_notification(dict(headers), body)
        except InvalidSignatureError:
            return
        except Exception as error:
            raise AssertionError(f"{what}: raised {type(error).__name__} ({error}); "
                                 "every refusal must be InvalidSignatureError") from error
        raise AssertionError(f"{what}: accepted as {event!r}; it must raise InvalidSignatureError")

    @staticmethod
    def _signer(h: Harness) -> Callable[..., dict[str, str]]:
        """The harness's `sign_body`, or a skip naming what is missing."""
        sign_body = getattr(h, "sign_body", None)
        if sign_body is None:
            skip(f"the harness of {h.provider.name} cannot sign arbitrary bodies (no sign_body)")
        return sign_body

    @staticmethod
    def _signed_at(h: Harness, sign_body: Callable[..., dict[str, str]], body: bytes, age_seconds: int,
                   ) -> Notification | None:
        """`body` signed `age_seconds` ago, or None when `sign_body` takes no `age_seconds`."""
        try:
            inspect.signature(sign_body).bind(body, age_seconds=age_seconds)
        except TypeError:
            return None
        return dict(sign_body(body, age_seconds=age_seconds)), body

    @staticmethod
    async def _failing(h: Harness, call: Awaitable[Any]) -> Exception | None:
        try:
            await call
        except Exception as error:  # the checks look at exactly what escaped
            return error
        return None
