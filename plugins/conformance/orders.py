"""Checks of orders: opening (idempotent by `order_id`), querying, closing."""
from __future__ import annotations

from domain.errors import ProviderError
from domain.money import Money
from plugins.conformance.base import Checks, settle
from plugins.conformance.harness import Harness, new_order_id
from ports.payment_provider import PaymentInstructions, PaymentState


class OrderChecks(Checks):
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
        await settle(h.pay_remotely(order.order_id))
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
