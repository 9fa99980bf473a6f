"""The risk signals through HTTP (docs/risk.md): refund abuse (3 refund requests in 30 days flag
the user, the requests still queue) and linked payers (one payer on more than 3 users in 30 days
flags them; the payer id is kept only as a keyed hash).

The mock provider reports no payer id; here the real mock's verified event gets the payer of its
order added (`ProviderEvent.payer_id`, port 1.3), as WeChat Pay's `payer.openid` would be."""
from __future__ import annotations

import inspect

import attrs
import pytest

from e2e_support import buy, ok, pay

pytestmark = pytest.mark.asyncio

FLAGS = "/api/v1/admin/risk/flags"
REFUNDS = "/api/v1/payments/refunds"


async def report_payers(api, payers: dict[str, str]) -> None:
    """Make the app's mock plugins report the payer `payers` names for an order."""
    found = api.container.adapters.payment_providers()
    plugins = await found if inspect.isawaitable(found) else found
    for plugin in plugins.values():
        parse = plugin.parse_notification

        def reporting(headers, body, parse=parse):
            event = parse(headers, body)
            return attrs.evolve(event, payer_id=payers.get(event.order_id))
        plugin.parse_notification = reporting


async def flags(api, **params) -> dict:
    return await ok(await api.get(FLAGS, user="boss", role="admin", params=params))


async def test_three_refund_requests_in_30_days_flag_the_user_and_still_queue(api):
    paid = []
    for _ in range(3):
        bought = await buy(api, 10, user="refunder")
        await pay(api, bought["session"])
        paid.append(bought["transaction"]["id"])
    for number, transaction_id in enumerate(paid, start=1):
        refund = await ok(await api.post(REFUNDS, {"transaction_id": transaction_id, "reason": "changed my mind"},
                                         user="refunder"), 201)
        assert refund["status"] == "requested"  # queued for an admin either way
        found = (await flags(api, user_id="refunder"))["items"]
        assert [f["rule"] for f in found] == ([] if number < 3 else ["refund_abuse"])
    assert found[0]["details"] == {"refund_requests_30d": 3}


async def test_one_payer_on_more_than_three_users_flags_them_all(make_api):
    api = await make_api()
    payers: dict[str, str] = {}
    await report_payers(api, payers)
    openid = "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o"

    for number, user in enumerate(("a1", "a2", "a3", "a4"), start=1):
        bought = await buy(api, 1, user=user)
        payers[bought["session"]["order_id"]] = openid
        await pay(api, bought["session"])
        linked = (await flags(api, rule="linked_payer"))["items"]
        assert sorted(f["user_id"] for f in linked) == ([] if number <= 3 else ["a1", "a2", "a3", "a4"])
    assert all(f["details"]["users"] == ["a1", "a2", "a3", "a4"] and f["details"]["users_total"] == 4
               for f in linked)
    assert all(openid not in str(f["details"]) for f in linked)  # never the raw payer id

    # Another payer, or no payer reported, links nobody.
    bought = await buy(api, 1, user="b1")
    await pay(api, bought["session"])
    assert (await flags(api, user_id="b1"))["total"] == 0
