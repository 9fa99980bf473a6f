"""PAYMENTS_EVENTS_RETENTION_DAYS (docs/events.md "Retention"): 30 days by default, 1 to 3650, with
or without PAYMENTS_EVENTS_URL; the purge job gets it; a bad value stops start-up with one line
naming it."""
from __future__ import annotations

import inspect
from datetime import timedelta

import pytest

from entrypoints.config import ConfigError, load_config
from entrypoints.container import build_container

EVENTS = {"PAYMENTS_EVENTS_URL": "https://backend.example/events",
          "PAYMENTS_EVENTS_SECRET": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"}


def test_the_default_is_30_days_with_or_without_events():
    assert load_config({}).events_retention_days == 30
    assert load_config(EVENTS).events_retention_days == 30


@pytest.mark.parametrize("events", [{}, EVENTS])
def test_a_set_value_is_taken(events):
    assert load_config({**events, "PAYMENTS_EVENTS_RETENTION_DAYS": "7"}).events_retention_days == 7
    assert load_config({**events, "PAYMENTS_EVENTS_RETENTION_DAYS": "3650"}).events_retention_days == 3650
    assert load_config({**events, "PAYMENTS_EVENTS_RETENTION_DAYS": ""}).events_retention_days == 30


async def test_the_purge_job_gets_it():
    container = build_container(load_config({"PAYMENTS_EVENTS_RETENTION_DAYS": "7"}), in_memory=True)
    await container.init_resources()
    try:
        purge = container.use_cases.purge_events()
        purge = await purge if inspect.isawaitable(purge) else purge
        assert purge.retention == timedelta(days=7)
    finally:
        await container.shutdown_resources()


@pytest.mark.parametrize("value", ["0", "-1", "3651", "thirty", "1.5", "7d"])
@pytest.mark.parametrize("events", [{}, EVENTS])
def test_a_bad_value_is_one_line_naming_the_variable(value, events):
    with pytest.raises(ConfigError) as refused:
        load_config({**events, "PAYMENTS_EVENTS_RETENTION_DAYS": value})
    message = str(refused.value)
    assert "PAYMENTS_EVENTS_RETENTION_DAYS" in message and "\n" not in message
