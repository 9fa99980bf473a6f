"""Prometheus metrics: requests by route and status with latency histograms, and transactions by
type, provider and outcome (counted from the domain events of committed units of work); on
PostgreSQL, whether the session feed listens and how often it reconnected (`watch_session_feed`)."""
from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

from domain import events


class Metrics:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        self.requests = Counter("payments_http_requests_total", "HTTP requests answered",
                                ["method", "route", "status"], registry=self.registry)
        self.latency = Histogram("payments_http_request_duration_seconds", "Time to answer an HTTP request",
                                 ["method", "route"], registry=self.registry,
                                 buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5))
        self.transactions = Counter("payments_transactions_total", "Transactions by type, provider and outcome",
                                    ["type", "provider", "outcome"], registry=self.registry)

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
