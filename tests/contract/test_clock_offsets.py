"""Contract of the test clock's offset store (`ports.clock.ClockOffsets`) over memory, SQLite and
PostgreSQL, and of the business clock built on it (`adapters.clock.OffsetClock`): the offset starts
at 0, only grows, adds up exactly under concurrent moves, refuses (changing nothing) a move past the
limit, and every clock over the same store sees a move, its own at once and the others' after a
refresh."""
from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import datetime, timedelta, timezone

import pytest

from adapters.clock import MAX_OFFSET_SECONDS, FixedClock, OffsetClock, running
from adapters.memory_clock import InMemoryClockOffsets
from ports.clock import ClockLimitError, ClockOffsets

START = datetime(2026, 3, 1, tzinfo=timezone.utc)


@pytest.fixture(params=["memory", "sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def offsets(request: pytest.FixtureRequest) -> AsyncIterator[ClockOffsets]:
    if request.param == "memory":
        yield InMemoryClockOffsets()
        return
    from adapters.sql.clock_offsets import SqlClockOffsets
    from adapters.sql.database import create_database

    if request.param == "sqlite":
        database = create_database(request.getfixturevalue("fresh_sqlite_url"))
    else:
        database = create_database(request.getfixturevalue("clean_postgres_url"), min_size=1, max_size=6)
    await database.connect()
    try:
        yield SqlClockOffsets(database)
    finally:
        await database.disconnect()


async def test_a_clock_never_moved_reads_zero(offsets):
    assert await offsets.read() == 0


async def test_moves_add_up_and_return_the_new_offset(offsets):
    assert await offsets.advance(60, MAX_OFFSET_SECONDS) == 60
    assert await offsets.advance(3600, MAX_OFFSET_SECONDS) == 3660
    assert await offsets.read() == 3660


async def test_concurrent_moves_are_all_counted(offsets):
    results = await asyncio.gather(*(offsets.advance(seconds, MAX_OFFSET_SECONDS) for seconds in range(1, 21)))

    assert await offsets.read() == sum(range(1, 21)) == max(results)
    assert len(set(results)) == 20  # each move saw a total of its own


@pytest.mark.parametrize("seconds", [0, -5])
async def test_the_offset_never_goes_back(offsets, seconds):
    await offsets.advance(10, MAX_OFFSET_SECONDS)
    with pytest.raises(ValueError):
        await offsets.advance(seconds, MAX_OFFSET_SECONDS)
    assert await offsets.read() == 10


async def test_a_move_past_the_limit_is_refused_and_changes_nothing(offsets):
    assert await offsets.advance(1000, 1000) == 1000  # up to the limit itself
    assert await offsets.read() == 1000
    assert await offsets.advance(1, 1000) is None
    assert await offsets.advance(5000, 1000) is None
    assert await offsets.read() == 1000
    assert await offsets.advance(1, 1001) == 1001


async def test_a_first_move_past_the_limit_stores_nothing(offsets):
    assert await offsets.advance(1001, 1000) is None
    assert await offsets.read() == 0


async def test_the_clock_that_moves_sees_it_at_once_and_others_after_a_refresh(offsets):
    real = FixedClock(START)
    mover, other = OffsetClock(offsets, real), OffsetClock(offsets, real)

    assert await mover.move_forward(90) == START + timedelta(seconds=90) == mover.now()
    assert other.now() == START  # its cached offset: no query per read
    await other.refresh()
    assert other.now() == START + timedelta(seconds=90)
    real.advance(timedelta(seconds=5))  # real time goes on under both
    assert mover.now() == other.now() == START + timedelta(seconds=95)


async def test_a_refresh_that_read_before_a_move_never_takes_the_clock_back(offsets):
    clock = OffsetClock(offsets, FixedClock(START))
    stale = await offsets.read()
    await clock.move_forward(30)
    clock._learn(stale)  # what a refresh that read before the move would report afterwards
    assert clock.now() == START + timedelta(seconds=30)


async def test_a_move_past_the_limit_raises_and_the_clock_stays(offsets):
    clock = OffsetClock(offsets, FixedClock(START))
    await clock.move_forward(MAX_OFFSET_SECONDS - 10)
    with pytest.raises(ClockLimitError):
        await clock.move_forward(11)
    assert clock.offset_seconds == MAX_OFFSET_SECONDS - 10 == await offsets.read()


async def test_the_background_refresh_brings_in_another_processes_move(offsets):
    listened: list[int] = []
    clock = OffsetClock(offsets, FixedClock(START), refresh_interval=timedelta(milliseconds=10))
    clock.on_move(lambda: listened.append(clock.offset_seconds))
    async with running(clock):
        await offsets.advance(600, MAX_OFFSET_SECONDS)  # as another process would
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 5
        while clock.now() != START + timedelta(seconds=600):
            assert loop.time() < deadline, "the refresh never brought the move in"
            await asyncio.sleep(0.005)
    assert listened == [600]
