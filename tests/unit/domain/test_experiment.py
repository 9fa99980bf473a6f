"""Price experiments in the domain: the lifecycle (draft → running → stopped, never back), what a
variant may override and what is refused, the catalog a variant makes, deterministic assignment by
weight (a 10,000-user simulation within 2 % of the weights), and the results maths with exact
figures."""
from collections import Counter
from datetime import datetime, timedelta, timezone
from statistics import NormalDist

import pytest

from domain.catalog import DEFAULT_CATALOG, DiscountTier, PlanId
from domain.errors import DomainValidationError, InvalidTransitionError
from domain.experiment import Experiment, ExperimentStatus, PriceVariant, assign, bucket
from domain.experiment_results import VariantCounts, results, two_proportion_p_value
from domain.money import CNY, Money

NOW = datetime(2027, 1, 5, 9, 0, tzinfo=timezone.utc)
CONTROL = PriceVariant("control", 50)
CHEAPER = PriceVariant("cheaper", 50, unit_price=180, plan_prices=(("pro", 2500),))


def experiment(*variants: PriceVariant, id: str = "receives-2027q1") -> Experiment:
    return Experiment.create(id=id, variants=variants or (CONTROL, CHEAPER), catalog=DEFAULT_CATALOG, now=NOW)


# ---------------------------------------------------------------------- lifecycle


def test_a_new_experiment_is_a_draft_that_starts_then_stops():
    found = experiment()
    assert found.status is ExperimentStatus.DRAFT

    found.start(NOW)
    assert (found.status, found.started_at) == (ExperimentStatus.RUNNING, NOW)

    found.stop(NOW + timedelta(days=1))
    assert (found.status, found.stopped_at) == (ExperimentStatus.STOPPED, NOW + timedelta(days=1))


def test_a_stopped_experiment_never_runs_again_and_only_a_running_one_stops():
    draft = experiment()
    with pytest.raises(InvalidTransitionError):
        draft.stop(NOW)
    draft.start(NOW)
    with pytest.raises(InvalidTransitionError):
        draft.start(NOW)
    draft.stop(NOW)
    with pytest.raises(InvalidTransitionError) as raised:
        draft.start(NOW)
    assert raised.value.code == "invalid_state"


# ---------------------------------------------------------------------- what a variant overrides


def test_a_variant_overrides_the_unit_price_and_plan_prices_and_keeps_the_rest_of_the_catalog():
    catalog = CHEAPER.catalog(DEFAULT_CATALOG)

    assert catalog.receives.unit_price == Money(180, CNY)
    assert catalog.receives.tiers == DEFAULT_CATALOG.receives.tiers
    assert catalog.plan(PlanId.PRO).price == Money(2500, CNY)
    assert catalog.plan(PlanId.VIP) == DEFAULT_CATALOG.plan(PlanId.VIP)
    assert catalog.plan(PlanId.BASIC) == DEFAULT_CATALOG.plan(PlanId.BASIC)
    assert catalog.receives.quote(10).total == Money(1530, CNY)  # 1800 less 15 %


def test_a_variant_naming_nothing_is_the_catalog_itself_and_tiers_replace_the_catalogs():
    assert CONTROL.catalog(DEFAULT_CATALOG) is DEFAULT_CATALOG
    flat = PriceVariant("flat", 1, tiers=())
    assert flat.catalog(DEFAULT_CATALOG).receives.quote(100).total == Money(20000, CNY)
    deep = PriceVariant("deep", 1, tiers=(DiscountTier(3, 25),))
    assert deep.catalog(DEFAULT_CATALOG).receives.quote(4).total == Money(600, CNY)


@pytest.mark.parametrize(("variant", "message"), [
    (PriceVariant("bad/id", 1), "variant id"),
    (PriceVariant("zero", 0), "weight"),
    (PriceVariant("free", 1, unit_price=0), "unit price"),
    (PriceVariant("basic", 1, plan_prices=(("basic", 100),)), "free"),
    (PriceVariant("gold", 1, plan_prices=(("gold", 100),)), "Unknown plan"),
    (PriceVariant("upside-down", 1, plan_prices=(("pro", 6000),)), "more than the plan below"),
    (PriceVariant("equal", 1, plan_prices=(("pro", 5900),)), "more than the plan below"),
    (PriceVariant("unsorted", 1, tiers=(DiscountTier(10, 15), DiscountTier(5, 10))), "increasing"),
    (PriceVariant("shrinking", 1, tiers=(DiscountTier(5, 20), DiscountTier(10, 10))), "discounts less"),
    (PriceVariant("too-far", 1, tiers=(DiscountTier(101, 10),)), "min_amount"),
    (PriceVariant("everything", 1, tiers=(DiscountTier(5, 100),)), "0..99"),
    (PriceVariant("rounds-to-nothing", 1, unit_price=1, tiers=(DiscountTier(1, 50),)), "at least one"),
])
def test_prices_the_catalog_could_not_charge_are_refused_on_the_variant(variant, message):
    with pytest.raises(DomainValidationError) as raised:
        experiment(CONTROL, variant)

    assert raised.value.field == "variants[1]"
    assert message in raised.value.message


@pytest.mark.parametrize(("id", "variants", "field"), [
    ("has space", (CONTROL, CHEAPER), "id"),
    ("x" * 65, (CONTROL, CHEAPER), "id"),
    ("alone", (CONTROL,), "variants"),
    ("twice", (CONTROL, PriceVariant("control", 10)), "variants"),
])
def test_an_experiment_needs_a_plain_id_and_two_or_more_distinct_variants(id, variants, field):
    with pytest.raises(DomainValidationError) as raised:
        Experiment.create(id=id, variants=variants, catalog=DEFAULT_CATALOG, now=NOW)

    assert raised.value.field == field


# ---------------------------------------------------------------------- assignment


def test_assignment_is_the_sha256_of_experiment_and_user_over_the_cumulative_weights():
    digest_bucket = int.from_bytes(__import__("hashlib").sha256(b"exp-1:alice").digest()[:8], "big") % 100
    variants = (PriceVariant("a", 30), PriceVariant("b", 70))

    assert bucket("exp-1", "alice", 100) == digest_bucket
    assert assign("exp-1", "alice", variants).id == ("a" if digest_bucket < 30 else "b")


def test_the_same_user_always_gets_the_same_variant_and_other_experiments_reshuffle():
    one, other = experiment(id="one"), experiment(id="other")

    assert all(one.assign(f"user-{n}") == one.assign(f"user-{n}") for n in range(200))
    assert any(one.assign(f"user-{n}").id != other.assign(f"user-{n}").id for n in range(200))


@pytest.mark.parametrize("weights", [(50, 50), (10, 90), (1, 1, 2), (20, 30, 50), (7, 13, 80)])
def test_ten_thousand_users_land_within_2_percent_of_the_weights(weights):
    variants = tuple(PriceVariant(f"v{n}", weight) for n, weight in enumerate(weights))
    found = Experiment.create(id="simulation", variants=variants, catalog=DEFAULT_CATALOG, now=NOW)

    counts = Counter(found.assign(f"user-{n}").id for n in range(10_000))

    for variant in variants:
        share = counts[variant.id] / 10_000
        assert abs(share - variant.weight / sum(weights)) <= 0.02, (variant.id, share)


# ---------------------------------------------------------------------- results


def test_results_from_known_counts_are_exact():
    control, cheaper, pricier = results([VariantCounts("control", 4, 1, 1700), VariantCounts("cheaper", 3, 2, 2861),
                                         VariantCounts("pricier", 0, 0, 0)])

    assert (control.conversion_bps, control.revenue_per_exposed, control.p_value) == (2500, 425, None)
    assert (cheaper.conversion_bps, cheaper.revenue_per_exposed) == (6667, 954)  # 6666.67 and 953.67, half-up
    assert (pricier.conversion_bps, pricier.revenue_per_exposed, pricier.p_value) == (0, 0, None)
    pooled = 3 / 7
    z = (2 / 3 - 1 / 4) / (pooled * (1 - pooled) * (1 / 4 + 1 / 3)) ** 0.5
    assert cheaper.p_value == pytest.approx(2 * (1 - NormalDist().cdf(z)), rel=1e-12)


def test_half_fen_and_half_basis_points_round_up():
    _, variant = results([VariantCounts("a", 1, 0, 0), VariantCounts("b", 8, 1, 12)])

    assert variant.conversion_bps == 1250
    assert variant.revenue_per_exposed == 2  # 1.5 → 2
    assert results([VariantCounts("a", 16, 1, 8)])[0].conversion_bps == 625
    assert results([VariantCounts("a", 32, 1, 16)])[0].conversion_bps == 313  # 312.5 → 313


def test_the_p_value_of_equal_conversions_is_one_and_a_large_difference_is_significant():
    assert two_proportion_p_value(0, 10, 0, 10) == 1.0
    assert two_proportion_p_value(10, 10, 5, 5) == 1.0
    assert two_proportion_p_value(50, 1000, 50, 1000) == pytest.approx(1.0)
    assert two_proportion_p_value(50, 1000, 100, 1000) < 0.001
    assert two_proportion_p_value(1, 0, 1, 10) is None
