"""Prometheus metrics: requests by route and status with latency histograms, and transactions by
type, provider and outcome (counted from the domain events of committed units of work)."""
from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram

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
