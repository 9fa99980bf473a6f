"""The composition root's clocks (docs/test-clock.md): outside production the use cases and jobs
read the business clock (real time plus the test clock's offset), the plugins and the
idempotency keys the real one; in production the business clock is the real clock itself. And the
background jobs run at once when woken (as the app does when the clock moves), not at their
next interval."""
from __future__ import annotations

import asyncio
from datetime import timedelta

from adapters.clock import OffsetClock, SystemClock
from entrypoints.background import BackgroundJobs
from entrypoints.config import load_config
from entrypoints.container import active_adapters, build_container

PRODUCTION = {"PAYMENTS_ENV": "production", "PAYMENTS_JWT_SECRET": "p" * 40,
              "PAYMENTS_METHOD_ROUTES": "wechat_pay=example"}


async def started(environ: dict[str, str]):
    container = build_container(load_config(environ), in_memory=True)
    await container.init_resources()
    return container


async def test_outside_production_use_cases_run_on_the_business_clock_and_plugins_on_the_real_one():
    container = await started({})
    try:
        adapters = active_adapters(container)
        business, real = await adapters.clock(), adapters.real_clock()
        assert isinstance(business, OffsetClock) and isinstance(real, SystemClock)
        assert (await container.use_cases.expire_sessions())._clock is business
        assert (await container.use_cases.reconcile_payments())._clock is business
        assert all(provider._clock is real for provider in adapters.payment_providers().values())

        before = business.now()
        await business.move_forward(86400)
        assert business.now() - before >= timedelta(days=1)
        assert abs(real.now() - before) < timedelta(minutes=1)  # real time did not move
    finally:
        await container.shutdown_resources()


async def test_in_production_the_business_clock_is_the_real_clock():
    container = await started(PRODUCTION)
    try:
        adapters = active_adapters(container)
        assert await adapters.clock() is adapters.real_clock()
    finally:
        await container.shutdown_resources()


async def test_a_woken_job_runs_at_once_and_again_if_woken_while_running():
    runs: list[int] = []
    running = asyncio.Event()
    release = asyncio.Event()

    async def job() -> None:
        runs.append(len(runs))
        if len(runs) == 2:
            running.set()
            await release.wait()

    jobs = BackgroundJobs()
    jobs.start(timedelta(hours=1), job, "hourly")
    try:
        await asyncio.wait_for(until(lambda: len(runs) == 1), 5)  # the first run, at start
        jobs.wake()
        await asyncio.wait_for(running.wait(), 5)  # the second, at once
        jobs.wake()  # while it runs
        release.set()
        await asyncio.wait_for(until(lambda: len(runs) == 3), 5)
    finally:
        await jobs.stop()
    assert runs == [0, 1, 2]


async def until(condition) -> None:
    while not condition():
        await asyncio.sleep(0.001)
