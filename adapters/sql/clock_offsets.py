"""The test clock's offset in the `test_clock` table (`ports.clock.ClockOffsets`), shared by every
process of the service.

One row (`id = 1`), made by the first move: a database that was never moved has none and reads 0.
A move is one atomic statement, whatever other processes do at the same time:
`INSERT … ON CONFLICT (id) DO UPDATE SET offset_seconds = offset_seconds + :seconds WHERE
<the sum stays within the limit> RETURNING offset_seconds` (no row back: refused, nothing changed).
"""
from __future__ import annotations

import sqlalchemy as sa
from databases import Database

from adapters.sql.connections import autocommit
from adapters.sql.statements import prepared
from adapters.sql.tables import test_clock

_C = test_clock
_READ = prepared("test_clock_read", lambda dialect: sa.select(_C.c.offset_seconds).where(_C.c.id == 1))


def _advance(dialect):
    insert = dialect.insert(_C).values(id=1, offset_seconds=sa.bindparam("seconds"))
    moved = _C.c.offset_seconds + insert.excluded.offset_seconds
    return (insert.on_conflict_do_update(index_elements=[_C.c.id], set_={"offset_seconds": moved},
                                         where=moved <= sa.bindparam("limit"))
            .returning(_C.c.offset_seconds))


_ADVANCE = prepared("test_clock_advance", _advance)


class SqlClockOffsets:
    def __init__(self, database: Database) -> None:
        self._database = database

    async def read(self) -> int:
        async with autocommit(self._database) as db:
            row = await db.one(_READ)
        return 0 if row is None else int(row["offset_seconds"])

    async def advance(self, seconds: int, limit: int) -> int | None:
        if seconds < 1:
            raise ValueError("the offset only grows")
        if seconds > limit:
            return None
        async with autocommit(self._database) as db:
            row = await db.one(_ADVANCE, seconds=seconds, limit=limit)
        return None if row is None else int(row["offset_seconds"])
