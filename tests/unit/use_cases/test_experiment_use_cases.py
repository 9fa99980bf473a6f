"""Price experiments through the use cases, on the in-memory adapters: creating, starting (at most
one running) and stopping experiments; GET /pricing, quotes, purchases and plan changes at the
user's variant prices, with `price_variant` on the transactions; exposure stored once (never by a
quote); a purchase reading its prices with the risk gate's facts in one read, judged at the
variant's prices, a refusal exposing nobody; after a stop the catalog again while transactions
keep their prices and variant; results from known data; and a 10,000-user simulation through the
pricing use case."""
from collections import Counter
from datetime import timedelta

import pytest

from builders import become, buy, detail, upgrade
from domain.audit import AuditEntry
from domain.errors import InvalidTransitionError, NotFoundError
from domain.experiment import ExperimentStatus, PriceVariant, assign
from domain.money import CNY, Money
from domain.risk import RiskDeclinedError
from ports.experiments import AnotherExperimentRunningError, ExperimentExistsError
from ports.use_cases.catalog.quote_receives import QuoteReceivesQuery
from ports.use_cases.experiments.admin import CreateExperimentCommand
from ports.use_cases.plans.quote_plan_change import QuotePlanChangeQuery
from world import World

EXPERIMENT = "receives-2027q1"
CONTROL = PriceVariant("control", 50)
CHEAPER = PriceVariant("cheaper", 50, unit_price=180, plan_prices=(("pro", 2500),))


class Experiments:
    def __init__(self, world: World) -> None:
        use_cases = world.container.use_cases
        self.world = world
        self.create_use_case = use_cases.create_experiment()
        self.change = use_cases.change_experiment_status()
        self.results = use_cases.experiment_results()
        self.quote_receives = use_cases.quote_receives()
        self.quote_plan_change = use_cases.quote_plan_change()
        self.store = world.container.adapters.experiments()

    async def create(self, id: str = EXPERIMENT, variants=(CONTROL, CHEAPER)):
        return await self.create_use_case(CreateExperimentCommand(id, tuple(variants), "admin-1", "req-1"))

    async def start(self, id: str = EXPERIMENT):
        return await self.change(id, ExperimentStatus.RUNNING, admin="admin-1")

    async def stop(self, id: str = EXPERIMENT):
        return await self.change(id, ExperimentStatus.STOPPED, admin="admin-1")

    async def running(self, id: str = EXPERIMENT, variants=(CONTROL, CHEAPER)):
        await self.create(id, variants)
        return await self.start(id)


def user_in(variant: str, *, experiment: str = EXPERIMENT, variants=(CONTROL, CHEAPER), skip: int = 0) -> str:
    """A user id the hash assigns to `variant` (the `skip`-th such)."""
    found = (f"user-{n}" for n in range(10_000) if assign(experiment, f"user-{n}", variants).id == variant)
    for _ in range(skip):
        next(found)
    return next(found)


@pytest.fixture
def world() -> World:
    return World()


@pytest.fixture
def experiments(world) -> Experiments:
    return Experiments(world)


# ---------------------------------------------------------------------- the admin's side


async def test_a_created_experiment_is_a_draft_and_the_creation_is_audited(world, experiments):
    created = await experiments.create()

    assert (created.id, created.status, [v.id for v in created.variants]) == (
        EXPERIMENT, ExperimentStatus.DRAFT, ["control", "cheaper"])
    entry: AuditEntry = world.store.audit_log[-1]
    assert (entry.actor, entry.action, entry.object_type, entry.object_id, entry.request_id) == (
        "admin-1", "experiment.created", "experiment", EXPERIMENT, "req-1")


async def test_an_id_in_use_is_refused_as_a_state_conflict(experiments):
    await experiments.create()

    with pytest.raises(ExperimentExistsError) as raised:
        await experiments.create(variants=(PriceVariant("a", 1), PriceVariant("b", 1)))
    assert raised.value.code == "invalid_state"


async def test_at_most_one_experiment_runs_and_a_stopped_one_never_runs_again(experiments):
    await experiments.running()
    await experiments.create("another")

    with pytest.raises(AnotherExperimentRunningError) as raised:
        await experiments.start("another")
    assert raised.value.code == "invalid_state"
    with pytest.raises(InvalidTransitionError):
        await experiments.start()

    stopped = await experiments.stop()
    assert stopped.status is ExperimentStatus.STOPPED
    with pytest.raises(InvalidTransitionError):
        await experiments.start()
    assert (await experiments.start("another")).status is ExperimentStatus.RUNNING


async def test_unknown_experiments_are_not_found(experiments):
    for call in (experiments.start("nope"), experiments.stop("nope"), experiments.results("nope")):
        with pytest.raises(NotFoundError):
            await call


# ---------------------------------------------------------------------- the user's prices


async def test_pricing_shows_the_users_variant_and_stores_the_exposure_once(world, experiments):
    await experiments.running()
    cheap, control = user_in("cheaper"), user_in("control")

    seen = await world.get_pricing(cheap)
    await world.get_pricing(cheap)
    default = await world.get_pricing(control)

    assert seen.receives.unit_price == Money(180, CNY)
    assert seen.plan("pro").price == Money(2500, CNY)
    assert default == world.settings.catalog
    counts = {r.variant_id: r.exposed for r in (await experiments.results(EXPERIMENT)).variants}
    assert counts == {"control": 1, "cheaper": 1}


async def test_quotes_use_the_variant_but_store_no_exposure(world, experiments):
    await experiments.running()
    cheap = user_in("cheaper")

    receives = await experiments.quote_receives(QuoteReceivesQuery(7, cheap))
    plan = await experiments.quote_plan_change(QuotePlanChangeQuery(cheap, "pro"))

    assert (receives.subtotal, receives.discount, receives.total) == (
        Money(1260, CNY), Money(126, CNY), Money(1134, CNY))
    assert plan.proration.charge == Money(2500, CNY)
    assert all(r.exposed == 0 for r in (await experiments.results(EXPERIMENT)).variants)


async def test_a_purchase_is_priced_by_the_variant_and_carries_it(world, experiments):
    await experiments.running()
    cheap, control = user_in("cheaper"), user_in("control")

    bought = await buy(world, cheap, 10)
    default = await buy(world, control, 10)

    assert (bought.transaction.total, bought.session.amount) == (Money(1530, CNY), Money(1530, CNY))
    assert bought.transaction.price_variant == f"{EXPERIMENT}/cheaper"
    assert (default.transaction.total, default.transaction.price_variant) == (Money(1700, CNY), f"{EXPERIMENT}/control")
    assert {r.variant_id: r.exposed for r in (await experiments.results(EXPERIMENT)).variants} == {
        "control": 1, "cheaper": 1}


async def test_a_purchase_reads_its_prices_with_the_risk_gates_facts_once_and_a_refusal_exposes_nobody(
        world, experiments, monkeypatch):
    await experiments.running()
    cheap = user_in("cheaper")
    risk = world.container.adapters.risk_store()
    together: list[dict] = []  # the calls of the read of both (in memory it asks each store in turn)
    read_together = risk.snapshot_and_running

    async def counted(*args, **kwargs):
        together.append(kwargs)
        try:
            return await read_together(*args, **kwargs)
        finally:
            kwargs["done"] = True

    def only_within(original, what):
        async def read(*args, **kwargs):
            assert together and "done" not in together[-1], f"{what} read on its own"
            return await original(*args, **kwargs)
        return read
    monkeypatch.setattr(risk, "snapshot_and_running", counted)
    monkeypatch.setattr(risk, "snapshot", only_within(risk.snapshot, "the gate"))
    monkeypatch.setattr(experiments.store, "running", only_within(experiments.store.running, "the prices"))

    bought = await buy(world, cheap, 10)
    assert (bought.transaction.total, bought.transaction.price_variant) == (Money(1530, CNY), f"{EXPERIMENT}/cheaper")
    now = world.clock.now()
    assert len(together) == 1 and (together[0]["paid_since"], together[0]["failed_since"]) == (
        now - timedelta(hours=24), now - timedelta(hours=1))

    blocked = user_in("cheaper", skip=1)
    await risk.set_blocked(blocked, True, reason="fraud", by="admin-1", now=now)
    before = len(world.store.transactions)
    with pytest.raises(RiskDeclinedError):
        await buy(world, blocked, 10)
    assert len(world.store.transactions) == before  # nothing written: no transaction, no exposure
    assert {r.variant_id: r.exposed for r in (await experiments.results(EXPERIMENT)).variants} == {
        "control": 0, "cheaper": 1}
    # The daily amount is judged on the variant's price: 3 × 100 receives at 180 fen, 20 % off, paid (43200);
    # 45 more cost 6480 (49680 fits; at the catalog's 7200 they would not), 100 more 14400 (over 50000).
    for _ in range(3):
        await world.pay((await buy(world, cheap, 100)).session)
    assert (await buy(world, cheap, 45)).transaction.total == Money(6480, CNY)
    with pytest.raises(RiskDeclinedError):
        await buy(world, cheap, 100)
    assert len(together) == 7


async def test_outside_experiments_transactions_carry_no_variant(world, experiments):
    await experiments.create()  # a draft runs nothing

    bought = await buy(world, "alice", 10)

    assert (bought.transaction.total, bought.transaction.price_variant) == (Money(1700, CNY), None)


async def test_upgrades_and_prorations_use_the_variants_plan_prices(world, experiments):
    cheaper_vip = PriceVariant("cheaper", 50, plan_prices=(("pro", 2000), ("vip", 4000)))
    await experiments.running(variants=(CONTROL, cheaper_vip))
    user = user_in("cheaper", variants=(CONTROL, cheaper_vip))

    first = await upgrade(world, user, "pro")
    assert (first.transaction.total, first.transaction.price_variant) == (Money(2000, CNY), f"{EXPERIMENT}/cheaper")
    await world.pay(first.session)
    world.advance(days=14)  # Jan 31 + 14 days of a period to Feb 28: 14 of 28 days remain

    second = await upgrade(world, user, "vip")

    assert (second.proration.credit, second.proration.debit, second.proration.charge) == (
        Money(1000, CNY), Money(2000, CNY), Money(1000, CNY))
    assert second.transaction.price_variant == f"{EXPERIMENT}/cheaper"


async def test_after_a_stop_everyone_sees_the_catalog_and_transactions_keep_their_prices_and_variant(
        world, experiments):
    await experiments.running()
    cheap = user_in("cheaper")
    made_during = await buy(world, cheap, 10)

    await experiments.stop()

    assert await world.get_pricing(cheap) == world.settings.catalog
    after = await buy(world, cheap, 10)
    assert (after.transaction.total, after.transaction.price_variant) == (Money(1700, CNY), None)
    # Paid after the stop: the earlier transaction keeps the price and the variant it was made with.
    await world.pay(made_during.session)
    kept = (await detail(world, cheap, made_during.transaction.id)).transaction
    assert (kept.status, kept.total, kept.price_variant) == ("succeeded", Money(1530, CNY), f"{EXPERIMENT}/cheaper")
    assert (await world.membership(cheap)).purchased_remaining == 10


async def test_the_assignment_is_kept_across_a_stop_and_another_experiment_assigns_afresh(world, experiments):
    await experiments.running()
    cheap = user_in("cheaper")
    await world.get_pricing(cheap)
    await experiments.stop()

    await world.get_pricing(cheap)  # no exposure while nothing runs
    results = {r.variant_id: r.exposed for r in (await experiments.results(EXPERIMENT)).variants}
    assert results == {"control": 0, "cheaper": 1}
    await experiments.running("next", variants=(PriceVariant("a", 1), PriceVariant("b", 1)))
    shown = await world.get_pricing(cheap)
    assert shown == world.settings.catalog  # a and b override nothing
    assert sum(r.exposed for r in (await experiments.results("next")).variants) == 1


async def test_results_from_known_data_are_exact(world, experiments):
    await experiments.running()
    controls = [user_in("control", skip=n) for n in range(4)]
    cheaps = [user_in("cheaper", skip=n) for n in range(3)]
    for user in controls + cheaps:
        await world.get_pricing(user)
    paid = await buy(world, controls[0], 10)  # 1700
    await world.pay(paid.session)
    for user, quantity in ((cheaps[0], 10), (cheaps[1], 1)):  # 1530 and 180
        bought = await buy(world, user, quantity)
        await world.pay(bought.session)
    second = await buy(world, cheaps[0], 1)  # the same payer again: 180 more, still one paying user
    await world.pay(second.session)
    await buy(world, controls[1], 5)  # pending: neither paying nor gross
    declined = await buy(world, cheaps[2], 5)
    await world.pay(declined.session, succeeded=False)

    found = await experiments.results(EXPERIMENT)

    control, cheaper = found.variants
    assert (control.exposed, control.paying, control.conversion_bps, control.gross, control.revenue_per_exposed) == (
        4, 1, 2500, 1700, 425)
    assert (cheaper.exposed, cheaper.paying, cheaper.conversion_bps, cheaper.gross, cheaper.revenue_per_exposed) == (
        3, 2, 6667, 1890, 630)
    assert control.p_value is None
    assert 0 < cheaper.p_value < 1


async def test_ten_thousand_users_shown_their_prices_land_within_2_percent_of_the_weights(world, experiments):
    variants = (PriceVariant("a", 20), PriceVariant("b", 30, unit_price=150), PriceVariant("c", 50, unit_price=250))
    await experiments.running("simulation", variants)

    shown = Counter()
    for n in range(10_000):
        shown[(await world.get_pricing(f"sim-{n}")).receives.unit_price.amount] += 1

    exposed = {r.variant_id: r.exposed for r in (await experiments.results("simulation")).variants}
    assert sum(exposed.values()) == 10_000
    for variant, unit_price in (("a", 200), ("b", 150), ("c", 250)):
        weight = next(v.weight for v in variants if v.id == variant) / 100
        assert abs(exposed[variant] / 10_000 - weight) <= 0.02
        assert shown[unit_price] == exposed[variant]
