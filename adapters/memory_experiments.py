"""The price experiment store in memory (`ports.experiments.ExperimentStore`): one process's
experiments and assignments, reading the committed transactions of the in-memory adapters' store
for the results. Experiments are copied in and out, as the other in-memory adapters do."""
from __future__ import annotations

import copy
from collections.abc import Sequence
from datetime import datetime

from adapters.memory import InMemoryStore
from domain.audit import AuditEntry
from domain.experiment import Experiment, ExperimentStatus
from domain.experiment_results import VariantCounts
from domain.transaction import PAID_STATES
from ports.experiments import AnotherExperimentRunningError, ExperimentExistsError, RunningExperiment


class InMemoryExperimentStore:
    def __init__(self, store: InMemoryStore) -> None:
        self._store = store
        self._experiments: dict[str, Experiment] = {}
        self._assignments: dict[tuple[str, str], tuple[str, datetime]] = {}  # (experiment, user) -> (variant, at)

    async def add(self, experiment: Experiment, audit: AuditEntry | None = None) -> None:
        if experiment.id in self._experiments:
            raise ExperimentExistsError(experiment.id)
        self._experiments[experiment.id] = copy.deepcopy(experiment)
        if audit is not None:
            self._store.audit_log.append(audit)

    async def get(self, experiment_id: str) -> Experiment | None:
        return copy.deepcopy(self._experiments.get(experiment_id))

    async def change_status(self, experiment: Experiment, previous: str, audit: AuditEntry | None = None) -> bool:
        stored = self._experiments.get(experiment.id)
        if stored is None or stored.status.value != previous:
            return False
        if experiment.status is ExperimentStatus.RUNNING and any(
                e.is_running and e.id != experiment.id for e in self._experiments.values()):
            raise AnotherExperimentRunningError()
        self._experiments[experiment.id] = copy.deepcopy(experiment)
        if audit is not None:
            self._store.audit_log.append(audit)
        return True

    async def running(self, user_id: str) -> RunningExperiment | None:
        found = next((e for e in self._experiments.values() if e.is_running), None)
        if found is None:
            return None
        assigned = self._assignments.get((found.id, user_id))
        return RunningExperiment(copy.deepcopy(found), assigned[0] if assigned else None)

    async def expose(self, experiment_id: str, user_id: str, variant_id: str, now: datetime) -> None:
        self._assignments.setdefault((experiment_id, user_id), (variant_id, now))

    async def counts(self, experiment_id: str, variant_ids: Sequence[str]) -> Sequence[VariantCounts]:
        exposed = {variant: 0 for variant in variant_ids}
        paying = dict(exposed)
        gross = dict(exposed)
        by_user = {user: (variant, at) for (experiment, user), (variant, at) in self._assignments.items()
                   if experiment == experiment_id}
        for variant, _ in by_user.values():
            exposed[variant] = exposed.get(variant, 0) + 1
        payers: set[str] = set()
        for t in self._store.transactions.values():
            assigned = by_user.get(t.user_id)
            if assigned is None:
                continue
            if t.status in PAID_STATES and t.total.amount > 0 and t.completed_at is not None \
                    and t.completed_at >= assigned[1]:
                gross[assigned[0]] += t.total.amount
                if t.user_id not in payers:
                    payers.add(t.user_id)
                    paying[assigned[0]] += 1
        return [VariantCounts(v, exposed[v], paying[v], gross[v]) for v in variant_ids]
