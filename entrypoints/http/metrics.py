"""Prometheus metrics: requests by route and status with latency histograms, and transactions by
type, provider and outcome (counted from the domain events of committed units of work); on
PostgreSQL, whether the session feed listens and how often it reconnected (`watch_session_feed`);
payment sessions by provider, method and outcome (`payments_sessions_total`, from the sessions'
status events); the providers' circuits (`watch_circuits`); and the gauges read from the database
at each scrape (`entrypoints/http/ops_gauges.py`: success ratio and failed refunds), which every
worker answers alike."""
from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

from domain import events


class Metrics:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        self._scrape_hooks: list[Callable[[], Awaitable[None]]] = []
        self.requests = Counter("payments_http_requests_total", "HTTP requests answered",
                                ["method", "route", "status"], registry=self.registry)
        self.latency = Histogram("payments_http_request_duration_seconds", "Time to answer an HTTP request",
                                 ["method", "route"], registry=self.registry,
                                 buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5))
        self.transactions = Counter("payments_transactions_total", "Transactions by type, provider and outcome",
                                    ["type", "provider", "outcome"], registry=self.registry)
        self.sessions = Counter("payments_sessions_total",
                                "Payment sessions by provider, method and outcome (opened, then how each ended)",
                                ["provider", "payment_method", "outcome"], registry=self.registry)

    def before_scrape(self, hook: Callable[[], Awaitable[None]]) -> None:
        """Await `hook` before each scrape (gauges read from the database: `ops_gauges.py`)."""
        self._scrape_hooks.append(hook)

    async def refresh(self) -> None:
        for hook in self._scrape_hooks:
            await hook()

    def watch_circuits(self, circuits: Any) -> None:
        """Export `payments_provider_circuit_open{provider}` from the providers' circuit breakers
        (read at each scrape)."""
        self.registry.register(_CircuitCollector(circuits))

    def watch_session_feed(self, feed: Any) -> None:
        """Export a feed's `listening` and `reconnects` (read at each scrape)."""
        self.registry.register(_SessionFeedCollector(feed))

    def observe_request(self, method: str, route: str, status: int, seconds: float) -> None:
        self.requests.labels(method, route, str(status)).inc()
        self.latency.labels(method, route).observe(seconds)

    def observe_events(self, published: list[events.Event]) -> None:
        for event in published:
            if isinstance(event, events.TransactionCreated):
                self.transactions.labels(event.type, event.provider or "none", "created").inc()
            elif isinstance(event, events.TransactionSucceeded):
                self.transactions.labels(event.type, event.provider or "none",
                                         "succeeded_late" if event.late else "succeeded").inc()
            elif isinstance(event, events.TransactionCancelled):
                self.transactions.labels(event.type, event.provider or "none", "cancelled").inc()
            elif isinstance(event, events.TransactionExpired):
                self.transactions.labels(event.type, event.provider or "none", "expired").inc()
            elif isinstance(event, events.TransactionFailed):
                self.transactions.labels(event.type, event.provider or "none", "failed").inc()
            elif isinstance(event, events.SessionStatusChanged):
                self.sessions.labels(event.provider or "none", event.payment_method or "none", event.status).inc()


class _CircuitCollector:
    def __init__(self, circuits: Any) -> None:
        self._circuits = circuits

    def collect(self) -> Iterator[Metric]:
        gauge = GaugeMetricFamily("payments_provider_circuit_open",
                                  "1 while the provider's circuit in this process is open or half open, else 0",
                                  labels=["provider"])
        for provider in self._circuits.providers():
            gauge.add_metric([provider], 0 if self._circuits.state(provider).value == "closed" else 1)
        yield gauge

    def describe(self) -> list[Metric]:
        return []


class _SessionFeedCollector:
    def __init__(self, feed: Any) -> None:
        self._feed = feed

    def collect(self) -> Iterator[Metric]:
        yield GaugeMetricFamily("payments_session_feed_listening",
                                "1 while the session feed holds its LISTEN connection, else 0",
                                value=1 if self._feed.listening else 0)
        yield CounterMetricFamily("payments_session_feed_reconnects",
                                  "Times the session feed listened again after losing its connection",
                                  value=self._feed.reconnects)

    def describe(self) -> list[Metric]:
        return []  # collected at each scrape only
