"""Trust features of model versions, on tiny toy classifiers trained through the real job:
model cards (in the artifact and live), the faithfulness check of every trained classifier,
"why" explanations on demand, and shadow mode (comparison arithmetic, scoring off the request
path, permissions)."""
import json

import pytest
from django.core.cache import cache
from django.urls import reverse

from apps.core.models import AuditEvent, Job, ModelVersion, ShadowDeployment, ShadowPrediction
from apps.core.scenarios import unregister_scenario
from apps.core.services import shadow
from apps.core.services.classifiers import classifier_training_start
from apps.core.services.jobs import job_run
from apps.core.services.registry import (
    BuiltArtifact,
    artifact_dir,
    model_version_activate,
    model_version_create,
)
from apps.core.tasks import train_classifier_job
from ml_core.errors import UserError
from ml_core.serving import ClassifierPredictor
from tests.apps.core.test_classifier_scenario import TOY_SCENARIO, register_toy_classifier, write_toy_files
from tests.conftest import run_worker, wait_for

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("one_torch_thread")]


@pytest.fixture
def one_torch_thread():
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny models; threads only spin on a shared CPU
    yield
    torch.set_num_threads(before)


def _train(params: dict | None = None) -> ModelVersion:
    job = classifier_training_start(scenario=TOY_SCENARIO, params={"config": {"method": "head"}, **(params or {})})
    job = job_run(job_id=job.pk, work=train_classifier_job.work, worker="test")
    assert job.state == Job.State.SUCCEEDED, job.error
    return ModelVersion.objects.get(pk=job.result["model_version_id"])


@pytest.fixture
def toy(tmp_path, tiny_encoder_path):
    register_toy_classifier(write_toy_files(tmp_path / "toy", n_train=60, n_test=24), tiny_encoder_path)
    cache.clear()
    shadow.shadow_cache_clear()
    yield
    unregister_scenario(TOY_SCENARIO)
    shadow._label_resolvers.pop(TOY_SCENARIO, None)
    shadow.shadow_cache_clear()


def test_every_version_has_a_model_card_and_trained_classifiers_a_faithfulness_check(toy, operator_client):
    version = _train()
    folder = artifact_dir(version)
    card = (folder / "model_card.md").read_text()
    for part in ("# Model card: Toy sentiment (trained", "## Intended use", "for tests", "## Training data",
                 "| neg | 18 |", "### Calibration", "### Slices", "### Explanations", "## Known limits",
                 "Texts longer than 32 word pieces are cut"):
        assert part in card
    faithfulness = json.loads((folder / "faithfulness.json").read_text())
    assert faithfulness["n"] == 6 and {"mean_drop_top", "mean_drop_random", "passed"} <= set(faithfulness)
    assert version.metrics["faithfulness_drop_top"] == pytest.approx(faithfulness["mean_drop_top"])
    assert version.metrics["faithfulness_passed"] == float(faithfulness["passed"])

    # Later reports land in the live card (the folder is sealed): the download shows them.
    version.metrics = {**version.metrics, "robustness": {"clean_accuracy": 0.9, "attack": {
        "accuracy_under_attack": 0.2, "attack_success_rate": 0.78}}}
    version.save()
    response = operator_client.get(reverse("model_version_card", args=[version.pk]))
    assert response.status_code == 200 and response["Content-Type"].startswith("text/markdown")
    text = response.content.decode()
    assert "# Model card: Toy sentiment v1" in text and "### Robustness" in text and "changes 78.0%" in text

    page = operator_client.get(reverse("model_version_detail", args=[version.pk])).content.decode()
    assert 'id="model-card"' in page and "Download model_card.md" in page and "Known limits" in page
    assert 'id="why-text"' in page and "in shadow</button>" not in page  # operators explain, admins start shadows

    # Any other kind of version (a recommender...) gets a card too.
    other = model_version_create(scenario="tests.other", build=lambda f: (
        (f / "w.txt").write_text("w"), BuiltArtifact(metrics={"ndcg@10": 0.3}))[1])
    assert "ndcg@10: 0.3" in (artifact_dir(other) / "model_card.md").read_text()


def test_why_explanations_on_demand_are_cached_and_for_operators(toy, operator_client, outsider_client,
                                                                 csrf_admin_client):
    version = _train()
    url = reverse("model_version_explain", args=[version.pk])
    first = operator_client.post(url, {"text": "great happy win number 3"})
    assert first.status_code == 200 and first.content.count(b"<mark class=\"xai-") == 5
    assert b"(cached)" not in first.content
    second = operator_client.post(url, {"text": "great happy win number 3"})
    assert b"(cached)" in second.content
    assert operator_client.post(url, {"text": "  "}).status_code == 400
    assert outsider_client.post(url, {"text": "x"}).status_code == 403
    assert csrf_admin_client.post(url, {"text": "x"}).status_code == 403


def test_comparison_arithmetic():
    rows = [shadow.ComparedRow("a", "a", 0.9, 0.8, "a"), shadow.ComparedRow("a", "b", 0.6, 0.7, "b"),
            shadow.ComparedRow("b", "b", 0.8, 0.9, "a"), shadow.ComparedRow("b", "a", 0.7, 0.5, None),
            shadow.ComparedRow("a", "b", 0.5, 0.6, "a")]
    report = shadow.compare_predictions(rows)
    assert report["n"] == 5 and report["agree"] == 2 and report["agreement"] == pytest.approx(0.4)
    assert report["per_label"] == [{"label": "b", "n": 2, "agreement": 0.5}, {"label": "a", "n": 3, "agreement": 1 / 3}][::-1]
    assert report["disagreements"] == [{"active": "a", "candidate": "b", "count": 2},
                                       {"active": "b", "candidate": "a", "count": 1}]
    assert report["active_mean_confidence"] == pytest.approx(0.7)
    labelled = report["labelled"]
    assert labelled["n"] == 4 and labelled["active_accuracy"] == 0.5 and labelled["candidate_accuracy"] == 0.5
    assert (labelled["both_right"], labelled["only_active_right"], labelled["only_candidate_right"],
            labelled["both_wrong"]) == (1, 1, 1, 1)
    assert labelled["mcnemar_p"] == pytest.approx(1.0)
    assert shadow.mcnemar_exact_p(0, 10) == pytest.approx(2 * 0.5 ** 10)
    assert shadow.mcnemar_exact_p(0, 0) is None
    assert shadow.compare_predictions([])["agreement"] is None


def test_shadow_scores_live_traffic_beside_the_active_version(toy, admin_client, operator_client, outsider_client,
                                                              csrf_admin_client):
    active = _train({"activate": "always"})  # 24 test texts are too few for the activation policy
    candidate = _train({"activate": False, "config": {"method": "head", "seed": 7}, "train_file": "train.csv"})
    assert active.is_active and not ModelVersion.objects.get(pk=candidate.pk).is_active
    with pytest.raises(UserError, match="is the active version"):
        shadow.shadow_start(candidate=ModelVersion.objects.get(pk=active.pk))
    start = reverse("model_version_shadow_start", args=[candidate.pk])
    assert operator_client.post(start).status_code == 403 and csrf_admin_client.post(start).status_code == 403
    page = admin_client.get(reverse("model_version_detail", args=[candidate.pk])).content.decode()
    assert f"Run v{candidate.version} in shadow" in page
    response = admin_client.post(start, {"sample_rate": "1"})
    deployment = ShadowDeployment.objects.get(is_running=True)
    assert response["Location"] == reverse("shadow_detail", args=[deployment.pk])
    assert AuditEvent.objects.filter(action="settings.change", target=f"shadow v{candidate.version}").exists()

    texts = [f"{w} number {i}" for i, w in enumerate(["great win", "sad loss", "table chair", "good", "awful",
                                                       "meeting monday", "happy", "terrible"])]
    served = ClassifierPredictor.load(artifact_dir(active)).predict(texts)
    for i, (text, p) in enumerate(zip(texts, served)):
        assert shadow.shadow_observe(scenario=TOY_SCENARIO, subject=f"toy:{i}", text=text, label=p.label,
                                     confidence=p.confidence, active_version_id=active.pk)
    assert not shadow.shadow_observe(scenario=TOY_SCENARIO, subject="toy:0", text="again", label="pos")  # once
    assert not shadow.shadow_observe(scenario="tests.nothing_runs", subject="x", text="x", label="pos")
    assert ShadowPrediction.objects.filter(scored_at=None).count() == 8

    assert shadow.shadow_score_pending(deployment_id=deployment.pk) == 8
    truth = {f"toy:{i}": label for i, label in enumerate(["pos", "neg", "neu", "pos", "neg", "neu", "pos", "neg"])}
    shadow.register_label_resolver(TOY_SCENARIO, lambda subjects: {s: truth[s] for s in subjects if s != "toy:7"})
    report = shadow.shadow_comparison(deployment=deployment)
    theirs = ClassifierPredictor.load(artifact_dir(candidate)).predict(texts)
    assert report["n"] == 8 and report["pending"] == 0
    assert report["agree"] == sum(a.label == b.label for a, b in zip(served, theirs))
    assert report["labelled"]["n"] == 7
    assert report["labelled"]["candidate_accuracy"] == pytest.approx(
        sum(theirs[i].label == truth[f"toy:{i}"] for i in range(7)) / 7)
    assert report["test_set"]["candidate"]["accuracy"] == candidate.metrics["test_accuracy"]

    page = operator_client.get(reverse("shadow_detail", args=[deployment.pk]))
    assert page.status_code == 200 and b"Accuracy on labelled items" in page.content
    assert b"Stop the shadow" not in page.content  # operators look, admins act
    assert outsider_client.get(reverse("shadow_detail", args=[deployment.pk])).status_code == 403
    stop = reverse("shadow_stop", args=[deployment.pk])
    assert operator_client.post(stop).status_code == 403
    admin_client.post(stop)
    assert not ShadowDeployment.objects.get(pk=deployment.pk).is_running
    shadow.shadow_cache_clear()
    assert not shadow.shadow_observe(scenario=TOY_SCENARIO, subject="toy:99", text="x", label="pos")


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_a_real_inference_worker_scores_the_shadow_inputs(toy, settings):
    settings.CELERY_TASK_ALWAYS_EAGER = False
    active = _train({"activate": "always"})  # 24 test texts are too few for the activation policy
    candidate = _train({"activate": False, "config": {"method": "head", "seed": 5}})
    model_version_activate(version=active)
    deployment = shadow.shadow_start(candidate=candidate)
    with run_worker(queues="inference"):
        for i in range(5):
            shadow.shadow_observe(scenario=TOY_SCENARIO, subject=f"w:{i}", text=f"good win number {i}", label="pos")
        wait_for(lambda: ShadowPrediction.objects.filter(deployment=deployment, scored_at__isnull=False).count() == 5,
                 timeout=90, what="the worker to score the shadow inputs")
    assert set(ShadowPrediction.objects.values_list("candidate_label", flat=True)) <= {"pos", "neg", "neu"}
    assert all(ms > 0 for ms in ShadowPrediction.objects.values_list("candidate_ms", flat=True))
