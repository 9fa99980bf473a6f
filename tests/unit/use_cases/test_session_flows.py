"""The flow of a payment session (`qr_code`, `redirect`, `mobile_redirect`): a purchase, an upgrade
and a new session open theirs with the flow asked for, else the method's first; the session keeps
it and the provider is asked for it every time the order is opened (a retry after an unknown
outcome, the reconciler completing a session left without instructions); a flow the method's
provider does not offer, or none of the three, is refused before anything is stored."""
from __future__ import annotations

import pytest

import plugins.mock.provider as mock_provider
from builders import all_transactions, become, buy, detail, session
from domain.errors import DomainValidationError, ProviderUnavailableError
from entrypoints.container import active_adapters
from ports.payment_provider import Flow, MethodCapability, PaymentOrder, ProviderCapabilities
from ports.use_cases.payments.purchase_receives import PurchaseReceivesCommand
from ports.use_cases.plans.change_plan import ChangePlanCommand
from ports.use_cases.sessions.open_session import OpenSessionCommand
from world import World

FLOWS = [flow.value for flow in Flow]


def opened_orders(world: World, monkeypatch: pytest.MonkeyPatch) -> list[PaymentOrder]:
    """Every order the mock is asked to open from now on (it still opens them)."""
    seen: list[PaymentOrder] = []
    real_open = world.mock.open_payment

    async def open_payment(order: PaymentOrder):
        seen.append(order)
        return await real_open(order)

    monkeypatch.setattr(world.mock, "open_payment", open_payment)
    return seen


async def stored_flow(world: World, session_id: str) -> str | None:
    found = await world.queries.session(session_id)
    assert found is not None
    return found.flow


@pytest.fixture
def wechat_pay_native_only(monkeypatch: pytest.MonkeyPatch) -> None:
    """The mock serves WeChat Pay as WeChat Pay Native does, with a QR code only (the other
    methods as before)."""
    methods = tuple(MethodCapability(m.id, m.name, (Flow.QR_CODE,)) if m.id == "wechat_pay" else m
                    for m in mock_provider.CAPABILITIES.methods)
    monkeypatch.setattr(mock_provider, "CAPABILITIES",
                        ProviderCapabilities(methods, mock_provider.CAPABILITIES.currencies))


# ---------------------------------------------------------------------- the default
@pytest.mark.parametrize("method, first", [("wechat_pay", "qr_code"), ("alipay", "qr_code"),
                                           ("credit_card", "redirect"), ("mock", "qr_code")])
async def test_without_a_flow_a_purchase_takes_the_methods_first_flow(method, first, monkeypatch):
    world = World()
    orders = opened_orders(world, monkeypatch)

    bought = await buy(world, "alice", 3, method)

    methods = {m.id: m for m in await world.list_payment_methods()}
    assert methods[method].flows[0] == first  # the first flow GET /methods lists
    assert [o.flow for o in orders] == [Flow(first)]
    assert await stored_flow(world, bought.session.id) == first


async def test_without_a_flow_a_new_session_takes_its_methods_first_flow_not_the_earlier_sessions(monkeypatch):
    world = World()
    bought = await world.purchase_receives(PurchaseReceivesCommand("alice", 3, "wechat_pay", flow="mobile_redirect"))
    orders = opened_orders(world, monkeypatch)

    new = await world.open_session(OpenSessionCommand("alice", bought.transaction.id, "credit_card"))

    assert [o.flow for o in orders] == [Flow.REDIRECT]
    assert await stored_flow(world, new.id) == "redirect"


# ---------------------------------------------------------------------- each flow asked for
@pytest.mark.parametrize("flow", FLOWS)
async def test_a_purchase_asks_the_provider_for_the_flow_and_keeps_it(flow, monkeypatch):
    world = World()
    orders = opened_orders(world, monkeypatch)

    bought = await world.purchase_receives(PurchaseReceivesCommand("alice", 3, "alipay", flow=flow))

    assert [(o.order_id, o.flow) for o in orders] == [(bought.session.order_id, Flow(flow))]
    assert await stored_flow(world, bought.session.id) == flow
    # The mock fits its instructions to it: a code to scan only for qr_code.
    assert bought.session.payment_url == f"http://payments.test/mock-checkout/{bought.session.id}"
    assert bought.session.qr_code == (bought.session.payment_url if flow == "qr_code" else None)


@pytest.mark.parametrize("flow", FLOWS)
async def test_an_upgrade_asks_the_provider_for_the_flow_and_keeps_it(flow, monkeypatch):
    world = World()
    orders = opened_orders(world, monkeypatch)

    started = await world.change_plan(ChangePlanCommand("alice", "pro", "wechat_pay", flow=flow))

    assert [(o.order_id, o.flow) for o in orders] == [(started.session.order_id, Flow(flow))]
    assert await stored_flow(world, started.session.id) == flow


@pytest.mark.parametrize("flow", FLOWS)
async def test_a_new_session_asks_the_provider_for_the_flow_and_keeps_it(flow, monkeypatch):
    world = World()
    bought = await buy(world, "alice", 3)
    orders = opened_orders(world, monkeypatch)

    new = await world.open_session(OpenSessionCommand("alice", bought.transaction.id, flow=flow))

    assert [(o.order_id, o.flow) for o in orders] == [(new.order_id, Flow(flow))]
    assert await stored_flow(world, new.id) == flow
    assert await stored_flow(world, bought.session.id) == "qr_code"  # the replaced one keeps its own


async def test_the_order_opened_again_after_an_unknown_outcome_asks_for_the_same_flow(monkeypatch):
    world = World()
    world.mock.inject_fault("open_payment", ProviderUnavailableError("timed out"), times=2)
    orders = opened_orders(world, monkeypatch)

    bought = await world.purchase_receives(PurchaseReceivesCommand("alice", 3, "wechat_pay", flow="redirect"))

    assert len(orders) == 3
    assert {(o.order_id, o.flow) for o in orders} == {(bought.session.order_id, Flow.REDIRECT)}
    assert bought.session.status == "open" and bought.session.qr_code is None


async def test_the_reconciler_opens_a_session_left_without_instructions_with_its_flow(monkeypatch):
    world = World()
    instructions = active_adapters(world.container).instructions()

    async def lost(_session) -> bool:
        raise ConnectionResetError("the database went away while the instructions were attached")

    with monkeypatch.context() as broken:
        broken.setattr(instructions, "attach", lost)
        with pytest.raises(ConnectionResetError):
            await world.purchase_receives(PurchaseReceivesCommand("alice", 3, "wechat_pay", flow="mobile_redirect"))
    [transaction] = await all_transactions(world)
    [left] = (await detail(world, "alice", transaction.id)).sessions
    assert left.payment_url is None
    orders = opened_orders(world, monkeypatch)

    world.advance(minutes=1)  # its first check is due
    await world.reconcile_payments()

    assert [(o.order_id, o.flow) for o in orders] == [(left.order_id, Flow.MOBILE_REDIRECT)]
    completed = await session(world, "alice", left.id)
    assert completed.status == "open" and completed.payment_url and completed.qr_code is None
    assert world.mock.order_for_session(left.id).order.flow is Flow.MOBILE_REDIRECT


# ---------------------------------------------------------------------- refused flows
async def test_a_purchase_with_a_flow_the_provider_does_not_offer_is_refused_and_stores_nothing(
        wechat_pay_native_only, monkeypatch):
    world = World()
    orders = opened_orders(world, monkeypatch)

    with pytest.raises(DomainValidationError) as refused:
        await world.purchase_receives(PurchaseReceivesCommand("alice", 3, "wechat_pay", flow="redirect"))

    assert refused.value.field == "flow" and set(refused.value.details) == {"flow"}
    assert "qr_code" in refused.value.message  # what it does offer
    assert await all_transactions(world) == [] and orders == []
    assert world.store.memberships == {}  # not even the membership it locks first


@pytest.mark.parametrize("flow", ["QR_CODE", "app", ""])
async def test_a_flow_none_of_the_three_is_refused_and_stores_nothing(flow):
    world = World()

    with pytest.raises(DomainValidationError) as refused:
        await world.purchase_receives(PurchaseReceivesCommand("alice", 3, "wechat_pay", flow=flow))

    assert refused.value.field == "flow"
    assert await all_transactions(world) == []


async def test_an_upgrade_with_a_flow_the_provider_does_not_offer_is_refused_and_changes_nothing(
        wechat_pay_native_only, monkeypatch):
    world = World()
    earlier = await world.change_plan(ChangePlanCommand("alice", "pro", "alipay"))
    orders = opened_orders(world, monkeypatch)

    with pytest.raises(DomainValidationError) as refused:
        await world.change_plan(ChangePlanCommand("alice", "vip", "wechat_pay", flow="mobile_redirect"))

    assert refused.value.field == "flow"
    # The earlier pending upgrade is not superseded, and nothing new was made.
    assert [(t.id, t.status) for t in await all_transactions(world)] == [(earlier.transaction.id, "pending")]
    assert (await session(world, "alice", earlier.session.id)).status == "open"
    assert orders == []


async def test_a_new_session_with_a_flow_the_provider_does_not_offer_is_refused_and_keeps_the_open_one(
        wechat_pay_native_only, monkeypatch):
    world = World()
    bought = await buy(world, "alice", 3, "alipay")
    orders = opened_orders(world, monkeypatch)

    with pytest.raises(DomainValidationError) as refused:
        await world.open_session(OpenSessionCommand("alice", bought.transaction.id, "wechat_pay", flow="redirect"))

    assert refused.value.field == "flow"
    found = await detail(world, "alice", bought.transaction.id)
    assert [(s.id, s.status) for s in found.sessions] == [(bought.session.id, "open")]
    assert found.transaction.payment_method == "alipay"
    assert orders == []


async def test_a_downgrade_checks_a_flow_it_is_given_though_it_opens_no_session(wechat_pay_native_only):
    world = World()
    await become(world, "alice", "pro")
    before = await all_transactions(world)

    with pytest.raises(DomainValidationError) as refused:
        await world.change_plan(ChangePlanCommand("alice", "basic", "wechat_pay", flow="redirect"))
    assert refused.value.field == "flow"
    assert await all_transactions(world) == before
    assert (await world.membership("alice")).scheduled_change is None

    scheduled = await world.change_plan(ChangePlanCommand("alice", "basic", "wechat_pay", flow="qr_code"))
    assert scheduled.transaction.type == "plan_downgrade"  # an offered flow is accepted, and ignored
    assert (await world.membership("alice")).scheduled_change is not None
