"""Clock adapters: the system clock and a fixed clock for tests and simulations."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import attrs


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(timezone.utc)


@attrs.define
class FixedClock:
    """A clock that stands still until told to move."""

    current: datetime

    def __attrs_post_init__(self) -> None:
        if self.current.utcoffset() != timedelta(0):
            raise ValueError("FixedClock needs an aware UTC datetime")

    def now(self) -> datetime:
        return self.current

    def advance(self, delta: timedelta) -> datetime:
        self.current += delta
        return self.current

    def set(self, moment: datetime) -> None:
        self.current = moment
