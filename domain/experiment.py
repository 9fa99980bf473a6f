"""Price experiments (A/B tests of prices): an experiment's weighted variants, each overriding part
of the catalog (the receive unit price and tiers, plan prices; everything it does not name stays
the catalog's), its lifecycle and the deterministic assignment of a user to a variant.

Transition table (`TRANSITIONS`):

    draft ──► running ──► stopped

A stopped experiment never runs again (a new experiment is made instead), so an assignment, which
is a pure function of the experiment and the user, can never meet different prices of the same
variant. At most one experiment runs at a time; the store enforces it (docs/experiments.md).

Assignment: `sha256("<experiment id>:<user id>")`, its first 8 bytes as an unsigned integer, modulo
the sum of the weights, falls in one variant's stretch of the cumulative weights (in the order
given). The same user always lands in the same variant of one experiment, on any process.
"""
from __future__ import annotations

import enum
import hashlib
import re
from collections.abc import Sequence
from datetime import datetime

import attrs

from domain.catalog import Catalog, DiscountTier, ReceivesPricing
from domain.errors import DomainValidationError
from domain.money import Money
from domain.transitions import check_transition

EXPERIMENT_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
VARIANT_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,31}")
MAX_VARIANTS = 10
MAX_WEIGHT = 10_000


class ExperimentStatus(str, enum.Enum):
    DRAFT = "draft"
    RUNNING = "running"
    STOPPED = "stopped"


S = ExperimentStatus
TRANSITIONS: dict[ExperimentStatus, frozenset[ExperimentStatus]] = {
    S.DRAFT: frozenset({S.RUNNING}),
    S.RUNNING: frozenset({S.STOPPED}),
    S.STOPPED: frozenset(),
}


@attrs.frozen
class PriceVariant:
    """One arm of an experiment: its `weight` (a share of the users) and the prices it overrides.
    `unit_price` and `tiers` (None: the catalog's) replace the receive pricing's; `plan_prices`
    maps paid plan ids to their monthly price in minor units. Validated against a catalog by
    `Experiment.create`."""

    id: str
    weight: int
    unit_price: int | None = None
    tiers: tuple[DiscountTier, ...] | None = None
    plan_prices: tuple[tuple[str, int], ...] = ()  # (plan id, price), in the order given

    @property
    def overrides_nothing(self) -> bool:
        return self.unit_price is None and self.tiers is None and not self.plan_prices

    def catalog(self, base: Catalog) -> Catalog:
        """`base` with this variant's prices in place of its own."""
        if self.overrides_nothing:
            return base
        receives = base.receives
        receives = ReceivesPricing(
            unit_price=Money(self.unit_price, base.currency) if self.unit_price is not None else receives.unit_price,
            min_quantity=receives.min_quantity, max_quantity=receives.max_quantity,
            tiers=self.tiers if self.tiers is not None else receives.tiers)
        prices = dict(self.plan_prices)
        plans = tuple(attrs.evolve(plan, price=Money(prices[plan.id.value], base.currency))
                      if plan.id.value in prices else plan for plan in base.plans)
        return Catalog(currency=base.currency, receives=receives, plans=plans)

    def check(self, base: Catalog, field: str) -> None:
        """Refuse (DomainValidationError on `field`) a variant whose prices the catalog's rules
        could not charge: every purchase of receives must cost at least one minor unit, a bigger
        tier never discounts less (so the price of a receive never rises with the quantity),
        only paid plans are repriced, and the plans keep their order (each costs more than the
        one below it, so an upgrade is never negative)."""
        def refuse(message: str) -> None:
            raise DomainValidationError(message, field=field)

        if VARIANT_ID.fullmatch(self.id) is None:
            refuse("A variant id is 1-32 of A-Z, a-z, 0-9, '_', '.', '-', starting with a letter or digit.")
        if type(self.weight) is not int or not 1 <= self.weight <= MAX_WEIGHT:
            refuse(f"A weight is a whole number from 1 to {MAX_WEIGHT}.")
        if self.unit_price is not None and (type(self.unit_price) is not int or self.unit_price < 1):
            refuse("A unit price is a whole number of minor units, at least 1.")
        receives = base.receives
        if self.tiers is not None:
            minimums = [tier.min_quantity for tier in self.tiers]
            if any(not receives.min_quantity <= m <= receives.max_quantity for m in minimums):
                refuse(f"A tier's min_amount lies in {receives.min_quantity}..{receives.max_quantity}.")
            if minimums != sorted(set(minimums)):
                refuse("Tiers are listed by increasing min_amount, each once.")
            percents = [tier.discount_percent for tier in self.tiers]
            if any(not 0 <= p <= 99 for p in percents):
                refuse("A tier's discount_percent lies in 0..99.")
            if percents != sorted(percents):
                refuse("A bigger tier never discounts less than a smaller one.")
        known = {plan.id.value: plan for plan in base.plans}
        for plan_id, price in self.plan_prices:
            if plan_id not in known:
                refuse(f"Unknown plan {plan_id!r}.")
            if not known[plan_id].is_paid:
                refuse(f"The {plan_id} plan is free and stays free.")
            if type(price) is not int or price < 1:
                refuse("A plan price is a whole number of minor units, at least 1.")
        if len({plan_id for plan_id, _ in self.plan_prices}) != len(self.plan_prices):
            refuse("Each plan is priced once.")
        catalog = self.catalog(base)
        paid = sorted((plan for plan in catalog.plans if plan.is_paid), key=lambda plan: plan.rank)
        if any(lower.price.amount >= higher.price.amount for lower, higher in zip(paid, paid[1:])):
            refuse("Each paid plan must cost more than the plan below it.")
        pricing = catalog.receives
        if any(pricing.quote(q).total.amount < 1 for q in range(pricing.min_quantity, pricing.max_quantity + 1)):
            refuse("Every purchase of receives must cost at least one minor unit.")


@attrs.define(eq=False)
class Experiment:
    id: str
    _status: ExperimentStatus
    variants: tuple[PriceVariant, ...]
    created_at: datetime
    started_at: datetime | None = None
    stopped_at: datetime | None = None

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Experiment) and other.id == self.id

    def __hash__(self) -> int:
        return hash(self.id)

    @classmethod
    def create(cls, *, id: str, variants: Sequence[PriceVariant], catalog: Catalog, now: datetime) -> Experiment:
        """A draft experiment. Refuses (DomainValidationError) a malformed id, fewer than two
        or more than `MAX_VARIANTS` variants, a variant id used twice, or a variant whose prices
        `PriceVariant.check` refuses."""
        if type(id) is not str or EXPERIMENT_ID.fullmatch(id) is None:
            raise DomainValidationError("An experiment id is 1-64 of A-Z, a-z, 0-9, '_', '.', '-', starting with a "
                                        "letter or digit.", field="id")
        if not 2 <= len(variants) <= MAX_VARIANTS:
            raise DomainValidationError(f"An experiment has 2 to {MAX_VARIANTS} variants.", field="variants")
        if len({variant.id for variant in variants}) != len(variants):
            raise DomainValidationError("Each variant id is used once.", field="variants")
        for index, variant in enumerate(variants):
            variant.check(catalog, f"variants[{index}]")
        return cls(id=id, status=S.DRAFT, variants=tuple(variants), created_at=now)

    @property
    def status(self) -> ExperimentStatus:
        return self._status

    @property
    def is_running(self) -> bool:
        return self._status is S.RUNNING

    def start(self, now: datetime) -> None:
        """draft → running (InvalidTransitionError otherwise: a stopped experiment stays stopped)."""
        check_transition(TRANSITIONS, "price experiment", self._status, S.RUNNING)
        self._status, self.started_at = S.RUNNING, now

    def stop(self, now: datetime) -> None:
        """running → stopped (InvalidTransitionError otherwise)."""
        check_transition(TRANSITIONS, "price experiment", self._status, S.STOPPED)
        self._status, self.stopped_at = S.STOPPED, now

    def variant(self, variant_id: str) -> PriceVariant:
        for variant in self.variants:
            if variant.id == variant_id:
                return variant
        raise KeyError(f"experiment {self.id} has no variant {variant_id}")

    def assign(self, user_id: str) -> PriceVariant:
        """The variant `user_id` belongs to: a pure function of the experiment id, the user id and
        the weights (see the module docstring)."""
        return assign(self.id, user_id, self.variants)

    def price_variant(self, variant: PriceVariant) -> str:
        """What transactions priced by `variant` carry: "<experiment id>/<variant id>"."""
        return f"{self.id}/{variant.id}"


def bucket(experiment_id: str, user_id: str, total_weight: int) -> int:
    """A number in 0..total_weight-1, uniform over users: sha256 of "experiment:user", first 8
    bytes big-endian, modulo the total (the modulo's bias is below 2⁻⁴⁰ for these weights)."""
    digest = hashlib.sha256(f"{experiment_id}:{user_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") % total_weight


def assign(experiment_id: str, user_id: str, variants: Sequence[PriceVariant]) -> PriceVariant:
    """The variant whose stretch of the cumulative weights holds the user's bucket."""
    point = bucket(experiment_id, user_id, sum(variant.weight for variant in variants))
    for variant in variants:
        if point < variant.weight:
            return variant
        point -= variant.weight
    raise AssertionError("a bucket lies below the total weight")

