"""Money: an integer number of minor units plus a currency. No floats, anywhere.

`Money(1700, CNY)` is 17.00 CNY. Arithmetic and ordering across currencies raise
`CurrencyMismatchError`; equality across currencies is simply False. Rounding of fractional
amounts happens in one place, `round_half_up`, on exact integer ratios.
"""
from __future__ import annotations

from decimal import Decimal, DecimalException, Inexact, InvalidOperation, localcontext
from fractions import Fraction

import attrs

from domain.errors import CurrencyMismatchError, DomainValidationError


@attrs.frozen
class Currency:
    """An ISO 4217 currency: its code and the exponent of its minor unit (CNY 2, JPY 0)."""

    code: str
    minor_unit: int

    @classmethod
    def of(cls, code: str) -> Currency:
        try:
            return _CURRENCIES[code]
        except KeyError:
            raise DomainValidationError(f"Unknown currency {code!r}.", field="currency") from None

    def __str__(self) -> str:
        return self.code


CNY = Currency("CNY", 2)
USD = Currency("USD", 2)
JPY = Currency("JPY", 0)
_CURRENCIES = {c.code: c for c in (CNY, USD, JPY)}


def round_half_up(value: Fraction) -> int:
    """The integer nearest to an exact rational value, halves rounded away from zero."""
    sign = -1 if value < 0 else 1
    magnitude = abs(value)
    return sign * int((magnitude.numerator * 2 + magnitude.denominator) // (magnitude.denominator * 2))


def _whole_number(instance: object, attribute: attrs.Attribute, value: object) -> None:
    if type(value) is not int:  # refuses bool and float, which `isinstance(…, int)` would not
        raise TypeError(f"Money.amount must be an int number of minor units, not {type(value).__name__}")


@attrs.frozen(order=False)
class Money:
    """An amount in integer minor units of `currency`."""

    amount: int = attrs.field(validator=_whole_number)
    currency: Currency = attrs.field(validator=attrs.validators.instance_of(Currency))

    @classmethod
    def zero(cls, currency: Currency) -> Money:
        return cls(0, currency)

    @classmethod
    def parse(cls, text: str, currency_code: str) -> Money:
        """Parse a decimal string in major units ("12.34") exactly; excess precision is refused."""
        currency = Currency.of(currency_code)
        try:
            value = Decimal(text)
        except InvalidOperation:
            raise DomainValidationError(f"{text!r} is not a decimal amount.", field="amount") from None
        with localcontext() as context:
            context.traps[Inexact] = True  # never round silently (28+ digits, underflow to zero)
            try:
                minor = value.scaleb(currency.minor_unit)
            except DecimalException:  # also sNaN and overflow
                raise DomainValidationError(f"{text!r} is not an amount {currency.code} can hold exactly.",
                                            field="amount") from None
        if not minor.is_finite() or minor != minor.to_integral_value():
            raise DomainValidationError(
                f"{text!r} has more precision than {currency.code} allows.", field="amount"
            )
        return cls(int(minor), currency)

    def format(self) -> str:
        """Display only, e.g. "17.00 CNY"."""
        exponent = self.currency.minor_unit
        sign = "-" if self.amount < 0 else ""
        units, minor = divmod(abs(self.amount), 10**exponent)
        fraction = f".{minor:0{exponent}d}" if exponent else ""
        return f"{sign}{units}{fraction} {self.currency.code}"

    def scaled(self, ratio: Fraction) -> Money:
        """This amount times an exact ratio, rounded half-up to the minor unit."""
        return Money(round_half_up(self.amount * ratio), self.currency)

    def _same(self, other: object) -> Money:
        if not isinstance(other, Money):
            raise TypeError(f"cannot combine Money with {type(other).__name__}")
        if other.currency != self.currency:
            raise CurrencyMismatchError(self.currency.code, other.currency.code)
        return other

    def __add__(self, other: Money) -> Money:
        return Money(self.amount + self._same(other).amount, self.currency)

    def __sub__(self, other: Money) -> Money:
        return Money(self.amount - self._same(other).amount, self.currency)

    def __neg__(self) -> Money:
        return Money(-self.amount, self.currency)

    def __mul__(self, factor: int) -> Money:
        if type(factor) is not int:
            raise TypeError("Money can only be multiplied by an int; use scaled() for ratios")
        return Money(self.amount * factor, self.currency)

    __rmul__ = __mul__

    def __lt__(self, other: Money) -> bool:
        return self.amount < self._same(other).amount

    def __le__(self, other: Money) -> bool:
        return self.amount <= self._same(other).amount

    def __gt__(self, other: Money) -> bool:
        return self.amount > self._same(other).amount

    def __ge__(self, other: Money) -> bool:
        return self.amount >= self._same(other).amount

    @property
    def is_zero(self) -> bool:
        return self.amount == 0
