"""What the provider is told about an order besides its amount: the lines that make it up (port
1.2), for its page to show the payer. Receives and their discount, or the new plan and the credit
for the current one; the lines add up to the amount; a new session and a re-opened order carry
the same lines."""
from builders import become, buy, upgrade
from domain.money import CNY, Money
from ports.payment_provider import LineKind, OrderLine
from ports.use_cases.sessions.open_session import OpenSessionCommand
from world import World


def lines_at_the_provider(world: World, session_id: str) -> tuple[OrderLine, ...]:
    found = world.mock.order_for_session(session_id)
    assert found is not None
    return found.order.lines


def adds_up(lines: tuple[OrderLine, ...], amount: Money) -> bool:
    return sum(-line.amount.amount if line.kind.reduces else line.amount.amount for line in lines) == amount.amount


async def test_receives_are_told_as_their_subtotal_and_their_discount():
    world = World()

    bought = await buy(world, "alice", 10)

    lines = lines_at_the_provider(world, bought.session.id)
    assert lines == (OrderLine(LineKind.RECEIVES, Money(2000, CNY), quantity=10),
                     OrderLine(LineKind.DISCOUNT, Money(300, CNY)))
    assert adds_up(lines, bought.session.amount)


async def test_a_purchase_with_no_discount_has_no_discount_line():
    world = World()

    bought = await buy(world, "alice", 2)

    assert lines_at_the_provider(world, bought.session.id) == (OrderLine(LineKind.RECEIVES, Money(400, CNY), quantity=2),)


async def test_an_upgrade_from_basic_is_the_whole_plan():
    world = World()

    started = await upgrade(world, "alice", "pro")

    assert lines_at_the_provider(world, started.session.id) == (OrderLine(LineKind.PLAN, Money(2900, CNY), plan="pro"),)


async def test_an_upgrade_between_paid_plans_is_the_new_plan_less_the_credit_for_the_old_one():
    world = World()
    await become(world, "alice", "pro")
    world.advance(days=10)

    started = await upgrade(world, "alice", "vip")

    proration = started.proration
    lines = lines_at_the_provider(world, started.session.id)
    assert lines == (OrderLine(LineKind.PLAN, proration.debit, plan="vip"),
                     OrderLine(LineKind.PLAN_CREDIT, proration.credit, plan="pro"))
    assert proration.credit.amount > 0 and adds_up(lines, started.session.amount)


async def test_a_new_session_of_the_transaction_carries_the_same_lines():
    world = World()
    bought = await buy(world, "alice", 7)

    reopened = await world.open_session(OpenSessionCommand("alice", bought.transaction.id, "alipay", None))

    assert lines_at_the_provider(world, reopened.id) == lines_at_the_provider(world, bought.session.id)
