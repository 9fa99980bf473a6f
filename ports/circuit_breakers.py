"""Circuit breakers, one per payment provider, held by each server process.

A provider whose calls fail with `ProviderUnavailableError` (timeout, connection failure, 5xx:
the outcome unknown) five times in a row is *open* for 30 s: new payment sessions for its methods
are refused at once (`ProviderCircuitOpenError`, 503 `provider_unavailable` with `Retry-After`)
instead of each payer waiting for the same timeouts. After the 30 s it is *half open*: one trial
call is let through; a success (or any definite answer, a refusal included: the provider is
reachable) closes it, another unavailability opens it again for 30 s. A trial whose outcome is
never recorded (its request failed before reaching the provider) frees the trial slot after
another 30 s.

    breakers.admit("wechat_pay")             # raises ProviderCircuitOpenError while open
    breakers.record_unavailable("wechat_pay")
    breakers.record_success("wechat_pay")

Per process, on purpose (docs/operations.md, "Circuit breakers"): what a process sees of a
provider is its own calls, refusing needs no shared store (no database round trip on the path
that is meant to be fast while things are failing), and N processes each open after their own 5
failures, so at most 5 × N calls meet a dead provider before all of them fail fast. Time is the
process's monotonic clock (real time: the test clock does not move it).
"""
from __future__ import annotations

import enum
import math
import threading
import time
from collections.abc import Callable, Iterable
from datetime import UTC, datetime

import attrs

from domain.errors import ProviderUnavailableError

FAILURE_THRESHOLD = 5
OPEN_SECONDS = 30.0


class CircuitState(str, enum.Enum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


class ProviderCircuitOpenError(ProviderUnavailableError):
    """A new session for a provider whose circuit is open: refused before anything is written."""

    def __init__(self, provider: str, retry_after_seconds: int) -> None:
        super().__init__(f"The circuit of provider {provider!r} is open; retry in {retry_after_seconds} s.")
        self.provider = provider
        self.retry_after_seconds = retry_after_seconds


@attrs.frozen
class CircuitSnapshot:
    provider: str
    state: CircuitState
    consecutive_failures: int
    last_error_at: datetime | None


@attrs.define
class _Circuit:
    failures: int = 0
    opened_at: float | None = None  # monotonic seconds; None: closed
    trial_started_at: float | None = None  # half open: when the one trial call was let through
    last_error_at: datetime | None = None


def _utc_now() -> datetime:
    return datetime.now(UTC)


class CircuitBreakers:
    """The breakers of every provider this process calls (created on first use, closed)."""

    def __init__(self, *, threshold: int = FAILURE_THRESHOLD, open_seconds: float = OPEN_SECONDS,
                 monotonic: Callable[[], float] = time.monotonic,
                 wall_clock: Callable[[], datetime] = _utc_now, providers: Iterable[str] = ()) -> None:
        self._threshold = threshold
        self._open_seconds = open_seconds
        self._monotonic = monotonic
        self._wall_clock = wall_clock
        self._circuits: dict[str, _Circuit] = {name: _Circuit() for name in providers}  # listed closed
        self._lock = threading.Lock()  # gunicorn workers are single-threaded; tests may not be

    def _circuit(self, provider: str) -> _Circuit:
        circuit = self._circuits.get(provider)
        if circuit is None:
            circuit = self._circuits[provider] = _Circuit()
        return circuit

    def state(self, provider: str) -> CircuitState:
        with self._lock:
            return self._state(self._circuit(provider), self._monotonic())

    def _state(self, circuit: _Circuit, now: float) -> CircuitState:
        if circuit.opened_at is None:
            return CircuitState.CLOSED
        if now - circuit.opened_at < self._open_seconds:
            return CircuitState.OPEN
        return CircuitState.HALF_OPEN

    def snapshot(self, provider: str) -> CircuitSnapshot:
        with self._lock:
            circuit = self._circuit(provider)
            return CircuitSnapshot(provider, self._state(circuit, self._monotonic()), circuit.failures,
                                   circuit.last_error_at)

    def admit(self, provider: str) -> None:
        """Let a new session's provider call through, or raise `ProviderCircuitOpenError`: while
        open, and while half open once its one trial call is under way."""
        with self._lock:
            circuit, now = self._circuit(provider), self._monotonic()
            state = self._state(circuit, now)
            if state is CircuitState.CLOSED:
                return
            if state is CircuitState.HALF_OPEN:
                trial = circuit.trial_started_at
                if trial is None or now - trial >= self._open_seconds:
                    circuit.trial_started_at = now
                    return
                wait = trial + self._open_seconds - now
            else:
                assert circuit.opened_at is not None
                wait = circuit.opened_at + self._open_seconds - now
        raise ProviderCircuitOpenError(provider, max(1, math.ceil(wait)))

    def record_success(self, provider: str) -> None:
        """The provider answered (a success or a definite refusal): the circuit closes."""
        with self._lock:
            circuit = self._circuit(provider)
            circuit.failures, circuit.opened_at, circuit.trial_started_at = 0, None, None

    def record_unavailable(self, provider: str) -> bool:
        """One more unavailability in a row; returns whether the circuit is now open (it opens at
        the threshold, and again at once after a failed half-open trial)."""
        with self._lock:
            circuit, now = self._circuit(provider), self._monotonic()
            circuit.failures += 1
            circuit.last_error_at = self._wall_clock()
            state = self._state(circuit, now)
            if state is CircuitState.HALF_OPEN or (state is CircuitState.CLOSED and circuit.failures >= self._threshold):
                circuit.opened_at, circuit.trial_started_at = now, None
                return True
            return state is CircuitState.OPEN

    def providers(self) -> list[str]:
        with self._lock:
            return sorted(self._circuits)
