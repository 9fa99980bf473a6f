"""OpenSession: a new attempt for a pending transaction replaces the open one (its provider order
is closed), gets its own order id and may use another payment method."""
import re

import pytest

from builders import buy, detail, upgrade, OPEN_ATTEMPTS
from domain.errors import (
    DomainValidationError,
    InvalidTransitionError,
    PaymentMethodUnavailableError,
    ProviderUnavailableError,
    TransactionNotFoundError,
)
from domain.money import CNY, Money
from ports.payment_provider import PaymentState
from ports.use_cases.payments.cancel_transaction import CancelTransactionCommand
from ports.use_cases.sessions.open_session import OpenSessionCommand
from world import World


async def test_a_new_session_cancels_the_open_one_and_closes_its_provider_order():
    world = World()
    bought = await buy(world, "alice", 10)
    world.advance(minutes=3)

    new = await world.open_session(OpenSessionCommand("alice", bought.transaction.id))

    found = await detail(world, "alice", bought.transaction.id)
    assert [(s.id, s.status) for s in found.sessions] == [(bought.session.id, "cancelled"), (new.id, "open")]
    assert (await world.mock.query_payment(bought.session.order_id)).state is PaymentState.CLOSED
    assert (await world.mock.query_payment(new.order_id)).state is PaymentState.PENDING


async def test_a_new_session_has_its_own_order_id_and_the_transactions_amount():
    world = World()
    bought = await buy(world, "alice", 7)
    world.advance(minutes=3)

    new = await world.open_session(OpenSessionCommand("alice", bought.transaction.id))

    assert re.fullmatch(r"[A-Za-z0-9]{6,32}", new.order_id)
    assert new.order_id not in (bought.session.order_id, bought.transaction.order_id)
    assert (new.status, new.amount, new.transaction_id) == ("open", Money(1260, CNY), bought.transaction.id)
    assert new.created_at == world.clock.now()
    assert new.expires_at == world.clock.now() + world.settings.session_ttl
    assert new.payment_url == f"http://payments.test/mock-checkout/{new.id}"


async def test_without_a_method_the_transactions_method_is_used():
    world = World()
    bought = await buy(world, "alice", 10, method="credit_card")

    new = await world.open_session(OpenSessionCommand("alice", bought.transaction.id))

    assert new.payment_method == "credit_card"


async def test_a_new_session_can_switch_the_payment_method():
    world = World()
    bought = await buy(world, "alice", 10, method="wechat_pay")
    world.advance(minutes=1)

    new = await world.open_session(OpenSessionCommand("alice", bought.transaction.id, "alipay"))

    assert (new.payment_method, new.provider) == ("alipay", "mock")
    found = await detail(world, "alice", bought.transaction.id)
    assert found.transaction.payment_method == "alipay"
    assert [s.payment_method for s in found.sessions] == ["wechat_pay", "alipay"]


async def test_the_replacing_session_is_the_one_that_pays():
    world = World()
    bought = await buy(world, "alice", 10)
    world.advance(minutes=1)
    new = await world.open_session(OpenSessionCommand("alice", bought.transaction.id, "alipay"))

    await world.pay(new)

    found = await detail(world, "alice", bought.transaction.id)
    assert found.transaction.status == "succeeded"
    assert (await world.membership("alice")).purchased_remaining == 10


async def test_a_failed_session_stays_failed_when_a_new_one_is_opened():
    world = World()
    bought = await buy(world, "alice", 10)
    await world.pay(bought.session, succeeded=False)
    world.advance(minutes=1)

    await world.open_session(OpenSessionCommand("alice", bought.transaction.id))

    found = await detail(world, "alice", bought.transaction.id)
    assert [s.status for s in found.sessions] == ["failed", "open"]


async def test_a_cancelled_transaction_cannot_get_a_new_session():
    world = World()
    bought = await buy(world, "alice", 10)
    await world.cancel_transaction(CancelTransactionCommand("alice", bought.transaction.id))

    with pytest.raises(InvalidTransitionError) as raised:
        await world.open_session(OpenSessionCommand("alice", bought.transaction.id))

    assert raised.value.code == "invalid_state"
    assert len((await detail(world, "alice", bought.transaction.id)).sessions) == 1


async def test_a_paid_transaction_cannot_get_a_new_session():
    world = World()
    bought = await buy(world, "alice", 10)
    await world.pay(bought.session)

    with pytest.raises(InvalidTransitionError) as raised:
        await world.open_session(OpenSessionCommand("alice", bought.transaction.id))

    assert raised.value.code == "invalid_state"


async def test_an_expired_transaction_cannot_get_a_new_session():
    world = World()
    bought = await buy(world, "alice", 10)
    world.advance(hours=2)
    await world.expire_sessions()

    with pytest.raises(InvalidTransitionError):
        await world.open_session(OpenSessionCommand("alice", bought.transaction.id))


async def test_a_transaction_whose_attempts_lapsed_cannot_get_a_new_session_even_before_the_sweep():
    world = World()
    bought = await buy(world, "alice", 10)
    world.advance(hours=1)

    with pytest.raises(InvalidTransitionError) as raised:
        await world.open_session(OpenSessionCommand("alice", bought.transaction.id))

    assert raised.value.code == "invalid_state"
    assert len((await detail(world, "alice", bought.transaction.id)).sessions) == 1


async def test_someone_elses_transaction_is_not_found():
    world = World()
    bought = await buy(world, "alice", 10)

    with pytest.raises(TransactionNotFoundError) as raised:
        await world.open_session(OpenSessionCommand("mallory", bought.transaction.id))

    assert raised.value.code == "not_found"
    found = await detail(world, "alice", bought.transaction.id)
    assert [s.status for s in found.sessions] == ["open"]


async def test_an_unknown_transaction_is_not_found():
    world = World()

    with pytest.raises(TransactionNotFoundError):
        await world.open_session(OpenSessionCommand("alice", "txn_nope"))


async def test_an_unavailable_method_is_refused_and_the_open_session_stays_open():
    world = World(routes={"wechat_pay": "mock"})
    bought = await buy(world, "alice", 10)

    with pytest.raises(PaymentMethodUnavailableError):
        await world.open_session(OpenSessionCommand("alice", bought.transaction.id, "alipay"))

    found = await detail(world, "alice", bought.transaction.id)
    assert [s.status for s in found.sessions] == ["open"]
    assert found.transaction.payment_method == "wechat_pay"


async def test_a_foreign_return_url_is_refused():
    world = World()
    bought = await buy(world, "alice", 10)

    with pytest.raises(DomainValidationError) as raised:
        await world.open_session(OpenSessionCommand("alice", bought.transaction.id, return_url="https://evil.example/"))

    assert raised.value.field == "return_url"
    assert len((await detail(world, "alice", bought.transaction.id)).sessions) == 1


async def test_a_provider_outage_while_replacing_fails_the_new_session_and_a_later_retry_works():
    world = World()
    bought = await buy(world, "alice", 10)
    world.advance(minutes=1)
    world.mock.inject_fault("open_payment", ProviderUnavailableError("down"), times=OPEN_ATTEMPTS)

    with pytest.raises(ProviderUnavailableError):
        await world.open_session(OpenSessionCommand("alice", bought.transaction.id))
    world.advance(minutes=1)
    retry = await world.open_session(OpenSessionCommand("alice", bought.transaction.id))

    found = await detail(world, "alice", bought.transaction.id)
    assert [s.status for s in found.sessions] == ["cancelled", "failed", "open"]
    assert (found.transaction.status, found.transaction.failure_reason) == ("pending", "provider_unavailable")
    assert (await world.pay(retry)).effect == "applied"


async def test_a_pending_plan_upgrade_can_get_a_new_session():
    world = World()
    started = await upgrade(world, "alice", "pro")
    world.advance(minutes=1)

    new = await world.open_session(OpenSessionCommand("alice", started.transaction.id, "wechat_pay"))
    await world.pay(new)

    assert new.amount == Money(2900, CNY)
    assert (await world.membership("alice")).plan == "pro"
