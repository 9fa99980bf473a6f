"""The circuit breaker drill through a real `payments serve` process: with the mock's fault drill
`PAYMENTS_MOCK_FAULTS=open_payment=unavailable:1.0`, two purchases meet 5 unavailability errors
in a row; the third is refused at once (503 `provider_unavailable`, `Retry-After`) and writes
nothing; `GET /methods`, `GET /admin/providers` and `/metrics` show the open circuit."""
from __future__ import annotations

import re
import time

import aiohttp
from live import serve_process

BUY = {"amount": 2, "payment_method": "alipay"}


async def test_the_fault_drill_opens_the_circuit_of_a_served_process(tmp_path):
    async with aiohttp.ClientSession() as http, serve_process(
            http, tmp_path, PAYMENTS_MOCK_FAULTS="open_payment=unavailable:1.0") as service:
        user = {"Authorization": f"Bearer {service.token('payer')}"}
        admin = {"Authorization": f"Bearer {service.token('ops', 'admin')}"}
        for _ in range(2):
            async with http.post(service.url("/api/v1/payments/receives"), json=BUY, headers=user) as response:
                assert response.status == 503
                assert (await response.json())["error"]["code"] == "provider_unavailable"
                assert "Retry-After" not in response.headers  # the provider failed: no circuit yet

        started = time.monotonic()
        async with http.post(service.url("/api/v1/payments/receives"), json=BUY, headers=user) as response:
            assert response.status == 503
            assert (await response.json())["error"]["code"] == "provider_unavailable"
            assert 1 <= int(response.headers["Retry-After"]) <= 30
        assert time.monotonic() - started < 0.5  # no provider call, no retries

        async with http.get(service.url("/api/v1/admin/transactions"), headers=admin) as response:
            assert (await response.json())["total"] == 2  # the refused one wrote nothing
        async with http.get(service.url("/api/v1/payments/methods"), headers=user) as response:
            methods = {m["id"]: m for m in (await response.json())["methods"]}
        assert {m["status"] for m in methods.values()} == {"degraded"}
        assert not any(m["available"] for m in methods.values())
        async with http.get(service.url("/api/v1/admin/providers"), headers=admin) as response:
            [mock] = (await response.json())["items"]
        assert (mock["provider"], mock["circuit"], mock["consecutive_failures"]) == ("mock", "open", 5)
        assert mock["success_rate_bps_1h"] == 0  # both sessions failed
        async with http.get(service.url("/metrics")) as response:
            metrics = await response.text()
        assert re.search(r'^payments_provider_circuit_open\{provider="mock"\} 1\.0$', metrics, re.MULTILINE)
        assert re.search(r'^payments_provider_success_ratio\{provider="mock"\} 0\.0$', metrics, re.MULTILINE)
