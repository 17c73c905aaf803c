"""Robustness in the app: the evaluation job stores its report with the version and the page
shows it; the retrain form turns augmentation / few-label / adversarial choices into the job's
config. In-process through job_run, on a tiny encoder."""
import pytest
import torch

from apps.core.admin import RetrainForm
from apps.core.models import Job, ModelVersion
from apps.core.scenarios import unregister_scenario
from apps.core.services.classifiers import classifier_training_start
from apps.core.services.jobs import job_run
from apps.core.services.robustness import robustness_evaluation_start, training_plugins_from_form
from apps.core.tasking import routed_queue
from apps.core.tasks import evaluate_robustness_job, train_classifier_job
from ml_core.errors import UserError
from tests.apps.core.test_classifier_scenario import TOY_SCENARIO, register_toy_classifier, write_toy_files

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def one_torch_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny models; threads only spin on a shared CPU
    yield
    torch.set_num_threads(before)


@pytest.fixture
def toy_version(tmp_path, tiny_encoder_path):
    register_toy_classifier(write_toy_files(tmp_path / "toy"), tiny_encoder_path)
    # The toy's 30 test texts are too few for the activation policy: the test activates it itself.
    job = classifier_training_start(scenario=TOY_SCENARIO, params={"config": {"method": "head"}, "activate": "always"})
    assert job_run(job_id=job.pk, work=train_classifier_job.work, worker="test").state == Job.State.SUCCEEDED
    yield ModelVersion.objects.get(scenario=TOY_SCENARIO)
    unregister_scenario(TOY_SCENARIO)


def test_robustness_job_stores_the_report_with_the_version(toy_version, admin_user):
    job = robustness_evaluation_start(version=toy_version, created_by=admin_user,
                                      params={"attack_examples": 12, "sentence_similarity": 0.5})
    assert job.kind == "core.evaluate_robustness" and routed_queue(job.kind) == "training"
    job = job_run(job_id=job.pk, work=evaluate_robustness_job.work, worker="test")
    assert job.state == Job.State.SUCCEEDED, job.error
    toy_version.refresh_from_db()
    report = toy_version.metrics["robustness"]
    assert report["data"] == "test set" and report["n"] == 30 and report["job_id"] == str(job.pk)
    assert report["attack"]["n"] == 12 and 0 <= report["attack"]["attack_success_rate"] <= 1
    assert set(report["perturbations"]) == {"char_noise", "typo", "word_dropout", "word_swap", "synonym"}
    assert toy_version.metrics["accuracy"] > 0  # the training figures are kept beside it
    assert job.metrics["clean_accuracy"] == report["clean_accuracy"]
    assert "under attack" in job.message


def test_the_page_shows_the_report_and_admins_can_start_it(toy_version, admin_client, operator_client):
    page = admin_client.get(f"/models/{toy_version.pk}/")
    assert b"Evaluate robustness" in page.content and b"Not evaluated yet" in page.content
    assert operator_client.post(f"/models/{toy_version.pk}/robustness/").status_code == 403
    response = admin_client.post(f"/models/{toy_version.pk}/robustness/")
    job = Job.objects.get(kind="core.evaluate_robustness")
    assert response.status_code == 302 and response["Location"] == f"/jobs/{job.pk}/"
    job_run(job_id=job.pk, work=evaluate_robustness_job.work, worker="test")
    page = operator_client.get(f"/models/{toy_version.pk}/").content.decode()
    assert "Word-substitution attack" in page and "Attack success rate" in page
    assert 'id="robustness-data"' in page and "Evaluate robustness" not in page  # operators only read


def test_retrain_form_builds_the_plugins_and_rejects_bad_choices(toy_version):
    form = RetrainForm({"scenario": TOY_SCENARIO, "augment": ["eda", "typo"], "few_shot_k": "10",
                        "adversarial": "pgd", "adversarial_epsilon": "0.3"})
    assert form.is_valid(), form.errors
    assert form.cleaned_data["plugins"] == {"augmentation": {"ops": ["eda", "typo"], "few_shot_k": 10},
                                            "adversarial": {"method": "pgd", "epsilon": 0.3}}
    plain = RetrainForm({"scenario": TOY_SCENARIO})
    assert plain.is_valid() and plain.cleaned_data["plugins"] == {}
    unavailable = RetrainForm({"scenario": TOY_SCENARIO, "augment": ["backtranslation"]})
    assert not unavailable.is_valid()
    assert "back-translation is unavailable" in str(unavailable.errors)


def test_admin_retrain_view_passes_the_options_to_the_job(toy_version, admin_client):
    response = admin_client.post("/admin/core/modelversion/retrain/", {
        "scenario": TOY_SCENARIO, "augment": ["word_swap"], "adversarial": "fgm", "adversarial_epsilon": "0.5"})
    assert response.status_code == 302
    job = Job.objects.filter(kind="core.train_classifier").order_by("-created_at").first()
    assert job.params == {"config": {"plugins": {"augmentation": {"ops": ["word_swap"]},
                                                 "adversarial": {"method": "fgm", "epsilon": 0.5}}}}


def test_unknown_options_are_clear_errors():
    with pytest.raises(UserError, match="unknown augmentation 'telepathy'"):
        training_plugins_from_form(augment=["telepathy"])
    with pytest.raises(UserError, match="adversarial method must be one of fgm, pgd"):
        training_plugins_from_form(adversarial="freelb")
