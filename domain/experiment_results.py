"""The results of a price experiment, per variant, from three counts the store sums (exposed users,
paying users, gross in minor units): conversion in basis points and revenue per exposed user, both
whole numbers rounded half-up with integer arithmetic, and the p-value of a two-proportion z-test
of the variant's conversion against the first variant's (docs/experiments.md, "Results").

The p-value is a statistic, not money: the z score is computed exactly (fractions) up to its one
square root, and the normal distribution's tail comes from the standard library.
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from fractions import Fraction
from statistics import NormalDist

import attrs

from domain.money import round_half_up


@attrs.frozen
class VariantCounts:
    variant_id: str
    exposed: int
    paying: int
    gross: int  # minor units


@attrs.frozen
class VariantResult:
    variant_id: str
    exposed: int
    paying: int
    conversion_bps: int
    gross: int
    revenue_per_exposed: int
    p_value: float | None


def ratio_half_up(numerator: int, denominator: int) -> int:
    """numerator ÷ denominator rounded half-up; 0 when the denominator is 0 (nobody exposed)."""
    return round_half_up(Fraction(numerator, denominator)) if denominator else 0


def two_proportion_p_value(paying_a: int, exposed_a: int, paying_b: int, exposed_b: int) -> float | None:
    """Two-sided p-value of the pooled two-proportion z-test of b's conversion against a's; None
    when either side has nobody exposed; 1.0 when the pooled rate is 0 or 1 (both sides converted
    alike: no difference to test)."""
    if exposed_a == 0 or exposed_b == 0:
        return None
    pooled = Fraction(paying_a + paying_b, exposed_a + exposed_b)
    variance = pooled * (1 - pooled) * (Fraction(1, exposed_a) + Fraction(1, exposed_b))
    if variance == 0:
        return 1.0
    difference = Fraction(paying_b, exposed_b) - Fraction(paying_a, exposed_a)
    z = abs(float(difference)) / math.sqrt(float(variance))
    return 2.0 * NormalDist().cdf(-z)


def results(counts: Sequence[VariantCounts]) -> list[VariantResult]:
    """One result per variant, in the order of `counts` (the experiment's order: the first is the
    control the others are tested against)."""
    control = counts[0] if counts else None
    found = []
    for index, c in enumerate(counts):
        p_value = None if index == 0 or control is None else two_proportion_p_value(
            control.paying, control.exposed, c.paying, c.exposed)
        found.append(VariantResult(c.variant_id, c.exposed, c.paying, ratio_half_up(c.paying * 10_000, c.exposed),
                                   c.gross, ratio_half_up(c.gross, c.exposed), p_value))
    return found
