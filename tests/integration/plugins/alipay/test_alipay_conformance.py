"""The Alipay plugin passes the provider conformance kit (plugins.conformance) against the fake
Alipay gateway (alipay_fake_gateway), built the way the service builds it (entry point `alipay`).

One check is adapted to Alipay rather than skipped: a precreated order is no trade at Alipay until
the payer scans it (`ACQ.TRADE_NOT_EXIST`), so closing it changes nothing Alipay can report, and
the kit's "closing twice leaves it closed" is checked on an order the payer has scanned (closing
one nobody scanned is checked in test_alipay_orders)."""
from __future__ import annotations

from alipay_harness import AlipayHarness
from plugins.conformance import ProviderConformance
from ports.payment_provider import PaymentState


class TestAlipayProvider(ProviderConformance, harness=AlipayHarness):
    async def test_closing_an_order_twice_is_not_an_error_and_leaves_it_closed(self, harness: AlipayHarness) -> None:
        h = harness
        order, _ = await self._opened(h)
        h.gateway.scan(order.order_id)  # Alipay knows the trade from the payer's scan on

        await h.provider.close_payment(order.order_id)
        await h.provider.close_payment(order.order_id)

        assert (await h.provider.query_payment(order.order_id)).state is PaymentState.CLOSED
        assert h.gateway.trades[order.order_id].status == "TRADE_CLOSED"
