"""The admin's price experiments (role `admin`, docs/experiments.md): create one (a draft), start it
(at most one runs), stop it (for good), and read its results. Each change is appended to the audit
log with it (`experiment.created`, `experiment.started`, `experiment.stopped`)."""
from __future__ import annotations

from datetime import datetime

import attrs

from domain.audit import AuditEntry
from domain.errors import InvalidTransitionError, NotFoundError
from domain.experiment import Experiment, ExperimentStatus, PriceVariant
from domain.experiment_results import VariantResult, results
from ports.clock import Clock
from ports.experiments import ExperimentStore
from ports.ids import IdGenerator
from ports.use_cases.settings import UseCaseSettings


class ExperimentNotFoundError(NotFoundError):
    def __init__(self, experiment_id: str) -> None:
        super().__init__(f"Price experiment {experiment_id} not found.")


@attrs.frozen
class CreateExperimentCommand:
    id: str
    variants: tuple[PriceVariant, ...]
    admin: str
    request_id: str | None = None


@attrs.frozen
class ExperimentResults:
    experiment: Experiment
    variants: tuple[VariantResult, ...]


def _audit(ids: IdGenerator, action: str, experiment: Experiment, admin: str, request_id: str | None,
           now: datetime) -> AuditEntry:
    return AuditEntry(id=ids.new_id("au"), actor=admin, action=action, object_type="experiment",
                      object_id=experiment.id, details={"status": experiment.status.value,
                                                        "variants": [v.id for v in experiment.variants]},
                      request_id=request_id, created_at=now)


@attrs.define
class CreateExperiment:
    _store: ExperimentStore
    _ids: IdGenerator
    _clock: Clock
    _settings: UseCaseSettings

    async def __call__(self, cmd: CreateExperimentCommand) -> Experiment:
        """A draft; DomainValidationError for variants the catalog cannot charge,
        ExperimentExistsError (409 invalid_state) for an id in use."""
        now = self._clock.now()
        experiment = Experiment.create(id=cmd.id, variants=cmd.variants, catalog=self._settings.catalog, now=now)
        await self._store.add(experiment, _audit(self._ids, "experiment.created", experiment, cmd.admin,
                                                 cmd.request_id, now))
        return experiment


@attrs.define
class ChangeExperimentStatus:
    """Start (`running`) or stop (`stopped`) an experiment. Starting refuses anything but a draft,
    and any start while another experiment runs (409 invalid_state); stopping refuses anything but
    a running experiment."""

    _store: ExperimentStore
    _ids: IdGenerator
    _clock: Clock

    async def __call__(self, experiment_id: str, target: ExperimentStatus, *, admin: str,
                       request_id: str | None = None) -> Experiment:
        experiment = await self._store.get(experiment_id)
        if experiment is None:
            raise ExperimentNotFoundError(experiment_id)
        previous = experiment.status
        now = self._clock.now()
        if target is ExperimentStatus.RUNNING:
            experiment.start(now)
        else:
            experiment.stop(now)
        audit = _audit(self._ids, f"experiment.{'started' if target is ExperimentStatus.RUNNING else 'stopped'}",
                       experiment, admin, request_id, now)
        if not await self._store.change_status(experiment, previous.value, audit):
            current = await self._store.get(experiment_id)  # another admin moved it first
            raise InvalidTransitionError("price experiment", current.status.value if current else previous.value,
                                         target.value)
        return experiment


@attrs.define
class GetExperimentResults:
    _store: ExperimentStore

    async def __call__(self, experiment_id: str) -> ExperimentResults:
        experiment = await self._store.get(experiment_id)
        if experiment is None:
            raise ExperimentNotFoundError(experiment_id)
        counts = await self._store.counts(experiment.id, [v.id for v in experiment.variants])
        return ExperimentResults(experiment, tuple(results(counts)))

