"""The price experiment store (docs/experiments.md): experiments, the one running, each user's
assignment and the counts results are computed from. Every method is one short statement or
transaction of its own, outside any unit of work (an exposure stays stored when the purchase that
caused it is refused).

Implementations: `adapters.memory_experiments.InMemoryExperimentStore`,
`adapters.sql.experiments.SqlExperimentStore`; `tests/contract/test_experiment_store.py` holds both
to this protocol.
"""
from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Protocol

import attrs

from domain.audit import AuditEntry
from domain.errors import ConflictError
from domain.experiment import Experiment
from domain.experiment_results import VariantCounts


class ExperimentExistsError(ConflictError):
    code = "invalid_state"

    def __init__(self, experiment_id: str) -> None:
        super().__init__(f"An experiment with id {experiment_id!r} exists already; experiments are never changed, "
                         "create one with another id.")


class AnotherExperimentRunningError(ConflictError):
    code = "invalid_state"

    def __init__(self) -> None:
        super().__init__("Another experiment is running; stop it first (at most one runs at a time).")


@attrs.frozen
class RunningExperiment:
    """The running experiment, and the variant stored for the user asked about (None: never
    exposed to it yet)."""

    experiment: Experiment
    assigned_variant: str | None


class ExperimentStore(Protocol):
    async def add(self, experiment: Experiment, audit: AuditEntry | None = None) -> None:
        """Store a new experiment (with `audit`, in one transaction); ExperimentExistsError when
        its id is taken."""

    async def get(self, experiment_id: str) -> Experiment | None:
        """The experiment as stored, or None."""

    async def change_status(self, experiment: Experiment, previous: str, audit: AuditEntry | None = None) -> bool:
        """Store `experiment`'s new status and its start or stop time if it is still `previous`
        (compare-and-set; False, changing nothing, when another call moved it first). Starting
        while another experiment runs raises AnotherExperimentRunningError, decided by the
        database, so two starts at once cannot both succeed."""

    async def running(self, user_id: str) -> RunningExperiment | None:
        """The running experiment with `user_id`'s stored variant, in one indexed read; None when
        no experiment runs. On the purchase path: cheap."""

    async def expose(self, experiment_id: str, user_id: str, variant_id: str, now: datetime) -> None:
        """Store the user's assignment unless one is stored (the first exposure wins; calls at
        once store one row)."""

    async def counts(self, experiment_id: str, variant_ids: Sequence[str]) -> Sequence[VariantCounts]:
        """Per variant (in the order of `variant_ids`, zeros for a variant nobody was exposed to):
        exposed users, paying users (exposed users with a paid transaction of a positive total
        priced by this variant, completed at or after their exposure) and the gross of those
        transactions, summed by the database."""
