"""Fault: the Celery worker is killed (SIGKILL, as the OOM killer does) in the middle of a training.

A real worker trains the toy classifier on the tiny encoder. It is killed after its first
epoch, while the new version's files are still a hidden partial folder. Beat's stale-job sweep then
marks the job failed; the active version is
untouched and the partial folder is neither registered nor loadable. Training again resumes from
the last epoch checkpoint and completes.
"""
from __future__ import annotations

import pytest

from apps.core.models import Job, ModelVersion
from apps.core.scenarios import unregister_scenario
from apps.core.services.classifiers import classifier_training_start
from apps.core.services.jobs import job_run
from apps.core.services.registry import ActiveModelCache, artifact_dir
from apps.core.tasks import fail_stale_jobs, train_classifier_job
from ml_core.artifacts import PARTIAL_MARKER, ArtifactError, verify_directory
from ml_core.serving import ClassifierPredictor
from tests.apps.core.test_classifier_scenario import TOY_SCENARIO, register_toy_classifier, write_toy_files
from tests.conftest import run_worker, wait_for

pytestmark = [pytest.mark.worker, pytest.mark.slow, pytest.mark.django_db(transaction=True)]

EPOCHS = 3
# Long enough that the job cannot finish between the kill and the sweep, short enough to retry.
SLOW_TRAINING = {"config": {"epochs": EPOCHS, "early_stopping_patience": 0}}


def _partial_folders(settings) -> list:
    scenario_dir = settings.ARTIFACTS_ROOT / TOY_SCENARIO
    return [p for p in scenario_dir.iterdir() if PARTIAL_MARKER in p.name] if scenario_dir.is_dir() else []


def test_a_worker_killed_mid_training_fails_the_job_and_never_serves_half_a_model(
        settings, tmp_path, tiny_encoder_path):
    folder = write_toy_files(tmp_path / "toy")
    register_toy_classifier(folder, tiny_encoder_path)
    env = {"CELERY_WORKER_INCLUDE": "tests.apps.core.test_classifier_scenario",
           "TOY_CLASSIFIER_DIR": str(folder), "TOY_CLASSIFIER_ENCODER": str(tiny_encoder_path)}
    try:
        # v1, trained in this process, is the version that serves.
        # The toy's 24 test texts are too few for the activation policy: activate by hand.
        first = classifier_training_start(scenario=TOY_SCENARIO, params={"config": {"method": "head"},
                                                                         "activate": "always"})
        assert job_run(job_id=first.pk, work=train_classifier_job.work).state == Job.State.SUCCEEDED
        v1 = ModelVersion.objects.get(scenario=TOY_SCENARIO, is_active=True)
        cache = ActiveModelCache(TOY_SCENARIO, lambda path, _: ClassifierPredictor.load(path), check_interval_s=0)
        assert cache.get().version_id == v1.pk

        with run_worker(queues="training", extra_env=env) as worker:
            job = classifier_training_start(scenario=TOY_SCENARIO, params=SLOW_TRAINING)

            def an_epoch_done() -> bool:
                job.refresh_from_db()
                assert not job.is_finished, f"{job.state}: {job.error}\n{worker.log()[-2000:]}"
                return len(job.result.get("curves", [])) >= 2  # the head record and epoch 1

            wait_for(an_epoch_done, timeout=120, interval=0.05, what="an epoch of training")
            assert _partial_folders(settings), "the new version's files should still be partial"
            worker.kill()

        job.refresh_from_db()
        assert job.state == Job.State.RUNNING  # nobody is left to say otherwise
        assert [v.pk for v in ModelVersion.objects.filter(scenario=TOY_SCENARIO)] == [v1.pk]
        (partial,) = _partial_folders(settings)
        with pytest.raises(ArtifactError, match="partial write"):
            verify_directory(partial)

        # Beat's periodic sweep (the task's own function); with a 1 s threshold the job is stale.
        settings.JOB_STALE_AFTER_S = 1
        wait_for(lambda: fail_stale_jobs() == 1, timeout=10, interval=0.25, what="the stale-job sweep")
        job.refresh_from_db()
        assert job.state == Job.State.FAILED and job.message == "Worker lost"
        assert "stopped reporting for over 1 s" in job.error and "nothing it was writing was activated" in job.error

        active = ModelVersion.objects.get(scenario=TOY_SCENARIO, is_active=True)
        assert active.pk == v1.pk and verify_directory(artifact_dir(active)) == v1.sha256
        assert ModelVersion.objects.filter(scenario=TOY_SCENARIO).count() == 1
        assert not ModelVersion.objects.filter(artifact_path__contains=PARTIAL_MARKER).exists()
        cache.invalidate()
        assert cache.get().version_id == v1.pk and cache.last_error == ""

        # Started again: the new run resumes from the killed run's last epoch checkpoint.
        retry = classifier_training_start(scenario=TOY_SCENARIO, params={**SLOW_TRAINING, "activate": False})
        retry = job_run(job_id=retry.pk, work=train_classifier_job.work)
        assert retry.state == Job.State.SUCCEEDED, retry.error
        assert retry.result["resumed_from_epoch"] >= 1
        v2 = ModelVersion.objects.get(pk=retry.result["model_version_id"])
        assert verify_directory(artifact_dir(v2)) == v2.sha256
        assert ModelVersion.objects.get(scenario=TOY_SCENARIO, is_active=True).pk == v1.pk
    finally:
        unregister_scenario(TOY_SCENARIO)
