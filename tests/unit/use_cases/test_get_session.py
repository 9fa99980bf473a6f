"""GetSession: one session of the caller's with its status as of now (never `open` past
`expires_at`, swept or not); someone else's session does not exist."""
from datetime import timedelta

import pytest

from builders import buy, session
from domain.errors import SessionNotFoundError
from domain.money import CNY, Money
from ports.use_cases.payments.cancel_transaction import CancelTransactionCommand
from world import START, World


async def test_an_unpaid_session_reads_open_with_its_payment_details():
    world = World()
    bought = await buy(world, "alice", 10)

    found = await session(world, "alice", bought.session.id)

    assert found == bought.session
    assert (found.status, found.amount, found.order_id) == ("open", Money(1700, CNY), bought.session.order_id)
    assert found.payment_url is not None and found.qr_code is not None


async def test_a_session_reads_expired_once_expires_at_has_passed_even_before_any_sweep():
    world = World()
    bought = await buy(world, "alice", 10)

    world.advance(minutes=59, seconds=59)
    just_before = await session(world, "alice", bought.session.id)
    world.advance(seconds=1)
    at_expiry = await session(world, "alice", bought.session.id)

    assert (just_before.status, at_expiry.status) == ("open", "expired")
    assert at_expiry.expires_at == START + world.settings.session_ttl


async def test_the_session_lifetime_is_configurable():
    world = World(session_ttl=timedelta(minutes=5))
    bought = await buy(world, "alice", 10)
    world.advance(minutes=5)

    assert (await session(world, "alice", bought.session.id)).status == "expired"


async def test_a_paid_session_reads_completed():
    world = World()
    bought = await buy(world, "alice", 10)
    world.advance(minutes=2)
    await world.pay(bought.session)
    world.advance(hours=3)

    found = await session(world, "alice", bought.session.id)

    assert (found.status, found.completed_at) == ("completed", START.replace(minute=2))


async def test_a_declined_session_reads_failed():
    world = World()
    bought = await buy(world, "alice", 10)
    await world.pay(bought.session, succeeded=False)

    assert (await session(world, "alice", bought.session.id)).status == "failed"


async def test_the_session_of_a_cancelled_transaction_reads_cancelled():
    world = World()
    bought = await buy(world, "alice", 10)
    await world.cancel_transaction(CancelTransactionCommand("alice", bought.transaction.id))

    assert (await session(world, "alice", bought.session.id)).status == "cancelled"


async def test_someone_elses_session_is_not_found():
    world = World()
    bought = await buy(world, "alice", 10)

    with pytest.raises(SessionNotFoundError) as raised:
        await session(world, "mallory", bought.session.id)

    assert raised.value.code == "not_found"


async def test_an_unknown_session_is_not_found():
    world = World()

    with pytest.raises(SessionNotFoundError):
        await session(world, "alice", "ps_nope")
