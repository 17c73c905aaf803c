"""A real Celery worker (training queue only) trains a classifier version from a job."""
import pytest

from apps.core.models import Job, ModelVersion
from apps.core.scenarios import unregister_scenario
from apps.core.services.classifiers import classifier_training_start
from apps.core.services.registry import artifact_dir
from ml_core.artifacts import verify_directory
from ml_core.serving import ClassifierPredictor
from tests.apps.core.test_classifier_scenario import TOY_SCENARIO, register_toy_classifier, write_toy_files
from tests.conftest import run_worker, wait_for

pytestmark = [pytest.mark.worker, pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def test_training_worker_builds_and_activates_a_classifier_version(tmp_path, tiny_encoder_path):
    folder = write_toy_files(tmp_path / "toy")
    register_toy_classifier(folder, tiny_encoder_path)
    env = {  # the worker registers the same toy scenario (see test_classifier_scenario.py)
        "CELERY_WORKER_INCLUDE": "tests.apps.core.test_classifier_scenario",
        "TOY_CLASSIFIER_DIR": str(folder), "TOY_CLASSIFIER_ENCODER": str(tiny_encoder_path),
        "ACTIVATION_MIN_EVAL_PER_CLASS": "10",  # the toy test set has 10 texts of each label
        # This test is about training: the compression it would queue next could add a v2 before the asserts.
        "ML_COMPRESS_AFTER_TRAINING": "false",
    }
    seen_progress, seen_curves = [], []
    try:
        # Only the training queue: the task must be routed there by its name.
        with run_worker(queues="training", extra_env=env) as worker:
            job = classifier_training_start(scenario=TOY_SCENARIO, params={"config": {"epochs": 3, "early_stopping_patience": 0}})

            def finished() -> bool:
                job.refresh_from_db()
                seen_progress.append(job.progress)
                seen_curves.append(len(job.result.get("curves", [])))
                return job.is_finished

            wait_for(finished, timeout=240, interval=0.05, what="the training job")
    finally:
        unregister_scenario(TOY_SCENARIO)
    assert job.state == Job.State.SUCCEEDED, f"{job.error}\n{worker.log()[-3000:]}"
    assert job.worker.startswith("test-")
    assert len({p for p in seen_progress if 0 < p < 100}) >= 3 and seen_progress == sorted(seen_progress)
    assert max(seen_curves) == 4 and len(set(seen_curves)) >= 2  # curves arrived while it ran
    version = ModelVersion.objects.get(scenario=TOY_SCENARIO)
    assert version.is_active and job.result["model_version_id"] == version.pk
    assert verify_directory(artifact_dir(version)) == version.sha256
    predictor = ClassifierPredictor.load(artifact_dir(version))
    assert predictor.labels == ["neg", "neu", "pos"]
    assert predictor.predict(["great win"])[0].label in predictor.labels
