"""PurchaseReceives: pricing, the pending transaction and its first session, the pending limit,
payment methods, return URLs and a provider that fails while the order is opened."""
import re
from fractions import Fraction
from math import floor

import attrs
import pytest
from hypothesis import given, settings, strategies as st

from builders import all_transactions, buy, detail, ledger_balance, purchase_entries, OPEN_ATTEMPTS
from domain.errors import (
    DomainValidationError,
    PaymentMethodUnavailableError,
    ProviderUnavailableError,
    TooManyPendingError,
)
from domain.money import CNY, Money
from ports.payment_provider import PaymentState
from ports.use_cases.sessions.open_session import OpenSessionCommand
from ports.use_cases.payments.purchase_receives import PurchaseReceivesCommand
from ports.use_cases.sessions.provider_orders import RetryPolicy
from world import START, World

ORDER_ID = re.compile(r"^[A-Za-z0-9]{6,32}$")


async def test_ten_receives_cost_1700_after_a_15_percent_discount():
    world = World()

    bought = await buy(world, "alice", 10)

    t = bought.transaction
    assert (t.subtotal, t.discount, t.total) == (Money(2000, CNY), Money(300, CNY), Money(1700, CNY))
    assert (t.type, t.status, t.receives, t.plan_from, t.plan_to) == ("purchase_receives", "pending", 10, None, None)
    assert (t.payment_method, t.provider, t.refunded_amount) == ("wechat_pay", "mock", Money(0, CNY))
    assert (t.cancel_reason, t.failure_reason, t.completed_at) == (None, None, None)
    assert t.created_at == t.updated_at == START


async def test_the_purchase_opens_a_session_for_the_total_with_the_mocks_checkout_url():
    world = World()

    bought = await buy(world, "alice", 10)

    s = bought.session
    assert (s.status, s.transaction_id, s.amount) == ("open", bought.transaction.id, Money(1700, CNY))
    assert (s.payment_method, s.provider) == ("wechat_pay", "mock")
    assert s.payment_url == f"http://payments.test/mock-checkout/{s.id}"
    assert s.expires_at == START + world.settings.session_ttl
    assert (await world.mock.query_payment(s.order_id)).state is PaymentState.PENDING


async def test_the_transaction_and_its_session_have_their_own_valid_order_ids():
    world = World()

    bought = await buy(world)

    assert ORDER_ID.match(bought.transaction.order_id)
    assert ORDER_ID.match(bought.session.order_id)
    assert bought.transaction.order_id != bought.session.order_id


@pytest.mark.parametrize("quantity, total", [(1, 200), (4, 800), (5, 900), (7, 1260), (10, 1700),
                                             (19, 3230), (20, 3200), (100, 16000)])
async def test_the_discount_tier_applies_to_the_whole_quantity(quantity, total):
    world = World()

    bought = await buy(world, quantity=quantity)

    assert bought.transaction.total == bought.session.amount == Money(total, CNY)


@settings(max_examples=25, deadline=None)
@given(quantity=st.integers(min_value=1, max_value=100))
async def test_any_quantity_is_priced_by_its_tier_rounded_half_up(quantity):
    world = World()
    percent = 20 if quantity >= 20 else 15 if quantity >= 10 else 10 if quantity >= 5 else 0
    subtotal = 200 * quantity
    discount = floor(Fraction(subtotal * percent, 100) + Fraction(1, 2))

    t = (await buy(world, quantity=quantity)).transaction

    assert (t.subtotal.amount, t.discount.amount, t.total.amount) == (subtotal, discount, subtotal - discount)


async def test_the_balance_grows_only_when_the_payment_is_confirmed():
    world = World()
    bought = await buy(world, "alice", 10)
    before = await world.membership("alice")

    await world.pay(bought.session)

    after = await world.membership("alice")
    assert (before.purchased_remaining, before.balance) == (0, 3)
    assert (after.purchased_remaining, after.balance) == (10, 13)
    assert ledger_balance(world).total == after.balance
    assert [e.reference for e in purchase_entries(world)] == [bought.transaction.id]
    paid = await detail(world, "alice", bought.transaction.id)
    assert (paid.transaction.status, paid.transaction.completed_at) == ("succeeded", START)
    assert paid.sessions[0].status == "completed"


async def test_more_than_five_pending_purchases_are_refused_and_nothing_is_written():
    world = World()
    for _ in range(5):
        await buy(world)
    sessions_before = dict(world.store.sessions)

    with pytest.raises(TooManyPendingError) as raised:
        await buy(world)

    assert raised.value.code == "too_many_pending"
    assert len(await all_transactions(world)) == 5
    assert world.store.sessions.keys() == sessions_before.keys()


async def test_the_pending_limit_is_configurable():
    world = World(max_pending=2)
    await buy(world)
    await buy(world)

    with pytest.raises(TooManyPendingError):
        await buy(world)

    assert len(await all_transactions(world)) == 2


async def test_the_pending_limit_is_per_user_and_a_paid_purchase_frees_a_slot():
    world = World(max_pending=1)
    first = await buy(world, "alice")

    await buy(world, "bob")  # bob has his own limit
    with pytest.raises(TooManyPendingError):
        await buy(world, "alice")
    await world.pay(first.session)
    await buy(world, "alice")

    assert sorted(t.status for t in await all_transactions(world, "alice")) == ["pending", "succeeded"]


async def test_a_method_without_a_route_is_refused_as_unavailable():
    world = World(routes={"wechat_pay": "mock"})

    with pytest.raises(PaymentMethodUnavailableError) as raised:
        await buy(world, method="alipay")

    assert raised.value.code == "payment_method_unavailable"
    assert await all_transactions(world) == []


async def test_a_routed_method_can_be_used():
    world = World(routes={"wechat_pay": "mock"})

    bought = await buy(world, method="wechat_pay")

    assert bought.session.status == "open"


@pytest.mark.parametrize("return_url", [
    "https://evil.example/thanks",
    "http://localhost.evil.example/thanks",
    "http://localhost@evil.example/thanks",
    "javascript:alert(1)",
    "ftp://localhost/thanks",
    "//localhost/thanks",
    "not a url",
])
async def test_a_return_url_off_the_allowed_hosts_is_refused(return_url):
    world = World()

    with pytest.raises(DomainValidationError) as raised:
        await buy(world, return_url=return_url)

    assert raised.value.field == "return_url"
    assert "return_url" in raised.value.details
    assert await all_transactions(world) == []


@pytest.mark.parametrize("return_url", ["http://localhost:3000/done", "https://127.0.0.1/paid?x=1"])
async def test_a_return_url_on_an_allowed_host_is_accepted(return_url):
    world = World()

    bought = await buy(world, return_url=return_url)

    assert world.store.sessions[bought.session.id].return_url == return_url


async def test_the_allowed_return_url_hosts_are_configurable():
    world = World(return_url_hosts=frozenset({"app.example.com"}))

    await buy(world, return_url="https://app.example.com/done")
    with pytest.raises(DomainValidationError):
        await buy(world, return_url="http://localhost/done")


@pytest.mark.parametrize("quantity", [0, 101, -1])
async def test_a_quantity_out_of_range_is_refused_and_nothing_is_written(quantity):
    world = World()

    with pytest.raises(DomainValidationError) as raised:
        await buy(world, quantity=quantity)

    assert raised.value.field == "amount"
    assert (world.store.transactions, world.store.sessions, world.store.ledger) == ({}, {}, [])


async def test_a_quantity_that_is_not_a_whole_number_is_refused():
    world = World()

    with pytest.raises(DomainValidationError):
        await buy(world, quantity=True)

    assert world.store.transactions == {}


async def test_a_provider_outage_at_opening_fails_the_session_but_keeps_the_transaction_pending():
    world = World()
    world.mock.inject_fault("open_payment", ProviderUnavailableError("the mock is down"), times=OPEN_ATTEMPTS)

    with pytest.raises(ProviderUnavailableError):
        await buy(world, "alice", 10)

    [transaction] = await all_transactions(world)
    found = await detail(world, "alice", transaction.id)
    assert (found.transaction.status, found.transaction.failure_reason) == ("pending", "provider_unavailable")
    assert [s.status for s in found.sessions] == ["failed"]
    assert found.sessions[0].payment_url is None


async def test_after_a_provider_outage_a_new_session_can_be_opened_and_paid():
    world = World()
    world.mock.inject_fault("open_payment", ProviderUnavailableError("the mock is down"), times=OPEN_ATTEMPTS)
    with pytest.raises(ProviderUnavailableError):
        await buy(world, "alice", 10)
    [transaction] = await all_transactions(world)
    world.advance(minutes=1)

    retry = await world.open_session(OpenSessionCommand("alice", transaction.id))
    result = await world.pay(retry)

    assert (retry.status, result.effect) == ("open", "applied")
    found = await detail(world, "alice", transaction.id)
    assert found.transaction.status == "succeeded"
    assert [s.status for s in found.sessions] == ["failed", "completed"]
    assert (await world.membership("alice")).purchased_remaining == 10


async def test_a_passing_outage_at_opening_is_retried_with_the_same_order_id():
    world = World()
    world.mock.inject_fault("open_payment", ProviderUnavailableError("one 503"))

    bought = await buy(world, "alice", 10)

    assert bought.session.status == "open" and bought.session.payment_url
    status = await world.mock.query_payment(bought.session.order_id)
    assert (status.state.value, status.amount) == ("pending", bought.transaction.total)


async def test_a_retry_of_a_request_whose_first_attempt_committed_resumes_it_instead_of_repeating_it():
    world = World()
    command = PurchaseReceivesCommand("alice", 10, "wechat_pay", request_key="key-1")

    first = await world.purchase_receives(command)
    retry = await world.purchase_receives(command)  # the client never saw the first answer

    assert retry.transaction.id == first.transaction.id and retry.session.id == first.session.id
    assert retry.session.order_id == first.session.order_id and retry.session.payment_url
    assert [t.id for t in (await all_transactions(world))] == [first.transaction.id]


async def test_the_same_key_for_another_purchase_makes_another_transaction():
    world = World()
    first = await world.purchase_receives(PurchaseReceivesCommand("alice", 10, "wechat_pay", request_key="key-1"))
    other = await world.purchase_receives(PurchaseReceivesCommand("alice", 5, "wechat_pay", request_key="key-1"))
    bob = await world.purchase_receives(PurchaseReceivesCommand("bob", 10, "wechat_pay", request_key="key-1"))

    assert len({first.transaction.id, other.transaction.id, bob.transaction.id}) == 3


async def test_a_resumed_request_whose_attempt_failed_at_the_provider_answers_that_attempt():
    world = World()
    command = PurchaseReceivesCommand("alice", 10, "wechat_pay", request_key="key-1")
    world.mock.inject_fault("open_payment", ProviderUnavailableError("the process died here"), times=OPEN_ATTEMPTS)
    with pytest.raises(ProviderUnavailableError):
        await world.purchase_receives(command)

    retry = await world.purchase_receives(command)

    assert retry.session.status == "failed"  # that attempt ended; the transaction stays pending for a retry
    assert [t.status for t in (await all_transactions(world))] == ["pending"]



async def test_an_unanswered_provider_is_asked_again_after_the_injected_policys_growing_waits():
    world = World()
    waits: list[float] = []

    async def record(seconds: float) -> None:
        waits.append(seconds)

    world.purchase_receives._orders = attrs.evolve(world.orders, retry=RetryPolicy(delay_seconds=0.5, sleep=record))
    world.mock.inject_fault("open_payment", ProviderUnavailableError("timeout"), times=OPEN_ATTEMPTS - 1)

    bought = await buy(world, "alice", 10)

    assert bought.session.payment_url is not None  # the last attempt got through
    assert waits == [0.5 * attempt for attempt in range(1, OPEN_ATTEMPTS)]
