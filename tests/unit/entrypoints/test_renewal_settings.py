"""PAYMENTS_RENEWAL_NOTICE_DAYS, PAYMENTS_RENEWAL_GRACE_DAYS and PAYMENTS_RENEWAL_RETRY_DAYS
(docs/renewals.md): defaults 3, 7 and 1,3,5; a bad value stops start-up with one line naming it."""
from __future__ import annotations

import pytest

from domain.renewal import RenewalPolicy
from entrypoints.config import ConfigError, load_config
from entrypoints.container import use_case_settings


def test_the_defaults():
    assert load_config({}).renewal == RenewalPolicy(notice_days=3, grace_days=7, retry_days=(1, 3, 5))


def test_set_values_reach_the_use_cases():
    config = load_config({"PAYMENTS_RENEWAL_NOTICE_DAYS": "5", "PAYMENTS_RENEWAL_GRACE_DAYS": "10",
                          "PAYMENTS_RENEWAL_RETRY_DAYS": " 2, 4 ,9 "})
    assert use_case_settings(config).renewal == RenewalPolicy(notice_days=5, grace_days=10, retry_days=(2, 4, 9))


def test_a_shorter_grace_keeps_the_default_retry_days_that_fit_and_none_means_no_retry():
    assert load_config({"PAYMENTS_RENEWAL_GRACE_DAYS": "4"}).renewal.retry_days == (1, 3)
    assert load_config({"PAYMENTS_RENEWAL_RETRY_DAYS": ""}).renewal.retry_days == (1, 3, 5)
    assert load_config({"PAYMENTS_RENEWAL_RETRY_DAYS": "none"}).renewal.retry_days == ()


@pytest.mark.parametrize(("name", "value"), [
    ("PAYMENTS_RENEWAL_NOTICE_DAYS", "-1"), ("PAYMENTS_RENEWAL_NOTICE_DAYS", "28"),
    ("PAYMENTS_RENEWAL_NOTICE_DAYS", "three"), ("PAYMENTS_RENEWAL_GRACE_DAYS", "0"),
    ("PAYMENTS_RENEWAL_GRACE_DAYS", "28"), ("PAYMENTS_RENEWAL_GRACE_DAYS", "1.5"),
    ("PAYMENTS_RENEWAL_RETRY_DAYS", "1,x"), ("PAYMENTS_RENEWAL_RETRY_DAYS", "3,1"),
    ("PAYMENTS_RENEWAL_RETRY_DAYS", "1,1"), ("PAYMENTS_RENEWAL_RETRY_DAYS", "0"),
    ("PAYMENTS_RENEWAL_RETRY_DAYS", "7"), ("PAYMENTS_RENEWAL_RETRY_DAYS", ","),
    ("PAYMENTS_RENEWAL_RETRY_DAYS", "1,,3"),
])
def test_a_bad_value_is_one_line_naming_the_variable(name, value):
    with pytest.raises(ConfigError) as refused:
        load_config({name: value})
    message = str(refused.value)
    assert name in message and "\n" not in message
