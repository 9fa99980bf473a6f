"""The Stripe plugin passes the provider conformance kit (plugins.conformance), against the fake
Stripe, once with the sessions it remembers and once as a process that remembers nothing (every
order looked up among Stripe's recent sessions, as after a restart or in another worker)."""
from __future__ import annotations

import pytest

from plugins.conformance import ProviderConformance
from stripe_harness import StripeHarness


class ForgetfulStripeHarness(StripeHarness):
    """A provider that forgets each session it opened, as another worker process would not know it."""

    def __init__(self) -> None:
        super().__init__()
        opened = self.provider.open_payment

        async def open_and_forget(order):
            instructions = await opened(order)
            self.provider._sessions.clear()
            return instructions

        self.provider.open_payment = open_and_forget


@pytest.fixture(params=["remembering", "forgetful"])
async def harness(request: pytest.FixtureRequest):
    made = StripeHarness() if request.param == "remembering" else ForgetfulStripeHarness()
    yield made
    await made.close()


class TestStripeProvider(ProviderConformance):
    """The whole kit, for each harness above."""
