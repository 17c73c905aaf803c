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

# Two timed calls say nothing on a busy machine: accuracy alone decides here (min_speedup 0).
FAST = {"latency_rounds": 1, "latency_calls": 2, "latency_texts": 8, "batch_sizes": [1, 8], "parity_texts": 30,
        "calibration_texts": 16, "min_speedup": 0.0}


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


def test_the_guardrail_applies_the_activation_policys_test_so_it_promotes_nothing_the_policy_would_refuse(
        toy_version, admin_client, settings):
    # 30 test texts cannot show any copy within the policy's default 2 points: no new version is
    # made that would then sit inactive, and the page says why, variant by variant.
    settings.ACTIVATION_MIN_EVAL_PER_CLASS = 10
    job = compression_start(version=toy_version, params={"methods": ["onnx", "int8"], "max_accuracy_drop": 100,
                                                         "config": FAST})
    job = job_run(job_id=job.pk, work=compress_model_job.work, worker="test")
    assert job.state == Job.State.SUCCEEDED, job.error
    assert job.result["promoted"] is None and job.result["promoted_version_id"] is None
    assert "ONNX fp32 is not shown within 2.0 points of fp32: it changes 0 of 30 answers" in job.result["reason"]
    assert ModelVersion.objects.filter(scenario=TOY_SCENARIO).count() == 1 and toy_version.is_active
    toy_version.refresh_from_db()
    assert toy_version.metrics["compression"]["config"]["no_worse_margin"] == 2.0
    page = admin_client.get(f"/models/{toy_version.pk}/").content.decode()
    assert "shown no worse than it within 2.0 points on the same texts" in page
    assert "Paired interval (points)" in page and "0 / 0 <span class=\"muted small\">of 30</span>" in page


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
    assert job.params["methods"] == ["onnx", "int8", "int8-mixed", "int8-static"] and job.state == Job.State.QUEUED


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


@pytest.fixture
def toy_scenario(tmp_path, tiny_encoder_path, settings):
    from apps.core.scenarios import unregister_scenario
    from tests.apps.core.test_classifier_scenario import register_toy_classifier, write_toy_files

    # 30 test texts (10 of each label): enough for the policy at these settings; a tiny random
    # encoder may lose anything to int8, so the guardrail is wide here.
    settings.ACTIVATION_MIN_EVAL_PER_CLASS, settings.ACTIVATION_MARGIN = 10, 0.12
    settings.ML_COMPRESSION_MAX_ACCURACY_DROP = 100
    register_toy_classifier(write_toy_files(tmp_path / "toy"), tiny_encoder_path)
    yield TOY_SCENARIO
    unregister_scenario(TOY_SCENARIO)


def _train(params: dict) -> Job:
    from apps.core.services.classifiers import classifier_training_start
    from apps.core.tasks import train_classifier_job

    job = classifier_training_start(scenario=TOY_SCENARIO, params=params)
    job = job_run(job_id=job.pk, work=train_classifier_job.work, worker="test")
    assert job.state == Job.State.SUCCEEDED, job.error
    return job


def test_a_trained_version_is_compressed_by_its_own_job_and_the_fast_variant_serves(toy_scenario, admin_client,
                                                                                     one_torch_thread):
    training = _train({"config": {"method": "full"}})
    v1 = ModelVersion.objects.get(scenario=TOY_SCENARIO, version=1)
    assert v1.is_active
    # Queued once the training job had succeeded, as its own job on the training queue, message sent.
    compression = Job.objects.get(kind="core.compress_model")
    assert compression.state == Job.State.QUEUED and compression.sent_at is not None
    assert compression.params["model_version_id"] == v1.pk
    assert compression.params["after_training_job_id"] == str(training.pk)
    assert training.result["compression_job_id"] == str(compression.pk) and training.result["activated"] is True
    page = admin_client.get(f"/models/{v1.pk}/").content.decode()
    assert 'id="serving-variant"' in page and "<strong>PyTorch fp32</strong>: for now: the compression job (queued)" in page

    compression = job_run(job_id=compression.pk, work=compress_model_job.work, worker="test")
    assert compression.state == Job.State.SUCCEEDED, compression.error
    v2 = ModelVersion.objects.get(scenario=TOY_SCENARIO, version=2)
    assert v2.is_active and compression.result["activated"] is True  # through the activation policy
    assert v2.activation_reason.startswith("Activated: shown no worse than the active v1 on the same 30 texts")
    row = next(r for r in v2.metrics["compression"]["variants"] if r["name"] == v2.metrics["serving_variant"])
    assert ClassifierPredictor.load(artifact_dir(v2)).backend.name == "onnx"
    words = {"onnx-fp32": "fp32 ONNX", "onnx-int8": "int8 dynamic ONNX",
             "onnx-int8-mixed": "int8 dynamic ONNX (feed-forward outputs fp32)", "onnx-int8-static": "int8 static ONNX"}
    said = (f"<strong>{words[row['name']]}</strong>: {row['throughput_speedup']:.1f}x faster than fp32, accuracy "
            f"{-row['accuracy_drop_points']:+.2f} points on 30 texts (test set), within the 100-point guardrail "
            "(compressed from v1).")
    assert said in admin_client.get(f"/models/{v2.pk}/").content.decode()
    page = admin_client.get(f"/models/{v1.pk}/").content.decode()
    assert f"its compressed copy v2 serves {words[row['name']]}: " in page and "that copy is the active version" in page


def test_compression_after_training_can_be_turned_off_and_skips_head_models(toy_scenario, admin_client, settings):
    settings.ML_COMPRESS_AFTER_TRAINING = False
    training = _train({"config": {"method": "full"}, "activate": "always"})
    assert not Job.objects.filter(kind="core.compress_model").exists() and "compression_job_id" not in training.result
    v1 = ModelVersion.objects.get(scenario=TOY_SCENARIO, version=1)
    page = admin_client.get(f"/models/{v1.pk}/").content.decode()
    assert "<strong>PyTorch fp32</strong>: not compressed (ML_COMPRESS_AFTER_TRAINING is off)" in page

    # A head on the shared encoder is not compressed by itself: the encoder's runtime setting serves it.
    settings.ML_COMPRESS_AFTER_TRAINING = True
    _train({"config": {"method": "head"}, "activate": "always"})
    assert not Job.objects.filter(kind="core.compress_model").exists()
    v2 = ModelVersion.objects.get(scenario=TOY_SCENARIO, version=2)
    assert "a head on the shared sentence encoder" in admin_client.get(f"/models/{v2.pk}/").content.decode()
