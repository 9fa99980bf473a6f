"""The payment providers' health for operators: each loaded provider with the methods routed to
it, its circuit in this process (`ports.circuit_breakers`) and its success rate over the last hour
(from the store: the same whichever process answers)."""
from __future__ import annotations

from datetime import datetime, timedelta

import attrs

from ports.circuit_breakers import CircuitBreakers
from ports.clock import Clock
from ports.operations import OperationsQueries, OutcomeGroup, SessionOutcomes
from ports.payment_provider import ProviderRegistry
from ports.use_cases.operations.analytics import basis_points


@attrs.frozen
class ProviderHealth:
    provider: str
    methods: tuple[str, ...]
    circuit: str
    consecutive_failures: int
    last_error_at: datetime | None
    success_rate_bps_1h: int | None


@attrs.define
class ProviderStatuses:
    _providers: ProviderRegistry
    _circuits: CircuitBreakers
    _operations: OperationsQueries
    _clock: Clock

    async def __call__(self) -> list[ProviderHealth]:
        methods: dict[str, list[str]] = {name: [] for name in self._providers.providers}
        for method, _name, capability, _capabilities in self._providers.method_listing():
            if capability is not None:
                methods[self._providers.for_method(method).name].append(method)
        now = self._clock.now()
        rates = {o.provider: basis_points(o.completed, o.sessions)
                 for o in await self._operations.session_outcomes(now - timedelta(hours=1), now, OutcomeGroup.PROVIDER)}
        items = []
        for name in sorted(methods):
            circuit = self._circuits.snapshot(name)
            items.append(ProviderHealth(name, tuple(methods[name]), circuit.state.value, circuit.consecutive_failures,
                                        circuit.last_error_at, rates.get(name)))
        return items


GAUGE_WINDOW = timedelta(minutes=15)


@attrs.frozen
class HealthFigures:
    sessions: tuple[SessionOutcomes, ...]  # by provider, ended in the last 15 minutes
    failed_refunds: int


@attrs.define
class ReadHealthFigures:
    """What the metrics' gauges show (`entrypoints/http/ops_gauges.py`)."""

    _operations: OperationsQueries
    _clock: Clock

    async def __call__(self) -> HealthFigures:
        now = self._clock.now()
        sessions = await self._operations.session_outcomes(now - GAUGE_WINDOW, now, OutcomeGroup.PROVIDER)
        return HealthFigures(tuple(sessions), await self._operations.failed_refunds())
