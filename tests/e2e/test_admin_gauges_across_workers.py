"""The gauges read from the database answer alike from every worker: `payments serve --workers 2`
on PostgreSQL, one payment declined at the mock's checkout page and one paid; whichever worker a
scrape reaches, `/metrics` shows the same success ratio and ended sessions, and the success-rate
endpoint the same figures (circuits and counters stay each worker's own)."""
from __future__ import annotations

import re

import aiohttp
import pytest
from live import eventually, pay_through_page, serve_process

pytestmark = pytest.mark.postgres


async def test_every_worker_answers_the_same_database_gauges(postgres_database_factory, tmp_path):
    database_url = postgres_database_factory("gauges")
    async with aiohttp.ClientSession() as http, serve_process(
            http, tmp_path, workers=2, PAYMENTS_DATABASE_URL=database_url) as service:
        admin = {"Authorization": f"Bearer {service.token('ops', 'admin')}"}
        for user, outcome in (("payer-1", "failed"), ("payer-2", "succeeded")):
            async with http.post(service.url("/api/v1/payments/receives"), json={"amount": 1, "payment_method": "mock"},
                                 headers={"Authorization": f"Bearer {service.token(user)}"}) as response:
                assert response.status == 201, await response.text()
                session = (await response.json())["session"]
            await pay_through_page(http, session["payment_url"], outcome)

        async def rates() -> list:
            async with http.get(service.url("/api/v1/admin/analytics/success-rates"), headers=admin,
                                params={"window": "1h"}) as response:
                return (await response.json())["items"]

        [mock] = await eventually(rates, lambda items: items and items[0]["sessions"] == 2, timeout=30,
                                  what="both notifications to be applied")
        assert (mock["completed"], mock["failed"], mock["success_rate_bps"]) == (1, 1, 5000)

        seen = set()
        for _ in range(12):  # new connections: both workers answer some of them
            async with aiohttp.ClientSession() as fresh, fresh.get(service.url("/metrics")) as response:
                metrics = await response.text()
            ratio = re.search(r'^payments_provider_success_ratio\{provider="mock"\} (\S+)$', metrics, re.MULTILINE)
            ended = re.search(r'^payments_provider_sessions_ended\{provider="mock"\} (\S+)$', metrics, re.MULTILINE)
            assert ratio is not None and ended is not None, metrics
            seen.add((ratio.group(1), ended.group(1)))
        assert seen == {("0.5", "2.0")}
