"""The circuit breaker drill end to end, through the real app on a test server: the mock provider
answers every `open_payment` with a 5xx (`plugins/mock/faults.py`); after 5 unavailability errors
in a row its circuit opens, new sessions answer 503 `provider_unavailable` at once with
`Retry-After` and write nothing, `GET /methods` shows its methods degraded, `GET /admin/providers`
and `/metrics` show the circuit open; 30 s later (the breakers' own clock, moved by the test) one
trial goes through and, the provider healthy again, closes it."""
from __future__ import annotations

import re

import pytest
from admin_support import Client, admin_config
from dependency_injector import providers
from e2e_support import MOCK_SECRET

from adapters.clock import SystemClock
from entrypoints.container import build_container
from entrypoints.http.app import create_app
from plugins.mock import MockProvider
from plugins.mock.faults import Fault, FaultPlan
from ports.circuit_breakers import CircuitBreakers
from ports.use_cases.sessions.provider_orders import RetryPolicy

BUY = {"amount": 1, "payment_method": "wechat_pay"}


class Monotonic:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def _no_sleep(_: float) -> None:
    return None


@pytest.fixture
async def drill(aiohttp_client):
    config = admin_config()
    plan = FaultPlan(faults={"open_payment": Fault("unavailable", 1.0)})
    mocks = {name: MockProvider(webhook_secret=MOCK_SECRET, public_url=config.public_url, clock=SystemClock(),
                                name=name, faults=plan)
             for name in set(config.method_routes.values()) | {"mock"}}
    container = build_container(config, in_memory=True)
    for adapters in container.adapters.overridden:
        adapters.provides.payment_providers.override(providers.Object(mocks))
    clock = Monotonic()
    container.use_cases.circuits.override(providers.Object(CircuitBreakers(monotonic=clock, providers=mocks)))
    container.use_cases.retry.override(providers.Object(RetryPolicy(sleep=_no_sleep)))
    client = await aiohttp_client(create_app(container, background_jobs=False))
    return Client(client, container), plan, clock


async def _admin_total(api: Client) -> int:
    response = await api.get("/api/v1/admin/transactions", user="ops", role="admin")
    assert response.status == 200
    return (await response.json())["total"]


async def _mock_health(api: Client) -> dict:
    response = await api.get("/api/v1/admin/providers", user="ops", role="admin")
    assert response.status == 200
    return next(item for item in (await response.json())["items"] if item["provider"] == "mock")


async def test_five_unavailability_errors_open_the_circuit_and_a_trial_closes_it(drill):
    api, plan, clock = drill
    assert (await _mock_health(api))["circuit"] == "closed"

    # 3 attempts, then 2 more: the fifth error in a row opens the circuit (and ends the retries).
    for _ in range(2):
        response = await api.post("/api/v1/payments/receives", BUY)
        assert response.status == 503
        assert (await response.json())["error"]["code"] == "provider_unavailable"
    assert await _admin_total(api) == 2
    health = await _mock_health(api)
    assert health["circuit"] == "open" and health["consecutive_failures"] == 5
    assert health["methods"] == ["wechat_pay", "alipay", "credit_card", "mock"]
    assert health["last_error_at"] is not None

    # Refused at once, before anything is written.
    response = await api.post("/api/v1/payments/receives", BUY, headers={"Idempotency-Key": "while-open"})
    assert response.status == 503
    assert (await response.json())["error"]["code"] == "provider_unavailable"
    assert response.headers["Retry-After"] == "30"
    assert await _admin_total(api) == 2

    methods = {m["id"]: m for m in (await (await api.get("/api/v1/payments/methods")).json())["methods"]}
    assert methods["wechat_pay"]["available"] is False and methods["wechat_pay"]["status"] == "degraded"

    metrics = await (await api.client.get("/metrics")).text()
    assert re.search(r'^payments_provider_circuit_open\{provider="mock"\} 1\.0$', metrics, re.MULTILINE)
    assert re.search(r'^payments_sessions_total\{outcome="failed",payment_method="wechat_pay",provider="mock"\} 2\.0$',
                     metrics, re.MULTILINE)

    # 30 s later: half open; the provider is healthy again and the one trial closes the circuit.
    clock.now += 30
    plan.faults.clear()
    assert (await _mock_health(api))["circuit"] == "half_open"
    methods = {m["id"]: m for m in (await (await api.get("/api/v1/payments/methods")).json())["methods"]}
    assert methods["wechat_pay"]["available"] is True and methods["wechat_pay"]["status"] == "degraded"
    response = await api.post("/api/v1/payments/receives", BUY, headers={"Idempotency-Key": "while-open"})
    assert response.status == 201, await response.text()
    health = await _mock_health(api)
    assert health["circuit"] == "closed" and health["consecutive_failures"] == 0
    methods = {m["id"]: m for m in (await (await api.get("/api/v1/payments/methods")).json())["methods"]}
    assert methods["wechat_pay"] == {**methods["wechat_pay"], "available": True, "status": "ok"}
    metrics = await (await api.client.get("/metrics")).text()
    assert re.search(r'^payments_provider_circuit_open\{provider="mock"\} 0\.0$', metrics, re.MULTILINE)


async def test_a_failed_half_open_trial_opens_the_circuit_again(drill):
    api, _, clock = drill
    for _ in range(2):
        assert (await api.post("/api/v1/payments/receives", BUY)).status == 503
    clock.now += 30
    response = await api.post("/api/v1/payments/receives", BUY)  # the trial: still down
    assert response.status == 503
    assert (await _mock_health(api))["circuit"] == "open"
    response = await api.post("/api/v1/payments/receives", BUY)
    assert response.status == 503 and response.headers["Retry-After"] == "30"
    assert await _admin_total(api) == 3


async def test_methods_served_by_nobody_read_unavailable(aiohttp_client):
    container = build_container(admin_config(PAYMENTS_METHOD_ROUTES="mock=mock"), in_memory=True)
    api = Client(await aiohttp_client(create_app(container, background_jobs=False)), container)
    methods = {m["id"]: m for m in (await (await api.get("/api/v1/payments/methods")).json())["methods"]}
    assert methods["wechat_pay"]["status"] == "unavailable" and methods["wechat_pay"]["available"] is False
    assert methods["mock"]["status"] == "ok" and methods["mock"]["available"] is True
