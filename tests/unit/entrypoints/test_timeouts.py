"""The request time limits' settings (issue 11, item 7): defaults, and a bad value stops start-up
with one line naming the variable. The limits themselves are driven through a real server in
tests/e2e/test_slow_senders.py."""
import pytest

from entrypoints.http.timeouts import Timeouts


def test_the_defaults_bound_headers_to_10_seconds_and_bodies_to_30():
    assert Timeouts.from_environ({}) == Timeouts(10.0, 30.0)
    assert Timeouts.from_environ({"PAYMENTS_HTTP_HEADER_TIMEOUT_SECONDS": "2.5",
                                  "PAYMENTS_HTTP_BODY_TIMEOUT_SECONDS": " 1 "}) == Timeouts(2.5, 1.0)


@pytest.mark.parametrize("value", ["0", "-1", "abc", "nan", "inf", "3601"])
@pytest.mark.parametrize("name", ["PAYMENTS_HTTP_HEADER_TIMEOUT_SECONDS", "PAYMENTS_HTTP_BODY_TIMEOUT_SECONDS"])
def test_a_value_that_is_not_a_sane_number_of_seconds_is_refused_by_name(name, value):
    with pytest.raises(ValueError, match=name):
        Timeouts.from_environ({name: value})
