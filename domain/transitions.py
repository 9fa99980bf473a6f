"""Explicit transition tables: one helper that every state machine of the domain checks moves with."""
from __future__ import annotations

import enum
from collections.abc import Mapping

from domain.errors import InvalidTransitionError

TransitionTable = Mapping[enum.Enum, frozenset]


def check_transition(table: TransitionTable, kind: str, current: enum.Enum, target: enum.Enum) -> None:
    """Raise `InvalidTransitionError` unless `table` allows `current → target`."""
    if target not in table[current]:
        raise InvalidTransitionError(kind, current.value, target.value)


def terminal_states(table: TransitionTable) -> frozenset:
    """The states with no way out."""
    return frozenset(state for state, targets in table.items() if not targets)
