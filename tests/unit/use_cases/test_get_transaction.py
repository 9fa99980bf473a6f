"""GetTransaction: one transaction of the caller's with its sessions, oldest first."""
import pytest

from builders import become, buy, detail
from domain.errors import TransactionNotFoundError
from ports.use_cases.plans.change_plan import ChangePlanCommand
from ports.use_cases.sessions.open_session import OpenSessionCommand
from world import World


async def test_a_transaction_is_read_with_its_sessions_oldest_first():
    world = World()
    bought = await buy(world, "alice", 10)
    world.advance(minutes=1)
    second = await world.open_session(OpenSessionCommand("alice", bought.transaction.id, "alipay"))
    world.advance(minutes=1)
    third = await world.open_session(OpenSessionCommand("alice", bought.transaction.id, "credit_card"))

    found = await detail(world, "alice", bought.transaction.id)

    assert [s.id for s in found.sessions] == [bought.session.id, second.id, third.id]
    assert [s.status for s in found.sessions] == ["cancelled", "cancelled", "open"]
    assert found.transaction.id == bought.transaction.id
    assert found.sessions[2] == third


async def test_the_transaction_reads_as_first_returned_until_it_changes():
    world = World()
    bought = await buy(world, "alice", 10)

    found = await detail(world, "alice", bought.transaction.id)

    assert found.transaction == bought.transaction
    assert found.sessions == (bought.session,)


async def test_sessions_are_shown_with_their_status_as_of_now():
    world = World()
    bought = await buy(world, "alice", 10)
    world.advance(hours=1, seconds=1)

    found = await detail(world, "alice", bought.transaction.id)

    assert found.sessions[0].status == "expired"
    assert found.transaction.status == "expired"  # at once, before the sweep stores it (issue 12)


async def test_a_downgrade_has_no_sessions():
    world = World()
    await become(world, "alice", "pro")
    scheduled = await world.change_plan(ChangePlanCommand("alice", "basic"))

    found = await detail(world, "alice", scheduled.transaction.id)

    assert (found.transaction.type, found.sessions) == ("plan_downgrade", ())


async def test_someone_elses_transaction_is_not_found():
    world = World()
    bought = await buy(world, "alice", 10)

    with pytest.raises(TransactionNotFoundError) as raised:
        await detail(world, "mallory", bought.transaction.id)

    assert raised.value.code == "not_found"


async def test_an_unknown_transaction_is_not_found():
    world = World()

    with pytest.raises(TransactionNotFoundError):
        await detail(world, "alice", "txn_nope")
