"""The providers' circuit breakers (`ports/circuit_breakers.py`): closed until 5 unavailability
errors in a row, open for 30 s (refusing with how long to wait), then half open with one trial;
an answer closes, another unavailability reopens; a trial whose outcome never comes frees its
slot after 30 s; each provider has its own."""
from __future__ import annotations

from datetime import UTC, datetime

import pytest

from domain.errors import ProviderUnavailableError
from ports.circuit_breakers import (
    CircuitBreakers,
    CircuitState,
    ProviderCircuitOpenError,
)

WALL = datetime(2026, 12, 1, tzinfo=UTC)


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def breakers(clock) -> CircuitBreakers:
    return CircuitBreakers(monotonic=clock, wall_clock=lambda: WALL, providers=["wechat_pay", "stripe"])


def open_it(breakers: CircuitBreakers, provider: str = "wechat_pay") -> None:
    for _ in range(5):
        breakers.record_unavailable(provider)


def test_listed_providers_start_closed(breakers):
    assert breakers.providers() == ["stripe", "wechat_pay"]
    snapshot = breakers.snapshot("wechat_pay")
    assert (snapshot.state, snapshot.consecutive_failures, snapshot.last_error_at) == (CircuitState.CLOSED, 0, None)
    breakers.admit("wechat_pay")


def test_five_in_a_row_open_it_and_an_answer_between_resets_the_count(breakers):
    for _ in range(4):
        assert breakers.record_unavailable("wechat_pay") is False
    breakers.record_success("wechat_pay")
    for _ in range(4):
        assert breakers.record_unavailable("wechat_pay") is False
    assert breakers.state("wechat_pay") is CircuitState.CLOSED
    assert breakers.record_unavailable("wechat_pay") is True
    snapshot = breakers.snapshot("wechat_pay")
    assert (snapshot.state, snapshot.consecutive_failures, snapshot.last_error_at) == (CircuitState.OPEN, 5, WALL)


def test_open_refuses_with_the_seconds_left_then_half_open_lets_one_trial_through(breakers, clock):
    open_it(breakers)
    with pytest.raises(ProviderCircuitOpenError) as refused:
        breakers.admit("wechat_pay")
    assert isinstance(refused.value, ProviderUnavailableError) and refused.value.code == "provider_unavailable"
    assert refused.value.retry_after_seconds == 30
    clock.now += 12.5
    with pytest.raises(ProviderCircuitOpenError) as refused:
        breakers.admit("wechat_pay")
    assert refused.value.retry_after_seconds == 18  # 17.5 s left, rounded up
    breakers.admit("stripe")  # another provider is not affected

    clock.now += 17.5
    assert breakers.state("wechat_pay") is CircuitState.HALF_OPEN
    breakers.admit("wechat_pay")  # the one trial
    with pytest.raises(ProviderCircuitOpenError):
        breakers.admit("wechat_pay")  # while it runs
    breakers.record_success("wechat_pay")
    assert breakers.snapshot("wechat_pay").state is CircuitState.CLOSED
    assert breakers.snapshot("wechat_pay").consecutive_failures == 0
    breakers.admit("wechat_pay")


def test_a_failed_trial_opens_it_again_for_30_seconds(breakers, clock):
    open_it(breakers)
    clock.now += 30
    breakers.admit("wechat_pay")
    assert breakers.record_unavailable("wechat_pay") is True
    assert breakers.state("wechat_pay") is CircuitState.OPEN
    clock.now += 29
    with pytest.raises(ProviderCircuitOpenError) as refused:
        breakers.admit("wechat_pay")
    assert refused.value.retry_after_seconds == 1


def test_a_trial_that_never_reports_frees_its_slot_after_30_seconds(breakers, clock):
    open_it(breakers)
    clock.now += 30
    breakers.admit("wechat_pay")  # its request failed before reaching the provider: no outcome
    clock.now += 29
    with pytest.raises(ProviderCircuitOpenError):
        breakers.admit("wechat_pay")
    clock.now += 1
    breakers.admit("wechat_pay")


def test_an_unknown_provider_is_tracked_from_its_first_failure(breakers):
    breakers.record_unavailable("alipay")
    assert breakers.providers() == ["alipay", "stripe", "wechat_pay"]
    assert breakers.snapshot("alipay").consecutive_failures == 1
