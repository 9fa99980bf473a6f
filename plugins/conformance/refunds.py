"""Checks of refunds: never beyond the payment, never twice for one `refund_order_id`, queryable."""
from __future__ import annotations

from domain.errors import InvalidSignatureError, ProviderError, ProviderUnavailableError, RefundNotFoundError
from domain.money import Money
from plugins.conformance.base import Checks, Paid
from plugins.conformance.harness import Harness, new_order_id
from ports.payment_provider import RefundResult, RefundState


class RefundChecks(Checks):
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

        error = await self._failing(h, h.provider.refund(Paid(order, instructions).refund()))

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

    async def test_querying_a_refund_the_provider_does_not_know_raises_refund_not_found(
            self, harness: Harness) -> None:
        h = harness
        self._require(h, "can_refund")
        paid = await self._paid(h)
        refund_order_id = new_order_id("R")

        written_for_1_1 = getattr(h.provider, "requires_port", (1, 0)) >= (1, 1)

        try:
            result = await h.provider.query_refund(refund_order_id, paid.order.order_id)
        except RefundNotFoundError:
            return  # it never arrived: the core sends it again, with the same id
        except (ProviderUnavailableError, InvalidSignatureError) as error:
            raise AssertionError(f"an unknown refund must raise RefundNotFoundError, not {error!r}") from error
        except ProviderError as error:
            assert not written_for_1_1, f"port 1.1: an unknown refund raises RefundNotFoundError, not {error!r}"
            return  # port 1.0: "not found" as a plain ProviderError
        assert not written_for_1_1, f"port 1.1: an unknown refund raises RefundNotFoundError, not {result!r}"
        assert (result.refund_order_id, result.state) == (refund_order_id, RefundState.FAILED), \
            f"a refund the provider never made must not read as {result.state}: {result!r}"
