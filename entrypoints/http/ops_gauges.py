"""Gauges read from the database when `/metrics` is scraped (at most every 10 s per process), so
every worker process answers the same figures whichever one Prometheus reaches:

- `payments_provider_success_ratio{provider}`: completed ÷ ended sessions of the last 15 minutes
  (0-1; absent for a provider with none), and `payments_provider_sessions_ended{provider}`, how many
  ended: the alert "success rate below 80 % over 15 min with at least 20 sessions" reads both;
- `payments_refunds_failed`: refunds now `failed`, each waiting for an admin's retry.

Counters (`payments_sessions_total`, …) stay per process, as every counter here (docs/operations.md).
"""
from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable

from prometheus_client import CollectorRegistry, Gauge

from ports.use_cases.operations.providers import HealthFigures

log = logging.getLogger("payments.metrics")
REFRESH_SECONDS = 10.0


class OperationsGauges:
    def __init__(self, registry: CollectorRegistry, figures: Callable[[], Awaitable[HealthFigures]],
                 monotonic: Callable[[], float] = time.monotonic) -> None:
        self._figures = figures
        self._monotonic = monotonic
        self._refreshed_at: float | None = None
        self.ratio = Gauge("payments_provider_success_ratio",
                           "Completed share of the provider's sessions that ended in the last 15 minutes (0-1)",
                           ["provider"], registry=registry)
        self.ended = Gauge("payments_provider_sessions_ended",
                           "Sessions of the provider that ended in the last 15 minutes", ["provider"], registry=registry)
        self.failed_refunds = Gauge("payments_refunds_failed", "Refunds now failed (waiting for a retry)",
                                    registry=registry)

    async def refresh(self) -> None:
        now = self._monotonic()
        if self._refreshed_at is not None and now - self._refreshed_at < REFRESH_SECONDS:
            return
        try:
            figures = await self._figures()
        except Exception:  # a scrape must still answer: the gauges keep their last values
            log.exception("could not read the operations gauges from the database")
            return
        self._refreshed_at = now
        self.ratio.clear()
        self.ended.clear()
        for outcome in figures.sessions:
            self.ended.labels(outcome.provider).set(outcome.sessions)
            if outcome.sessions:
                self.ratio.labels(outcome.provider).set(outcome.completed / outcome.sessions)  # a ratio, not money
        self.failed_refunds.set(figures.failed_refunds)
