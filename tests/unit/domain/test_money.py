"""Money: integer minor units plus a currency; exact parsing; half-up rounding of exact ratios."""
from decimal import Decimal
from fractions import Fraction

import attrs
import pytest

from domain.errors import CurrencyMismatchError, DomainValidationError
from domain.money import CNY, JPY, USD, Currency, Money, round_half_up


def cny(amount: int) -> Money:
    return Money(amount, CNY)


# ---------------------------------------------------------------------- construction


def test_money_is_an_integer_number_of_minor_units_with_a_currency():
    money = Money(1700, CNY)

    assert money.amount == 1700
    assert type(money.amount) is int
    assert money.currency is CNY


@pytest.mark.parametrize("amount", [17.0, 0.0, True, False, Decimal("17"), Fraction(17), "1700", None])
def test_money_refuses_an_amount_that_is_not_a_plain_int(amount):
    with pytest.raises(TypeError):
        Money(amount, CNY)


def test_money_refuses_a_currency_code_in_place_of_a_currency():
    with pytest.raises(TypeError):
        Money(100, "CNY")


def test_money_is_immutable():
    money = cny(100)

    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        money.amount = 200


def test_currencies_carry_their_minor_unit_exponent():
    assert (CNY.code, CNY.minor_unit) == ("CNY", 2)
    assert (USD.code, USD.minor_unit) == ("USD", 2)
    assert (JPY.code, JPY.minor_unit) == ("JPY", 0)
    assert Currency.of("CNY") is CNY
    assert str(CNY) == "CNY"


def test_an_unknown_currency_code_is_a_validation_error_on_the_currency_field():
    with pytest.raises(DomainValidationError) as raised:
        Currency.of("XXX")

    assert raised.value.field == "currency"
    assert raised.value.code == "validation_error"


def test_zero_is_zero_in_its_currency():
    assert Money.zero(USD) == Money(0, USD)
    assert Money.zero(USD).is_zero
    assert not cny(1).is_zero


# ---------------------------------------------------------------------- arithmetic and ordering


def test_money_of_one_currency_adds_subtracts_and_negates():
    assert cny(1700) + cny(300) == cny(2000)
    assert cny(1700) - cny(2000) == cny(-300)
    assert -cny(5) == cny(-5)


def test_money_multiplies_by_an_int_from_either_side():
    assert cny(200) * 5 == cny(1000)
    assert 5 * cny(200) == cny(1000)


@pytest.mark.parametrize("factor", [2.0, True, Fraction(1, 2), Decimal("2")])
def test_money_refuses_to_multiply_by_anything_but_an_int(factor):
    with pytest.raises(TypeError):
        cny(200) * factor


@pytest.mark.parametrize("other", [100, 1.0, None])
def test_money_combines_only_with_money(other):
    with pytest.raises(TypeError):
        cny(100) + other
    with pytest.raises(TypeError):
        cny(100) < other


@pytest.mark.parametrize(
    "operation",
    [
        lambda a, b: a + b,
        lambda a, b: a - b,
        lambda a, b: a < b,
        lambda a, b: a <= b,
        lambda a, b: a > b,
        lambda a, b: a >= b,
    ],
    ids=["add", "subtract", "lt", "le", "gt", "ge"],
)
def test_arithmetic_and_ordering_across_currencies_raise_currency_mismatch(operation):
    with pytest.raises(CurrencyMismatchError) as raised:
        operation(Money(100, CNY), Money(100, USD))

    assert raised.value.code == "validation_error"
    assert "CNY" in raised.value.message and "USD" in raised.value.message


def test_ordering_within_a_currency_compares_the_amounts():
    assert cny(1) < cny(2)
    assert cny(2) <= cny(2)
    assert cny(3) > cny(2)
    assert cny(2) >= cny(2)
    assert not cny(2) < cny(2)
    assert not cny(3) <= cny(2)


def test_equality_across_currencies_is_simply_false():
    assert Money(100, CNY) != Money(100, USD)
    assert not Money(100, CNY) == Money(100, USD)


def test_equal_money_is_interchangeable_as_a_dictionary_key():
    assert {cny(100): "a"}[Money(100, CNY)] == "a"
    assert len({cny(100), Money(100, CNY), Money(100, USD)}) == 2


# ---------------------------------------------------------------------- parsing and formatting


@pytest.mark.parametrize(
    ("text", "code", "expected"),
    [
        ("12.34", "CNY", Money(1234, CNY)),
        ("0.10", "CNY", Money(10, CNY)),
        ("0.1", "CNY", Money(10, CNY)),
        ("-0.05", "CNY", Money(-5, CNY)),
        ("12.340", "CNY", Money(1234, CNY)),
        ("100", "CNY", Money(10000, CNY)),
        ("19.99", "USD", Money(1999, USD)),
        ("1700", "JPY", Money(1700, JPY)),
        ("0", "CNY", Money(0, CNY)),
    ],
)
def test_parse_reads_a_decimal_string_in_major_units_exactly(text, code, expected):
    assert Money.parse(text, code) == expected


@pytest.mark.parametrize(("text", "code"), [("12.345", "CNY"), ("0.001", "CNY"), ("1.5", "JPY"), ("1e-3", "USD")])
def test_parse_refuses_more_precision_than_the_currency_allows(text, code):
    with pytest.raises(DomainValidationError) as raised:
        Money.parse(text, code)

    assert raised.value.field == "amount"


@pytest.mark.parametrize("text", ["abc", "", "12,34", "NaN", "Infinity", "-Infinity"])
def test_parse_refuses_text_that_is_not_a_finite_decimal(text):
    with pytest.raises(DomainValidationError) as raised:
        Money.parse(text, "CNY")

    assert raised.value.field == "amount"


def test_parse_refuses_an_unknown_currency():
    with pytest.raises(DomainValidationError) as raised:
        Money.parse("1.00", "XXX")

    assert raised.value.field == "currency"


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("12345678901234567890123456789.5", "JPY"),  # 30 significant digits: more than Decimal's default 28
        ("1234567890123456789012345678.901", "CNY"),
    ],
)
def test_parse_never_rounds_an_amount_with_more_digits_than_the_decimal_context_holds(text, code):
    with pytest.raises(DomainValidationError) as raised:
        Money.parse(text, code)

    assert raised.value.field == "amount"


def test_parse_keeps_an_amount_of_28_significant_digits_exact():
    assert Money.parse("12345678901234567890123456.78", "CNY") == Money(1234567890123456789012345678, CNY)
    assert Money.parse("-9999999999999999999999999999", "JPY") == Money(-9999999999999999999999999999, JPY)


@pytest.mark.parametrize("text", ["sNaN", "1e999999", "1e-999999999"])
def test_parse_answers_a_validation_error_for_amounts_outside_the_decimal_range(text):
    with pytest.raises(DomainValidationError) as raised:
        Money.parse(text, "CNY")

    assert raised.value.field == "amount"


@pytest.mark.parametrize(
    ("money", "text"),
    [
        (Money(1700, CNY), "17.00 CNY"),
        (Money(5, CNY), "0.05 CNY"),
        (Money(-5, CNY), "-0.05 CNY"),
        (Money(-1234, USD), "-12.34 USD"),
        (Money(1700, JPY), "1700 JPY"),
        (Money(0, CNY), "0.00 CNY"),
    ],
)
def test_format_shows_major_units_and_the_currency_code(money, text):
    assert money.format() == text


def test_parse_reads_back_what_format_wrote():
    for money in (Money(1234, CNY), Money(-5, USD), Money(99, JPY)):
        amount, code = money.format().split(" ")
        assert Money.parse(amount, code) == money


# ---------------------------------------------------------------------- rounding


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (Fraction(0), 0),
        (Fraction(4), 4),
        (Fraction(-4), -4),
        (Fraction(1, 2), 1),
        (Fraction(3, 2), 2),
        (Fraction(5, 2), 3),  # half-even would give 2
        (Fraction(199, 2), 100),  # 99.5
        (Fraction(29, 2), 15),  # 14.5: half-even would give 14
        (Fraction(-1, 2), -1),
        (Fraction(-5, 2), -3),
        (Fraction(-199, 2), -100),
        (Fraction(12, 5), 2),  # 2.4
        (Fraction(13, 5), 3),  # 2.6
        (Fraction(-12, 5), -2),
        (Fraction(-13, 5), -3),
        (Fraction(1, 3), 0),
        (Fraction(2, 3), 1),
        (Fraction(-2, 3), -1),
        (Fraction(4999, 10000), 0),
        (Fraction(5001, 10000), 1),
        (Fraction(-4999, 10000), 0),
    ],
)
def test_round_half_up_rounds_to_the_nearest_int_and_halves_away_from_zero(value, expected):
    result = round_half_up(value)

    assert result == expected
    assert type(result) is int


def test_round_half_up_is_exact_for_huge_ratios():
    huge = 10**40

    assert round_half_up(Fraction(2 * huge + 1, 2)) == huge + 1
    assert round_half_up(Fraction(3 * huge - 1, 3)) == huge


@pytest.mark.parametrize(
    ("money", "ratio", "expected"),
    [
        (Money(995, CNY), Fraction(10, 100), Money(100, CNY)),  # 99.5 fen
        (Money(100, CNY), Fraction(1, 3), Money(33, CNY)),
        (Money(200, CNY), Fraction(1, 3), Money(67, CNY)),
        (Money(-5, CNY), Fraction(1, 2), Money(-3, CNY)),
        (Money(2900, CNY), Fraction(1), Money(2900, CNY)),
        (Money(2900, CNY), Fraction(0), Money(0, CNY)),
        (Money(7, JPY), Fraction(1, 2), Money(4, JPY)),
    ],
)
def test_scaled_multiplies_by_an_exact_ratio_and_rounds_half_up_in_the_same_currency(money, ratio, expected):
    assert money.scaled(ratio) == expected
