"""Monthly anniversary periods, clamped to the month's last day and always computed from the anchor."""
from datetime import datetime, timedelta, timezone

import pytest

from domain.period import add_months, period_bounds, period_index_at, whole_seconds

UTC = timezone.utc


def at(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=UTC)


def test_months_from_the_31st_clamp_to_each_months_last_day_in_a_common_year():
    anchor = at(2025, 1, 31, 10, 30)

    assert [add_months(anchor, n) for n in range(5)] == [
        at(2025, 1, 31, 10, 30),
        at(2025, 2, 28, 10, 30),
        at(2025, 3, 31, 10, 30),
        at(2025, 4, 30, 10, 30),
        at(2025, 5, 31, 10, 30),
    ]


def test_months_from_the_31st_clamp_to_february_29_in_a_leap_year():
    anchor = at(2024, 1, 31, 10, 30)

    assert [add_months(anchor, n) for n in range(4)] == [
        at(2024, 1, 31, 10, 30),
        at(2024, 2, 29, 10, 30),
        at(2024, 3, 31, 10, 30),
        at(2024, 4, 30, 10, 30),
    ]


def test_months_are_counted_from_the_anchor_not_chained_from_the_previous_period():
    anchor = at(2025, 1, 31)

    chained = add_months(add_months(anchor, 1), 1)

    assert chained == at(2025, 3, 28)
    assert add_months(anchor, 2) == at(2025, 3, 31)


def test_adding_months_crosses_year_ends_both_ways():
    assert add_months(at(2025, 11, 30), 3) == at(2026, 2, 28)
    assert add_months(at(2025, 12, 31), 1) == at(2026, 1, 31)
    assert add_months(at(2025, 12, 15), 12) == at(2026, 12, 15)
    assert add_months(at(2025, 3, 31), -1) == at(2025, 2, 28)
    assert add_months(at(2025, 1, 15), -1) == at(2024, 12, 15)


def test_adding_months_keeps_the_time_of_day_and_the_time_zone():
    plus_eight = timezone(timedelta(hours=8))
    anchor = datetime(2025, 1, 31, 23, 59, 59, 999999, tzinfo=plus_eight)

    moved = add_months(anchor, 1)

    assert moved == datetime(2025, 2, 28, 23, 59, 59, 999999, tzinfo=plus_eight)
    assert moved.tzinfo is plus_eight


def test_period_bounds_are_consecutive_anniversaries_of_the_anchor():
    anchor = at(2025, 1, 31, 10)

    assert period_bounds(anchor, 0) == (at(2025, 1, 31, 10), at(2025, 2, 28, 10))
    assert period_bounds(anchor, 1) == (at(2025, 2, 28, 10), at(2025, 3, 31, 10))
    assert period_bounds(anchor, 2) == (at(2025, 3, 31, 10), at(2025, 4, 30, 10))
    for index in range(40):
        assert period_bounds(anchor, index)[1] == period_bounds(anchor, index + 1)[0]


@pytest.mark.parametrize(
    ("moment", "index"),
    [
        (at(2025, 1, 31, 10), 0),  # the anchor itself opens period 0
        (at(2025, 2, 28, 9, 59, 59, 999999), 0),
        (at(2025, 2, 28, 10), 1),  # a period's end is the next period's start
        (at(2025, 3, 1), 1),  # the month difference (2) overshoots here
        (at(2025, 3, 31, 9, 59, 59), 1),
        (at(2025, 3, 31, 10), 2),
        (at(2025, 4, 30, 10), 3),
        (at(2026, 1, 31, 9, 59, 59), 11),
        (at(2026, 1, 31, 10), 12),
        (at(2027, 2, 28, 10), 25),
        (at(2025, 1, 1), 0),  # before the anchor
    ],
)
def test_period_index_at_is_exact_at_period_boundaries(moment, index):
    anchor = at(2025, 1, 31, 10)

    assert period_index_at(anchor, moment) == index


def test_period_index_at_uses_february_29_as_the_boundary_in_a_leap_year():
    anchor = at(2024, 1, 31, 10)

    assert period_index_at(anchor, at(2024, 2, 29, 9, 59, 59)) == 0
    assert period_index_at(anchor, at(2024, 2, 29, 10)) == 1


@pytest.mark.parametrize("hours", [-12, -1, 0, 1, 14])
def test_period_index_at_is_exact_for_a_moment_given_in_another_time_zone(hours):
    anchor = at(2025, 1, 1)
    zone = timezone(timedelta(hours=hours))
    boundary = at(2025, 2, 1).astimezone(zone)  # in UTC-1 this reads Jan 31, 23:00

    assert period_index_at(anchor, boundary - timedelta(microseconds=1)) == 0
    assert period_index_at(anchor, boundary) == 1
    assert period_index_at(anchor, at(2025, 3, 1).astimezone(zone)) == 2


def test_every_moment_lies_inside_the_bounds_of_its_period():
    anchor = at(2024, 1, 30, 6, 15)
    moment = anchor
    while moment < at(2026, 6, 1):
        start, end = period_bounds(anchor, period_index_at(anchor, moment))
        assert start <= moment < end
        moment += timedelta(hours=17, minutes=13)


@pytest.mark.parametrize(
    ("delta", "seconds"),
    [
        (timedelta(0), 0),
        (timedelta(seconds=59, microseconds=999999), 59),
        (timedelta(microseconds=999999), 0),
        (timedelta(days=31), 2_678_400),
        (timedelta(days=28, hours=1, seconds=1), 2_422_801),
    ],
)
def test_whole_seconds_rounds_a_duration_down_to_an_int(delta, seconds):
    result = whole_seconds(delta)

    assert result == seconds
    assert type(result) is int
