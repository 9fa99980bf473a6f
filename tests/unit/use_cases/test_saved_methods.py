"""Saved methods and one-click purchases (docs/saved-methods.md), on in-memory adapters with a
fixed clock and the real mock plugin: a payment that saves its method, the first method is the
default, the default switched, delete (detached at the mock), one-click purchases and upgrades
that succeed, are declined, need the payer, or meet a provider whose answer is lost (then the
reconciler queries it), a retry of the same request, someone else's method, and the heal step."""
import attrs
import pytest

from builders import become, detail
from domain.errors import (
    DomainValidationError,
    ProviderUnavailableError,
    SavedMethodNotFoundError,
)
from domain.money import CNY, Money
from plugins.mock import provider as mock_provider
from ports.payment_provider import PaymentState
from ports.use_cases.payments.purchase_receives import PurchaseReceivesCommand
from ports.use_cases.plans.change_plan import ChangePlanCommand
from ports.use_cases.saved_methods.charge_off_session import ChargeOffSessionCommand
from ports.use_cases.sessions.open_session import OpenSessionCommand
from world import World


def uses(world: World, name: str):
    return getattr(world.container.use_cases, name)()


async def save_a_method(world: World, user: str = "alice", card: str = "ok", method: str = "credit_card"):
    """Buy 5 receives with `save_method` and pay with `card`; the saved method."""
    bought = await world.purchase_receives(PurchaseReceivesCommand(user, 5, method, save_method=True))
    headers, body = world.mock.settle(bought.session.order_id, True, card)
    assert (await world.notify(headers, body)).effect == "applied"
    return [m for m in await uses(world, "list_saved_methods")(user)][0]


async def one_click(world: World, saved_id: str, user: str = "alice", quantity: int = 10, key: str | None = None):
    return await world.purchase_receives(PurchaseReceivesCommand(user, quantity, "", saved_method_id=saved_id,
                                                                 request_key=key))


async def test_a_payment_with_save_method_keeps_the_mock_card_as_the_default():
    world = World()

    saved = await save_a_method(world)

    assert saved.id.startswith("spm_")
    assert (saved.payment_method, saved.provider, saved.label) == ("credit_card", "mock", "Mock card •••• 4242")
    assert (saved.brand, saved.last4, saved.exp_month, saved.exp_year, saved.is_default) == ("visa", "4242", 12, 2030, True)
    assert saved.created_at == world.clock.now()


async def test_a_payment_without_save_method_keeps_nothing():
    world = World()
    bought = await world.purchase_receives(PurchaseReceivesCommand("alice", 5, "credit_card"))
    await world.pay(bought.session)

    assert await uses(world, "list_saved_methods")("alice") == []


async def test_the_same_notification_twice_stores_the_method_once():
    world = World()
    bought = await world.purchase_receives(PurchaseReceivesCommand("alice", 5, "credit_card", save_method=True))
    headers, body = world.mock.settle(bought.session.order_id, True)
    await world.notify(headers, body)
    await world.notify(headers, body)

    assert len(await uses(world, "list_saved_methods")("alice")) == 1


async def test_the_second_method_is_not_the_default_until_chosen_and_then_only_it_is():
    world = World()
    first = await save_a_method(world)
    world.advance(seconds=1)
    second = await save_a_method(world, card="declines")
    assert (second.is_default, [m.id for m in await uses(world, "list_saved_methods")("alice")]) == \
        (False, [second.id, first.id])

    chosen = await uses(world, "set_default_saved_method")("alice", second.id)

    assert chosen.is_default
    assert {m.id: m.is_default for m in await uses(world, "list_saved_methods")("alice")} == \
        {first.id: False, second.id: True}


async def test_deleting_detaches_at_the_mock_and_hands_the_default_on():
    world = World()
    first = await save_a_method(world)
    world.advance(seconds=1)
    second = await save_a_method(world)

    await uses(world, "delete_saved_method")("alice", first.id)

    left = await uses(world, "list_saved_methods")("alice")
    assert [(m.id, m.is_default) for m in left] == [(second.id, True)]
    token = world.store.saved_methods[first.id].token
    assert world.mock._remote.saved_method(token).detached
    with pytest.raises(SavedMethodNotFoundError):
        await uses(world, "delete_saved_method")("alice", first.id)
    with pytest.raises(SavedMethodNotFoundError):
        await one_click(world, first.id)


async def test_someone_elses_method_is_not_found_anywhere():
    world = World()
    saved = await save_a_method(world, user="alice")

    with pytest.raises(SavedMethodNotFoundError):
        await one_click(world, saved.id, user="bob")
    with pytest.raises(SavedMethodNotFoundError):
        await uses(world, "set_default_saved_method")("bob", saved.id)
    with pytest.raises(SavedMethodNotFoundError):
        await uses(world, "delete_saved_method")("bob", saved.id)
    with pytest.raises(SavedMethodNotFoundError):
        await one_click(world, "spm_unknown", user="alice")
    assert len(world.store.transactions) == 1  # the purchase that saved it: nothing more


async def test_a_one_click_purchase_is_charged_at_once_and_credited():
    world = World()
    saved = await save_a_method(world)
    before = (await world.membership("alice")).purchased_remaining

    bought = await one_click(world, saved.id, quantity=10)

    assert bought.session is None
    t = bought.transaction
    assert (t.status, t.total, t.payment_method, t.provider) == ("succeeded", Money(1700, CNY), "credit_card", "mock")
    assert (await world.membership("alice")).purchased_remaining == before + 10
    sessions = (await detail(world, "alice", t.id)).sessions
    assert [(s.status, s.payment_url, s.qr_code) for s in sessions] == [("completed", None, None)]


async def test_a_declining_method_fails_the_purchase_with_the_decline_code_and_credits_nothing():
    world = World()
    saved = await save_a_method(world, card="declines")
    before = (await world.membership("alice")).purchased_remaining

    bought = await one_click(world, saved.id)

    assert bought.session is None
    assert (bought.transaction.status, bought.transaction.failure_reason) == ("failed", "card_declined")
    assert (await world.membership("alice")).purchased_remaining == before


async def test_a_method_that_needs_the_payer_opens_a_session_for_them():
    world = World()
    saved = await save_a_method(world, card="requires_action")

    bought = await one_click(world, saved.id)

    assert bought.transaction.status == "pending"
    s = bought.session
    assert (s.status, s.payment_method, s.provider, s.amount) == ("open", "credit_card", "mock", Money(1700, CNY))
    assert s.payment_url == f"http://payments.test/mock-checkout/{s.id}"
    assert (await world.pay(s)).effect == "applied"
    assert (await detail(world, "alice", bought.transaction.id)).transaction.status == "succeeded"


async def test_a_lost_answer_leaves_the_charge_to_the_reconciler_which_finds_it_paid_once():
    world = World()
    saved = await save_a_method(world)
    world.mock.inject_fault("charge_saved_method", ProviderUnavailableError("mock: 503"))
    world.mock.fault_plan.timeout_seconds = 0

    with pytest.raises(ProviderUnavailableError):
        await one_click(world, saved.id)
    pending = next(t for t in world.store.transactions.values() if t.status.value == "pending")
    attempt = pending.sessions[0]
    assert attempt.off_session and attempt.status.value == "open"
    assert world.mock._remote.get(attempt.order_id) is None  # the 503 came before the charge

    world.advance(minutes=1)
    await world.reconcile_payments()  # asked: not there, nothing changes
    assert world.store.transactions[pending.id].status.value == "pending"

    again = await ChargeOffSessionRetry(world)(pending.id, saved.id)  # a retry charges the same attempt
    assert again.transaction.status.value == "succeeded"
    assert [s.order_id for s in again.transaction.sessions] == [attempt.order_id]


def ChargeOffSessionRetry(world: World):
    charge = uses(world, "charge_off_session")

    async def call(transaction_id: str, saved_method_id: str):
        return await charge(ChargeOffSessionCommand(transaction_id, saved_method_id, fail_transaction=True))
    return call


async def test_a_charge_made_whose_answer_was_lost_is_credited_by_the_reconciler():
    world = World()
    saved = await save_a_method(world)
    world.mock.fault_plan.timeout_seconds = 0
    world.mock.inject_fault("charge_saved_method", ProviderUnavailableError("mock: timed out"))
    original = world.mock._maybe_fail

    def charge_then_lose(operation: str):  # the charge happens, its answer is lost
        if operation == "charge_saved_method":
            world.mock._faults.pop("charge_saved_method", None)
            return "timeout"
        return original(operation)
    world.mock._maybe_fail = charge_then_lose

    with pytest.raises(ProviderUnavailableError):
        await one_click(world, saved.id)
    world.mock._maybe_fail = original
    pending = next(t for t in world.store.transactions.values() if t.status.value == "pending")
    assert world.mock._remote.get(pending.sessions[0].order_id).state is PaymentState.SUCCEEDED

    world.advance(minutes=1)
    await world.reconcile_payments()

    assert world.store.transactions[pending.id].status.value == "succeeded"
    assert (await world.membership("alice")).purchased_remaining == 15


async def test_the_same_request_again_answers_the_first_charge_and_charges_once():
    world = World()
    saved = await save_a_method(world)

    first = await one_click(world, saved.id, key="k1")
    again = await one_click(world, saved.id, key="k1")

    assert again.transaction.id == first.transaction.id and again.transaction.status == "succeeded"
    assert (await world.membership("alice")).purchased_remaining == 15
    assert len(world.store.transactions) == 2


async def test_an_upgrade_paid_with_a_saved_method_takes_effect_at_once():
    world = World()
    saved = await save_a_method(world)

    started = await world.change_plan(ChangePlanCommand("alice", "pro", saved_method_id=saved.id))

    assert started.session is None
    assert (started.transaction.status, started.transaction.total) == ("succeeded", Money(2900, CNY))
    assert (await world.membership("alice")).plan == "pro"


async def test_a_declined_upgrade_fails_and_the_plan_stays():
    world = World()
    saved = await save_a_method(world, card="declines")

    started = await world.change_plan(ChangePlanCommand("alice", "vip", saved_method_id=saved.id))

    assert (started.transaction.status, started.transaction.failure_reason) == ("failed", "card_declined")
    assert (await world.membership("alice")).plan == "basic"


async def test_save_method_is_refused_where_the_provider_keeps_no_methods(monkeypatch):
    world = World()
    monkeypatch.setattr(mock_provider, "CAPABILITIES", attrs.evolve(mock_provider.CAPABILITIES, can_save_methods=False))

    with pytest.raises(DomainValidationError) as refused:
        await world.purchase_receives(PurchaseReceivesCommand("alice", 5, "wechat_pay", save_method=True))
    assert refused.value.details == {"save_method": [refused.value.message]}
    with pytest.raises(DomainValidationError):
        await world.change_plan(ChangePlanCommand("alice", "pro", "alipay", save_method=True))
    bought = await world.purchase_receives(PurchaseReceivesCommand("alice", 5, "wechat_pay"))
    with pytest.raises(DomainValidationError):
        await world.open_session(OpenSessionCommand("alice", bought.transaction.id, save_method=True))
    assert len(world.store.transactions) == 1


async def test_a_session_opened_with_save_method_saves_too():
    world = World()
    bought = await world.purchase_receives(PurchaseReceivesCommand("alice", 5, "credit_card"))
    opened = await world.open_session(OpenSessionCommand("alice", bought.transaction.id, save_method=True))

    await world.pay(opened)

    assert [m.label for m in await uses(world, "list_saved_methods")("alice")] == ["Mock card •••• 4242"]


async def test_a_method_whose_storing_failed_is_stored_by_the_heal_step_a_minute_later():
    world = World()
    bought = await world.purchase_receives(PurchaseReceivesCommand("alice", 5, "credit_card", save_method=True))
    world.mock.inject_fault("saved_method", ProviderUnavailableError("mock: 503"))
    await world.pay(bought.session)  # paid, but the method could not be read back
    assert await uses(world, "list_saved_methods")("alice") == []

    await world.reconcile_payments()  # too early: the payment's own path had a minute
    assert await uses(world, "list_saved_methods")("alice") == []
    world.advance(minutes=2)
    await world.reconcile_payments()
    await world.reconcile_payments()

    methods = await uses(world, "list_saved_methods")("alice")
    assert [(m.label, m.is_default) for m in methods] == [("Mock card •••• 4242", True)]
    session = world.store.transactions[bought.transaction.id].sessions[0]
    assert session.method_saved_at is not None


async def test_a_renewal_style_charge_leaves_a_declined_transaction_pending():
    world = World()
    saved = await save_a_method(world, card="declines")
    await become(world, "alice", "pro")
    bought = await world.purchase_receives(PurchaseReceivesCommand("alice", 3, "credit_card"))

    outcome = await uses(world, "charge_off_session")(ChargeOffSessionCommand(bought.transaction.id, saved.id))

    assert (outcome.transaction.status.value, outcome.transaction.failure_reason) == ("pending", "card_declined")
    assert [s.status.value for s in outcome.transaction.sessions] == ["cancelled", "failed"]


async def test_a_method_deleted_after_its_attempt_was_opened_is_not_charged():
    world = World()
    saved = await save_a_method(world)
    charges = uses(world, "charge_off_session")
    bought = await world.purchase_receives(PurchaseReceivesCommand("alice", 3, "credit_card"))
    async with world.uow() as uow:
        transaction = await uow.transactions.get(bought.transaction.id, for_update=True)
        method = await uow.saved_methods.get(saved.id)
        attempt = charges.open_attempt(transaction, method)
        await uow.transactions.update(transaction)
        await uow.commit()
    await uses(world, "delete_saved_method")("alice", saved.id)

    outcome = await charges.charge(transaction.id, attempt.id, fail_transaction=True)

    assert (outcome.transaction.status.value, outcome.transaction.failure_reason) == ("failed", "saved_method_deleted")
    assert world.mock._remote.get(attempt.order_id) is None  # nothing reached the provider


async def test_a_decline_whose_answer_was_lost_fails_the_one_click_purchase_when_the_reconciler_finds_it():
    world = World()
    saved = await save_a_method(world, card="declines")
    world.mock.fault_plan.timeout_seconds = 0
    original = world.mock._maybe_fail

    def decline_then_lose(operation: str):  # the charge is declined, its answer is lost
        return "timeout" if operation == "charge_saved_method" else original(operation)
    world.mock._maybe_fail = decline_then_lose
    with pytest.raises(ProviderUnavailableError):
        await one_click(world, saved.id)
    world.mock._maybe_fail = original
    pending = next(t for t in world.store.transactions.values() if t.status.value == "pending")

    world.advance(minutes=1)
    await world.reconcile_payments()

    found = world.store.transactions[pending.id]
    assert (found.status.value, found.failure_reason, found.sessions[0].status.value) == \
        ("failed", "card_declined", "failed")
