"""Buying receives end to end through the use cases, on the in-memory adapters."""
from ports.use_cases.purchase_receives import PurchaseReceivesCommand
from world import World


async def test_bought_receives_arrive_once_when_the_payment_is_confirmed():
    world = World()
    bought = await world.purchase_receives(PurchaseReceivesCommand("u1", 10, "wechat_pay"))
    assert bought.transaction.total.amount == 1700
    assert (await world.membership("u1")).purchased_remaining == 0

    headers, body = world.mock.settle(bought.session.order_id, True)
    first = await world.notify(headers, body)
    again = await world.notify(headers, body)

    assert (first.effect, again.effect) == ("applied", "duplicate")
    assert (await world.membership("u1")).purchased_remaining == 10
