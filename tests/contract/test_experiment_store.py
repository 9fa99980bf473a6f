"""Contract of the price experiment store (`ports.experiments.ExperimentStore`) over memory, SQLite
and PostgreSQL: experiments stored and read back whole, an id used once, status changes as
compare-and-set with their audit entries, at most one running experiment even when two start at
once, the running experiment with the user's assignment in one read, the first exposure stored
once under concurrent calls, and the counts results are made of (exposed, paying since exposure,
gross) summed over exactly the transactions the variant priced."""
from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
import attrs
import pytest

from adapters.memory import InMemoryStore, in_memory_uow_factory
from contract_support import HOUR, MINUTE, T0, a_paid_purchase, a_purchase, new_id, store
from domain.audit import AuditEntry
from domain.catalog import DEFAULT_CATALOG, DiscountTier
from domain.experiment import Experiment, ExperimentStatus, PriceVariant
from domain.experiment_results import VariantCounts
from ports.events import EventDispatcher
from ports.experiments import AnotherExperimentRunningError, ExperimentExistsError


@attrs.frozen
class Storage:
    kind: str
    uow: object
    experiments: object
    audit_actions: object  # an async callable: the audit entries' actions, oldest first


@pytest.fixture(params=["memory", "sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def storage(request: pytest.FixtureRequest) -> AsyncIterator[Storage]:
    if request.param == "memory":
        from adapters.memory_experiments import InMemoryExperimentStore
        memory = InMemoryStore()

        async def actions():
            return [entry.action for entry in memory.audit_log]
        yield Storage("memory", in_memory_uow_factory(memory, EventDispatcher()), InMemoryExperimentStore(memory),
                      actions)
        return
    from adapters.sql.database import create_database
    from adapters.sql.experiments import SqlExperimentStore
    from adapters.sql.unit_of_work import sql_uow_factory

    if request.param == "sqlite":
        database = create_database(request.getfixturevalue("fresh_sqlite_url"))
    else:
        database = create_database(request.getfixturevalue("clean_postgres_url"), min_size=1, max_size=6)
    await database.connect()

    async def actions():
        return [r["action"] for r in await database.fetch_all("SELECT action FROM audit_log ORDER BY created_at, id")]
    try:
        yield Storage(request.param, sql_uow_factory(database, EventDispatcher()), SqlExperimentStore(database),
                      actions)
    finally:
        await database.disconnect()


VARIANTS = (PriceVariant("control", 50),
            PriceVariant("cheaper", 30, unit_price=180, tiers=(DiscountTier(5, 12),), plan_prices=(("pro", 2500),)),
            PriceVariant("flat", 20, tiers=()))


def an_experiment(id: str = "exp-1") -> Experiment:
    return Experiment.create(id=id, variants=VARIANTS, catalog=DEFAULT_CATALOG, now=T0)


def an_entry(action: str, object_id: str = "exp-1") -> AuditEntry:
    return AuditEntry(id=new_id("au"), actor="boss", action=action, object_type="experiment", object_id=object_id,
                      details={"status": "draft"}, request_id="req-1", created_at=T0)


async def started(storage: Storage, id: str = "exp-1") -> Experiment:
    experiment = an_experiment(id)
    await storage.experiments.add(experiment)
    experiment.start(T0 + MINUTE)
    assert await storage.experiments.change_status(experiment, "draft")
    return experiment


async def test_an_experiment_is_stored_whole_with_its_audit_entry_and_its_id_used_once(storage):
    await storage.experiments.add(an_experiment(), an_entry("experiment.created"))

    found = await storage.experiments.get("exp-1")
    assert (found.id, found.status, found.variants, found.created_at) == ("exp-1", ExperimentStatus.DRAFT, VARIANTS, T0)
    assert (found.started_at, found.stopped_at) == (None, None)
    with pytest.raises(ExperimentExistsError):
        await storage.experiments.add(an_experiment(), an_entry("experiment.created"))
    assert await storage.audit_actions() == ["experiment.created"]
    assert await storage.experiments.get("other") is None


async def test_a_status_change_is_a_compare_and_set_with_its_audit_entry(storage):
    experiment = an_experiment()
    await storage.experiments.add(experiment)
    experiment.start(T0 + HOUR)

    assert await storage.experiments.change_status(experiment, "draft", an_entry("experiment.started"))
    assert not await storage.experiments.change_status(experiment, "draft", an_entry("experiment.started"))

    found = await storage.experiments.get("exp-1")
    assert (found.status, found.started_at) == (ExperimentStatus.RUNNING, T0 + HOUR)
    found.stop(T0 + 2 * HOUR)
    assert await storage.experiments.change_status(found, "running", an_entry("experiment.stopped"))
    assert (await storage.experiments.get("exp-1")).stopped_at == T0 + 2 * HOUR
    assert sorted(await storage.audit_actions()) == ["experiment.started", "experiment.stopped"]


async def test_a_second_running_experiment_is_refused_even_when_both_start_at_once(storage):
    first, second = an_experiment("exp-a"), an_experiment("exp-b")
    for experiment in (first, second):
        await storage.experiments.add(experiment)
        experiment.start(T0)

    outcomes = await asyncio.gather(storage.experiments.change_status(first, "draft"),
                                    storage.experiments.change_status(second, "draft"), return_exceptions=True)

    assert sorted(type(o).__name__ for o in outcomes) == ["AnotherExperimentRunningError", "bool"]
    assert [o for o in outcomes if isinstance(o, bool)] == [True]
    statuses = {(await storage.experiments.get(id)).status for id in ("exp-a", "exp-b")}
    assert statuses == {ExperimentStatus.RUNNING, ExperimentStatus.DRAFT}
    loser = first if (await storage.experiments.get("exp-a")).status is ExperimentStatus.DRAFT else second
    with pytest.raises(AnotherExperimentRunningError):
        await storage.experiments.change_status(loser, "draft")


async def test_the_running_experiment_comes_with_the_users_assignment_and_none_runs_after_a_stop(storage):
    assert await storage.experiments.running("alice") is None
    experiment = await started(storage)

    before = await storage.experiments.running("alice")
    await storage.experiments.expose("exp-1", "alice", "cheaper", T0 + HOUR)
    after = await storage.experiments.running("alice")

    assert (before.experiment.id, before.experiment.variants, before.assigned_variant) == ("exp-1", VARIANTS, None)
    assert after.assigned_variant == "cheaper"
    assert (await storage.experiments.running("bob")).assigned_variant is None
    experiment.stop(T0 + 2 * HOUR)
    assert await storage.experiments.change_status(experiment, "running")
    assert await storage.experiments.running("alice") is None


async def test_the_first_exposure_is_stored_once_whatever_calls_race(storage):
    await started(storage)

    await asyncio.gather(*(storage.experiments.expose("exp-1", "alice", variant, T0 + n * MINUTE)
                           for n, variant in enumerate(["flat", "control", "cheaper"] * 3)))

    assert (await storage.experiments.running("alice")).assigned_variant in {"flat", "control", "cheaper"}
    counts = await storage.experiments.counts("exp-1", ["control", "cheaper", "flat"])
    assert sum(c.exposed for c in counts) == 1


async def test_counts_sum_every_paid_transaction_of_the_exposed_users_since_exposure(storage):
    await started(storage)
    exposures = {"c1": "control", "c2": "control", "c3": "control", "v1": "cheaper", "v2": "cheaper"}
    for user, variant in exposures.items():
        await storage.experiments.expose("exp-1", user, variant, T0 + HOUR)

    def priced(transaction, variant):
        transaction.price_variant = f"exp-1/{variant}"
        return transaction
    counted = [priced(a_paid_purchase("c1", at=T0 + 2 * HOUR), "control"),   # 1700
               priced(a_paid_purchase("v1", at=T0 + 2 * HOUR), "cheaper"),   # 1700
               priced(a_paid_purchase("v1", at=T0 + 3 * HOUR), "cheaper"),   # the same payer again
               a_paid_purchase("c3", at=T0 + 2 * HOUR),                       # at the catalog's prices: counts too
               priced(a_paid_purchase("c3", at=T0 + 2 * HOUR), "other")]    # whatever priced it
    not_counted = [priced(a_purchase("c2", at=T0 + 2 * HOUR), "control"),      # pending
                   priced(a_paid_purchase("v2", at=T0 - HOUR), "cheaper"),      # paid before exposure
                   priced(a_paid_purchase("zz", at=T0 + 2 * HOUR), "control")]  # never exposed
    await store(storage, *counted, *not_counted)

    counts = await storage.experiments.counts("exp-1", ["control", "cheaper", "flat"])

    assert list(counts) == [VariantCounts("control", 3, 2, 5100), VariantCounts("cheaper", 2, 1, 3400),
                            VariantCounts("flat", 0, 0, 0)]


async def test_counts_of_an_experiment_count_only_its_own_assignments(storage):
    await started(storage, "exp-1")
    await storage.experiments.add(an_experiment("exp-2"))
    await storage.experiments.expose("exp-1", "alice", "control", T0)
    await storage.experiments.expose("exp-2", "alice", "flat", T0)

    assert [c.exposed for c in await storage.experiments.counts("exp-2", ["control", "cheaper", "flat"])] == [0, 0, 1]
    assert [c.exposed for c in await storage.experiments.counts("exp-1", ["control", "cheaper", "flat"])] == [1, 0, 0]

