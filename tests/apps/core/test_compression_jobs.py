"""Compression in the app: the job stores its report with the version, promotes a variant that
passes the guardrail as a new version (activated in place of the active one), says why when
none passes, and the page shows the table and chart. In-process through job_run, tiny encoder."""
import pytest

from apps.core.models import Job, ModelVersion
from apps.core.services.compression import compression_start
from apps.core.services.jobs import job_run
from apps.core.services.registry import artifact_dir
from apps.core.tasking import routed_queue
from apps.core.tasks import compress_model_job
from ml_core.errors import UserError
from ml_core.serving import ClassifierPredictor
from tests.apps.core.test_classifier_scenario import TOY_SCENARIO
from tests.apps.core.test_robustness import one_torch_thread, toy_version  # noqa: F401  (fixtures)

pytestmark = pytest.mark.django_db

FAST = {"latency_rounds": 1, "latency_calls": 2, "latency_texts": 8, "batch_sizes": [1, 8], "parity_texts": 30,
        "calibration_texts": 16}


def test_a_passing_variant_becomes_the_active_version_and_is_served(toy_version, admin_user, admin_client, settings):
    # The activation policy judges the compressed copy against v1 on the toy's 30 test texts (10 of
    # each label): identical answers on 30 texts show it no worse within 12 points, not within 2.
    settings.ACTIVATION_MIN_EVAL_PER_CLASS, settings.ACTIVATION_MARGIN = 10, 0.12
    assert toy_version.is_active
    job = compression_start(version=toy_version, created_by=admin_user,
                            params={"methods": ["onnx", "int8"], "max_accuracy_drop": 100, "config": FAST})
    assert job.kind == "core.compress_model" and routed_queue(job.kind) == "training"
    job = job_run(job_id=job.pk, work=compress_model_job.work, worker="test")
    assert job.state == Job.State.SUCCEEDED, job.error

    toy_version.refresh_from_db()
    report = toy_version.metrics["compression"]
    assert report["data"] == "test set" and report["evaluation"]["n"] == 30 and report["job_id"] == str(job.pk)
    assert [r["name"] for r in report["variants"]] == ["pytorch-fp32", "onnx-fp32", "onnx-int8"]
    assert report["promoted"] in ("onnx-fp32", "onnx-int8") and report["promoted_version"] == 2
    assert toy_version.metrics["accuracy"] > 0  # the training figures stay beside the report

    compressed = ModelVersion.objects.get(scenario=TOY_SCENARIO, version=2)
    assert compressed.is_active and not ModelVersion.objects.get(pk=toy_version.pk).is_active
    assert compressed.metrics["serving_variant"] == report["promoted"] and compressed.metrics["compressed_from_version"] == 1
    assert compressed.job_id == job.pk and "compressed from v1" in compressed.notes
    predictor = ClassifierPredictor.load(artifact_dir(compressed))
    assert predictor.backend.name == "onnx"
    assert job.result["activated"] is True and "activated" in job.message
    assert job.result["activation"].startswith("Activated: shown no worse than the active v1 on the same 30 texts")

    page = admin_client.get(f"/models/{toy_version.pk}/").content.decode()
    assert 'id="compression-report"' in page and "ONNX int8 (dynamic)" in page and "promoted" in page
    assert "Compress again" in page and "compression-chart.js" in page


def test_the_job_says_why_when_no_variant_passes_the_guardrail(toy_version):
    # A recovery fine-tune with a learning rate far too high wrecks the pruned model.
    job = compression_start(version=toy_version, params={
        "methods": ["prune"], "config": {**FAST, "sparsity": 0.5, "student_learning_rate": 10.0}})
    job = job_run(job_id=job.pk, work=compress_model_job.work, worker="test")
    assert job.state == Job.State.SUCCEEDED, job.error
    assert "nothing promoted: pruned (50% unstructured) loses" in job.message
    assert "at most 0.50 allowed" in job.message
    assert ModelVersion.objects.filter(scenario=TOY_SCENARIO).count() == 1
    toy_version.refresh_from_db()
    assert toy_version.is_active and toy_version.metrics["compression"]["promoted"] is None


def test_bad_requests_are_refused_before_a_job_exists(toy_version, admin_client, operator_client):
    with pytest.raises(UserError, match="unknown compression method"):
        compression_start(version=toy_version, params={"methods": ["int4"]})
    with pytest.raises(UserError, match="max_accuracy_drop must be >= 0"):
        compression_start(version=toy_version, params={"max_accuracy_drop": -2})
    other = ModelVersion.objects.create(scenario="tests.not_a_classifier", version=1, artifact_path="nowhere",
                                        sha256="0" * 64)
    with pytest.raises(UserError, match="not a text classifier"):
        compression_start(version=other)
    assert not Job.objects.filter(kind="core.compress_model").exists()

    assert operator_client.post(f"/models/{toy_version.pk}/compress/").status_code == 403
    response = admin_client.post(f"/models/{toy_version.pk}/compress/", {"full": "1"})
    job = Job.objects.get(kind="core.compress_model")
    assert response.status_code == 302 and response["Location"] == f"/jobs/{job.pk}/"
    assert "distill" in job.params["methods"] and job.params["model_version_id"] == toy_version.pk


def test_the_admin_action_queues_a_compression_job(toy_version, admin_client):
    response = admin_client.post("/admin/core/modelversion/", {
        "action": "compress_version", "_selected_action": [toy_version.pk]}, follow=True)
    assert response.status_code == 200 and b"Compressing" in response.content
    job = Job.objects.get(kind="core.compress_model")
    assert job.params["methods"] == ["onnx", "int8", "int8-static"] and job.state == Job.State.QUEUED


def test_shared_onnx_encoder_is_exported_once_and_embeds_like_the_shared_encoder(settings, tiny_encoder_path):
    from pathlib import Path

    import numpy as np

    from apps.core.services.compression import shared_onnx_encoder
    from apps.core.services.encoders import shared_encoder
    from ml_core.backbone import encode_texts

    settings.ML_BACKBONE = str(tiny_encoder_path)
    encoder = shared_onnx_encoder()
    assert shared_onnx_encoder() is encoder  # one per process
    [folder] = (Path(settings.ARTIFACTS_ROOT) / "onnx-encoders").iterdir()
    assert (folder / "MANIFEST.json").is_file() and (folder / "encoder.int8.onnx").is_file()
    texts = ["where is my card?", "profits rose sharply", "ok"]
    np.testing.assert_allclose(encode_texts(encoder, texts), encode_texts(shared_encoder(), texts), atol=1e-5)
