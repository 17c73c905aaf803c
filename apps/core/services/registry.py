"""The model registry: write versions atomically, activate atomically, serve the active one.

A version's folder is built by `ml_core.artifacts.atomic_directory` (a hidden partial folder
renamed into place when complete, with a manifest of sha256s). Activation re-verifies the
folder and flips the active flag in one transaction; a partial unique index guarantees at most
one active version per scenario. Processes that serve a model hold an `ActiveModelCache`,
which notices a new active version within seconds and reloads it without a restart; when the
new version cannot be loaded it keeps serving the old one and says why. Every load reaches the
files through services.model_files (checked against their manifest first).
"""
from __future__ import annotations

import logging
import shutil
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Generic, TypeVar

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Max
from django.utils import timezone

from ml_core.artifacts import ArtifactError, atomic_directory, verify_directory

from ..models import AuditEvent, Job, ModelVersion
from .audit import audit_record
from .jobs import job_raise_if_cancelled
from .model_files import (
    ModelFilesError,
    artifact_dir,
    model_version_files_check,
    model_version_files_verified,
)

log = logging.getLogger(__name__)
T = TypeVar("T")


class RegistryError(Exception):
    """A model version cannot be created, activated or loaded; the message says why."""


@dataclass
class BuiltArtifact:
    """What an artifact builder returns besides the files it wrote."""

    metrics: dict[str, Any] = field(default_factory=dict)
    training_data_summary: dict[str, Any] = field(default_factory=dict)
    base_model: str = ""
    notes: str = ""


def artifact_problem(version: ModelVersion) -> str:
    """What is wrong with a version's files on disk (naming the folder, for operators), or "".

    Every file is checked against the manifest; hashes of files unchanged since they were last
    hashed in this process are reused (model_files), so pages and health checks stay cheap.
    """
    return model_version_files_check(version).detail


def model_version_create(
    *, scenario: str, build: Callable[[Path], BuiltArtifact], created_by=None, job: Job | None = None
) -> ModelVersion:
    """Build an artifact folder with `build(folder)` and register it (inactive).

    The folder becomes visible only once complete; if anything fails, nothing is registered and
    no folder is left behind. A `job` cancelled meanwhile registers nothing either: its progress
    callback checks for a cancel only when it writes (throttled), which a short build can miss.
    """
    relative = Path(scenario) / f"{timezone.now():%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:8]}"
    final = Path(settings.ARTIFACTS_ROOT) / relative
    with atomic_directory(final) as partial:
        built = build(partial)
        _write_model_card(partial, scenario=scenario, built=built)
    sha = verify_directory(final)
    try:
        if job is not None:
            job_raise_if_cancelled(job.pk)
        return _create_row(scenario=scenario, relative=relative, sha=sha, built=built,
                           created_by=created_by, job=job)
    except BaseException:
        shutil.rmtree(final, ignore_errors=True)
        raise


def _write_model_card(folder: Path, *, scenario: str, built: BuiltArtifact) -> None:
    """model_card.md for every version (services.model_cards); a card that cannot be written is
    logged, not allowed to throw away the training that produced the model."""
    from .model_cards import model_card_write

    try:
        model_card_write(folder, scenario=scenario, built=built)
    except Exception:
        log.exception("could not write the model card of a new %s version", scenario)


def _create_row(*, scenario, relative, sha, built, created_by, job) -> ModelVersion:
    for _ in range(5):  # two trainings finishing at once race for the next number
        try:
            with transaction.atomic():
                latest = ModelVersion.objects.filter(scenario=scenario).aggregate(n=Max("version"))["n"]
                return ModelVersion.objects.create(
                    scenario=scenario, version=(latest or 0) + 1, artifact_path=relative.as_posix(),
                    sha256=sha, base_model=built.base_model, metrics=built.metrics,
                    training_data_summary=built.training_data_summary, notes=built.notes,
                    created_by=created_by if (created_by and created_by.is_authenticated) else None,
                    job=job,
                )
        except IntegrityError:
            continue
    raise RegistryError(f"could not allocate a version number for {scenario}")


def model_version_metrics_merge(*, version: ModelVersion, values: dict[str, Any]) -> None:
    """Add `values` to a version's metrics, merged into the metrics of the moment (another job may
    have stored its own report meanwhile), not into a stale copy."""
    with transaction.atomic():
        locked = ModelVersion.objects.select_for_update().get(pk=version.pk)
        locked.metrics = {**locked.metrics, **values}
        locked.save(update_fields=["metrics"])


def model_version_activate(*, version: ModelVersion, actor=None, details: dict | None = None) -> ModelVersion:
    """Make `version` the one active version of its scenario, after re-checking its files.

    Audited as an activation, or a rollback when it is older than the version it replaces;
    `actor` defaults to the user of the current request; `details` join the audit record (the
    activation policy's verdict: services.activation decides automatic activations).
    """
    try:
        sha = verify_directory(artifact_dir(version))
        if sha != version.sha256:
            raise ArtifactError("its files changed since it was registered")
    except ArtifactError as exc:
        log.error("refused to activate %s: %s", version, exc)
        raise RegistryError(f"{version} cannot be activated: {exc}") from exc
    with transaction.atomic():
        # Lock the scenario's rows so two activations cannot interleave.
        list(ModelVersion.objects.select_for_update().filter(scenario=version.scenario).values_list("pk"))
        previous = ModelVersion.objects.filter(scenario=version.scenario, is_active=True).first()
        ModelVersion.objects.filter(scenario=version.scenario, is_active=True).exclude(
            pk=version.pk
        ).update(is_active=False)
        ModelVersion.objects.filter(pk=version.pk).update(is_active=True, activated_at=timezone.now())
        rollback = previous is not None and version.version < previous.version
        audit_record(
            action=AuditEvent.Action.ROLLBACK if rollback else AuditEvent.Action.ACTIVATE,
            scenario=version.scenario, target=f"v{version.version}", actor=actor,
            details={"version_id": version.pk, "previous": previous.version if previous else None,
                     **(details or {})},
        )
    version.refresh_from_db()
    log.info("activated %s", version)
    transaction.on_commit(lambda: _announce_activation(version))
    return version


def _announce_activation(version: ModelVersion) -> None:
    """The scenario's on_activated hook; its failure is logged, the activation stands."""
    from ..scenarios import get_scenario

    try:
        hook = get_scenario(version.scenario).on_activated
    except KeyError:
        return
    if hook is None:
        return
    try:
        hook(version)
    except Exception:  # a follow-up's failure must not undo or fail the activation
        log.exception("after activating %s, its scenario's follow-up failed", version)


def model_version_rollback(*, scenario: str, actor=None) -> ModelVersion:
    """Activate the newest version older than the active one."""
    active = ModelVersion.objects.filter(scenario=scenario, is_active=True).first()
    if active is None:
        raise RegistryError(f"{scenario} has no active version to roll back from")
    previous = (
        ModelVersion.objects.filter(scenario=scenario, version__lt=active.version)
        .order_by("-version").first()
    )
    if previous is None:
        raise RegistryError(f"{active} is the oldest version of {scenario}: nothing to roll back to")
    return model_version_activate(version=previous, actor=actor)


@dataclass
class LoadedModel(Generic[T]):
    version_id: int
    version: int
    scenario: str
    model: T
    loaded_at: float


class ActiveModelCache(Generic[T]):
    """Per-process holder of a scenario's active model, reloaded when the active version changes.

    `loader(folder, version)` turns an artifact folder into a model object. The database is
    asked at most once per `check_interval_s` which version is active; a failing load is logged,
    kept in `last_error`, and the previously loaded model goes on serving.
    """

    _instances: list[ActiveModelCache] = []

    def __init__(self, scenario: str, loader: Callable[[Path, ModelVersion], T],
                 check_interval_s: float = 2.0) -> None:
        self.scenario = scenario
        self.loader = loader
        self.check_interval_s = check_interval_s
        self._last_error = ""
        self._loaded: LoadedModel[T] | None = None
        self._checked_at = 0.0
        self._failed_version_id: int | None = None
        # The version whose files were damaged: checked again at every refresh, loaded once repaired.
        self._damaged_version: ModelVersion | None = None
        self._lock = threading.Lock()
        ActiveModelCache._instances.append(self)

    def get(self) -> LoadedModel[T] | None:
        if time.monotonic() - self._checked_at < self.check_interval_s:
            return self._loaded
        with self._lock:
            if time.monotonic() - self._checked_at >= self.check_interval_s:
                self._refresh()
                self._checked_at = time.monotonic()
        return self._loaded

    def invalidate(self) -> None:
        self._checked_at = 0.0

    @property
    def last_error(self) -> str:
        """Why the active version is not the one served, "" when it is (or when its damaged files
        have been repaired since: the next get() loads them)."""
        damaged = self._damaged_version
        if damaged is not None and model_version_files_check(damaged).ok:
            return ""
        return self._last_error

    @last_error.setter
    def last_error(self, value: str) -> None:
        self._last_error = value
        self._damaged_version = None

    def _refresh(self) -> None:
        active = ModelVersion.objects.filter(scenario=self.scenario, is_active=True).first()
        if active is None:
            self._loaded = None
            return
        if self._loaded and self._loaded.version_id == active.pk:
            return
        if self._failed_version_id == active.pk:
            return  # already failed; do not retry the same broken artifact on every request
        try:
            folder = model_version_files_verified(active)
        except ModelFilesError as exc:  # keep serving what we have; load once the files are repaired
            error = f"{active.scenario} v{active.version} could not be loaded: {exc.check.reason}"
            if error != self._last_error:  # logged once, not at every refresh
                log.error("%s (%s); still serving %s", error, exc.check.detail, self._serving())
            self.last_error = error
            self._damaged_version = active
            return
        try:
            model = self.loader(folder, active)
        except Exception as exc:  # keep serving what we have  # noqa: BLE001
            self._failed_version_id = active.pk
            self.last_error = (f"{active.scenario} v{active.version} could not be loaded: "
                               f"{type(exc).__name__}: {exc}")
            log.error("%s; still serving %s", self.last_error, self._serving())
            return
        self._loaded = LoadedModel(active.pk, active.version, self.scenario, model, time.time())
        self._failed_version_id = None
        self.last_error = ""
        log.info("serving %s", active)

    def _serving(self) -> str:
        return f"v{self._loaded.version}" if self._loaded else "nothing"

    @classmethod
    def all(cls) -> list[ActiveModelCache]:
        return list(cls._instances)
