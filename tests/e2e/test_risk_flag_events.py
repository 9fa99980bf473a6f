"""A risk flag is an event to the main backend too (docs/risk.md, docs/events.md): with
PAYMENTS_EVENTS_URL set, a flag's `risk.flagged` is written with the flag (the outbox) and
delivered signed, its `data` `{"user_id", "flag"}` the flag as the admin list shows it; a rule
firing again while its flag is open sends nothing more."""
from __future__ import annotations

import pytest

from e2e_support import error_of, ok
from events_receiver import event_receiver
from live import eventually

pytestmark = pytest.mark.asyncio

RECEIVES = "/api/v1/payments/receives"


async def test_a_new_flag_is_sent_as_risk_flagged(make_live_api):
    async with event_receiver() as receiver:
        api = await make_live_api(background_jobs=True, PAYMENTS_EVENTS_URL=receiver.url,
                                  PAYMENTS_EVENTS_SECRET=receiver.secret, PAYMENTS_RISK_DAILY_LIMIT="1000")
        for _ in range(2):
            await error_of(await api.post(RECEIVES, {"amount": 10, "payment_method": "mock"}, user="whale"),
                           403, "risk_declined")

        await receiver.wait_for(lambda r: r.types_of("whale") == ["risk.flagged"], what="the flag's event")
        [flagged] = receiver.events_of("whale")
        [flag] = (await ok(await api.get("/api/v1/admin/risk/flags", user="boss", role="admin")))["items"]
        assert flagged["data"] == {"user_id": "whale", "flag": flag}
        assert flag["rule"] == "daily_amount"

        async def pending_events():
            return (await ok(await api.get("/api/v1/admin/events", user="boss", role="admin",
                                           params={"status": "pending"})))["total"]
        await eventually(pending_events, lambda total: total == 0, what="no event left to deliver")
        assert receiver.types_of("whale") == ["risk.flagged"]  # the second refusal flagged nothing new
