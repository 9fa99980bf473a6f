"""Writes that cannot fail for concurrency reasons, sent to PostgreSQL together in one statement.

An update of a row this unit of work holds locked (`SELECT … FOR UPDATE`, or inserted by it)
cannot lose a race: nobody else can change that row before the commit. Such writes, the ledger
rows appended with them and the unit of work's NOTIFY are queued here and sent as one statement
made of data-modifying CTEs (`WITH w0 AS (UPDATE …), w1 AS (INSERT …) SELECT …`) before the next
read and at commit, instead of one round trip each. Reads inside the unit of work therefore see
every earlier write, as before.

Every statement in the batch still checks what it checked alone (an update's `version`; it
returns the rows it touched), and the batch reports any that touched no row. The statements of
one batch see the same snapshot, so a row is never written twice in one batch (a second write
to a queued row flushes the first).
"""
from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

_PARAMETER = re.compile(r"\$(\d+)")
_combined: dict[tuple[tuple[str, str | None], ...], str] = {}


def combined_sql(parts: tuple[tuple[str, str | None], ...]) -> str:
    """One statement running every `(sql, answer)` part as a CTE and answering one row with, per
    part in order, the number of rows it returned (`answer` "count"), its one value ("value"), or
    nothing (None). Cached: a use case sends the same shapes again and again."""
    found = _combined.get(parts)
    if found is None:
        ctes, answers, offset = [], [], 0
        for index, (sql, answer) in enumerate(parts):
            numbers = [int(n) for n in _PARAMETER.findall(sql)]
            ctes.append(f"w{index} AS ({_PARAMETER.sub(lambda m: f'${int(m.group(1)) + offset}', sql)})")
            if answer == "count":
                answers.append(f"(SELECT count(*) FROM w{index})")
            elif answer == "value":
                answers.append(f"(SELECT * FROM w{index})")
            offset += max(numbers, default=0)
        found = _combined[parts] = f"WITH {', '.join(ctes)} SELECT {', '.join(answers) or 'NULL'}"
    return found


class WriteBatch:
    """Queued writes of one unit of work (PostgreSQL only)."""

    def __init__(self) -> None:
        self._parts: list[tuple[str, str | None]] = []
        self._arguments: list[Any] = []
        self._checks: list[Callable[[int], None]] = []  # one per returning part: called with its row count
        self._keys: set[Any] = set()

    def __bool__(self) -> bool:
        return bool(self._parts)

    def holds(self, key: Any) -> bool:
        return key in self._keys

    def add(self, sql: str, arguments: list[Any], *, key: Any = None,
            check: Callable[[int], None] | None = None) -> None:
        """Queue `sql` with its `$n` `arguments`. `check` gets the number of rows it returned."""
        self._parts.append((sql, None if check is None else "count"))
        self._arguments.extend(arguments)
        if check is not None:
            self._checks.append(check)
        if key is not None:
            self._keys.add(key)

    async def flush(self, connection: Any) -> None:
        """Send the queued writes (one round trip) and run their checks."""
        if not self._parts:
            return
        parts, arguments, checks = tuple(self._parts), self._arguments, self._checks
        self._parts, self._arguments, self._checks, self._keys = [], [], [], set()
        if len(parts) == 1 and not checks:
            await connection.execute(parts[0][0], *arguments)
            return
        if len(parts) == 1:
            counts = [len(await connection.fetch(parts[0][0], *arguments))]
        else:
            row = await connection.fetchrow(combined_sql(parts), *arguments)
            counts = [] if row is None else [value for value in row.values() if value is not None]
        for check, count in zip(checks, counts, strict=True):
            check(count)
