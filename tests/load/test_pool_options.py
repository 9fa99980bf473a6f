"""The pool options the README recommends (`?min_size=…&max_size=…` on PAYMENTS_DATABASE_URL) are
the connection pool's, not the server's: `payments serve --workers 2` on such a URL boots both
workers, whose session feeds (a LISTEN connection of their own, outside the pool) connect too,
and serves."""
from __future__ import annotations

import secrets

import aiohttp
import pytest

from live import eventually, serve_process
from load_support import RECEIVES, sql, worker_pids

pytestmark = pytest.mark.postgres

WORKERS = 2


async def test_serve_with_workers_boots_on_a_url_carrying_pool_options(postgres_database_factory, tmp_path):
    database_url = postgres_database_factory("pool") + "?min_size=1&max_size=3"
    async with aiohttp.ClientSession() as http, \
            serve_process(http, tmp_path, workers=WORKERS, PAYMENTS_DATABASE_URL=database_url) as service:
        log = tmp_path / "server.log"

        async def live_workers() -> set[int]:
            assert service.process.poll() is None, log.read_text()
            return worker_pids(service.process.pid, log)

        await eventually(live_workers, lambda pids: len(pids) == WORKERS, timeout=30, what="both workers to boot")
        user = f"pool-{secrets.token_hex(4)}"
        headers = {"Authorization": f"Bearer {service.token(user)}"}
        for n in range(4):  # a few requests, so both workers most likely serve some
            async with http.post(service.url(RECEIVES), json={"amount": 1 + n, "payment_method": "mock"},
                                 headers=headers) as response:
                assert response.status == 201, await response.text()
        assert "Worker failed to boot" not in log.read_text()
        assert len(worker_pids(service.process.pid, log)) == WORKERS
        plain_url = database_url.split("?", 1)[0]
        listening = sql(plain_url, "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                                   "AND query ILIKE 'LISTEN%%'")
        assert listening == [(WORKERS,)]  # each worker's session feed listens
