"""The catalog as data: receive pricing with bulk discount tiers, and the monthly plans.

Pricing of receives: the tier is chosen by quantity and applies to the whole quantity;
`discount = subtotal × percent / 100` rounded half-up to the fen; `total = subtotal − discount`.
"""
from __future__ import annotations

import enum
from fractions import Fraction

import attrs

from domain.errors import DomainValidationError
from domain.money import CNY, Currency, Money


# The payment methods the API knows, with their display names. Which provider serves each one
# is configuration (the method routes), not domain knowledge.
PAYMENT_METHODS: dict[str, str] = {
    "wechat_pay": "WeChat Pay",
    "alipay": "Alipay",
    "credit_card": "Card",
    "mock": "Mock",
}


class PlanId(str, enum.Enum):
    BASIC = "basic"
    PRO = "pro"
    VIP = "vip"


@attrs.frozen
class DiscountTier:
    """From `min_quantity` receives on, `discount_percent` off the whole purchase."""

    min_quantity: int
    discount_percent: int


@attrs.frozen
class ReceivesQuote:
    quantity: int
    unit_price: Money
    subtotal: Money
    discount: Money
    total: Money
    discount_percent: int


@attrs.frozen
class ReceivesPricing:
    unit_price: Money
    min_quantity: int = 1
    max_quantity: int = 100
    tiers: tuple[DiscountTier, ...] = ()

    def __attrs_post_init__(self) -> None:
        if self.unit_price.amount <= 0:
            raise ValueError("the unit price must be positive")
        if any(not 0 <= t.discount_percent <= 100 for t in self.tiers):
            raise ValueError("discount percentages lie in 0..100")

    def discount_percent_for(self, quantity: int) -> int:
        """The tier is chosen by quantity: the one with the highest threshold reached."""
        reached = [t for t in self.tiers if quantity >= t.min_quantity]
        return max(reached, key=lambda t: t.min_quantity).discount_percent if reached else 0

    def quote(self, quantity: int) -> ReceivesQuote:
        if type(quantity) is not int or not self.min_quantity <= quantity <= self.max_quantity:
            raise DomainValidationError(
                f"Must be between {self.min_quantity} and {self.max_quantity}.", field="amount"
            )
        percent = self.discount_percent_for(quantity)
        subtotal = self.unit_price * quantity
        discount = subtotal.scaled(Fraction(percent, 100))
        return ReceivesQuote(quantity, self.unit_price, subtotal, discount, subtotal - discount, percent)


@attrs.frozen
class Plan:
    id: PlanId
    name: str
    price: Money
    monthly_receives: int
    rank: int  # basic < pro < vip

    @property
    def is_paid(self) -> bool:
        return not self.price.is_zero


@attrs.frozen
class Catalog:
    currency: Currency
    receives: ReceivesPricing
    plans: tuple[Plan, ...]

    def plan(self, plan_id: PlanId | str) -> Plan:
        for plan in self.plans:
            if plan.id == plan_id:
                return plan
        raise DomainValidationError(f"Unknown plan {plan_id!r}.", field="new_plan")

    @property
    def free_plan(self) -> Plan:
        return min(self.plans, key=lambda p: p.rank)


DEFAULT_CATALOG = Catalog(
    currency=CNY,
    receives=ReceivesPricing(
        unit_price=Money(200, CNY),
        tiers=(DiscountTier(5, 10), DiscountTier(10, 15), DiscountTier(20, 20)),
    ),
    plans=(
        Plan(PlanId.BASIC, "Basic", Money(0, CNY), 3, 0),
        Plan(PlanId.PRO, "Pro", Money(2900, CNY), 20, 1),
        Plan(PlanId.VIP, "VIP", Money(5900, CNY), 100, 2),
    ),
)
