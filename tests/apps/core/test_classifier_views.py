"""Pages of classifier versions and jobs: curves, confusion heat map, per-class table, buttons."""
import json
import shutil

import pytest
from django.urls import reverse

from apps.core.models import Job, ModelVersion
from apps.core.scenarios import unregister_scenario
from apps.core.services.classifiers import TEST_REPORT_FILE
from apps.core.services.jobs import job_create
from apps.core.services.registry import BuiltArtifact, model_version_activate, model_version_create
from tests.apps.core.test_classifier_scenario import TOY_SCENARIO, register_toy_classifier, write_toy_files

pytestmark = pytest.mark.django_db


@pytest.fixture(scope="module")
def toy_artifact(tmp_path_factory, tiny_encoder_path):
    """One real training for the module (the job that runs it is tested in test_classifier_training)."""
    from ml_core.data import load_labelled
    from ml_core.evaluation import evaluate
    from ml_core.serving import ClassifierPredictor
    from ml_core.training import ClassifierConfig, train_classifier

    data = write_toy_files(tmp_path_factory.mktemp("toy"))
    folder = tmp_path_factory.mktemp("artifact") / "model"
    config = ClassifierConfig(base_model=str(tiny_encoder_path), epochs=2, batch_size=16, device="cpu",
                              max_length=32, learning_rate=1e-3, early_stopping_patience=0)
    result = train_classifier(config, load_labelled(data / "train.csv"), folder)
    report = evaluate(ClassifierPredictor.load(folder), load_labelled(data / "test.csv", min_per_class=1))
    (folder / TEST_REPORT_FILE).write_text(json.dumps(report))
    return data, folder, result


@pytest.fixture
def trained(toy_artifact, tiny_encoder_path):
    data, folder, result = toy_artifact
    register_toy_classifier(data, tiny_encoder_path)
    job = job_create(kind="core.train_classifier", scenario=TOY_SCENARIO)
    version = model_version_create(scenario=TOY_SCENARIO, job=job, build=lambda out: (
        shutil.copytree(folder, out, dirs_exist_ok=True), BuiltArtifact(metrics={"accuracy": result.metrics["accuracy"]}))[1])
    model_version_activate(version=version)
    Job.objects.filter(pk=job.pk).update(state=Job.State.SUCCEEDED, progress=100, result={
        "model_version_id": version.pk, "version": version.version, "curves": result.curves})
    job.refresh_from_db()
    yield job, ModelVersion.objects.get(pk=version.pk)
    unregister_scenario(TOY_SCENARIO)


def _json_script(html: str, element_id: str):
    start = html.index(f'<script id="{element_id}" type="application/json">') + len(
        f'<script id="{element_id}" type="application/json">')
    return json.loads(html[start: html.index("</script>", start)])


def test_model_version_page_shows_curves_heat_map_and_per_class_table(trained, operator_client):
    _job, version = trained
    response = operator_client.get(reverse("model_version_detail", args=[version.pk]))
    assert response.status_code == 200
    html = response.content.decode()
    assert "Toy sentiment v1" in html and "active" in html
    curves = _json_script(html, "version-curves-data")
    assert [c["epoch"] for c in curves] == [0, 1, 2]
    confusion = _json_script(html, "test-confusion")
    assert confusion["labels"] == ["Neg", "Neu", "Pos"] and sum(map(sum, confusion["matrix"])) == 30  # in words
    assert len(_json_script(html, "valid-reliability")) == 15
    assert html.count('data-ml-chart="confusion"') == 2  # test set and validation split
    assert "Per class" in html and "<td>Neu</td>" in html  # labels in words (issue 18)
    assert 'data-chartjs="/static/vendor/chart-4.6.1.umd.min.js"' in html and "js/ml-charts.js" in html
    # Operators see the page; only admins get an Activate button (this version is active anyway).
    assert "Activate v1" not in html


def test_inactive_version_offers_activation_to_admins_only(trained, admin_client, operator_client):
    _, version = trained
    ModelVersion.objects.filter(pk=version.pk).update(is_active=False)
    url = reverse("model_version_detail", args=[version.pk])
    assert "Activate v1" in admin_client.get(url).content.decode()
    assert "Activate v1" not in operator_client.get(url).content.decode()


def test_page_of_a_version_that_is_not_a_classifier(operator_client):
    version = model_version_create(scenario="tests.other", build=lambda folder: (
        (folder / "w.txt").write_text("x"), BuiltArtifact(metrics={"ndcg@10": 0.3}))[1])
    html = operator_client.get(reverse("model_version_detail", args=[version.pk])).content.decode()
    assert "not a text classifier" in html and "ndcg@10" in html


def test_outsiders_and_anonymous_users_are_refused(trained, outsider_client, client):
    job, version = trained
    for url in (reverse("model_version_detail", args=[version.pk]), reverse("job_curves", args=[job.pk])):
        assert outsider_client.get(url).status_code == 403
        assert client.get(url).status_code == 302  # to the login page


def test_job_page_charts_curves_and_links_the_version(trained, operator_client):
    job, version = trained
    html = operator_client.get(reverse("job_detail", args=[job.pk])).content.decode()
    assert [c["epoch"] for c in _json_script(html, "job-curves-data")] == [0, 1, 2]
    assert reverse("model_version_detail", args=[version.pk]) in html
    assert f'data-poll="{reverse("job_curves", args=[job.pk])}"' in html
    assert "<th>curves</th>" not in html  # charted, not dumped in the result table
    payload = operator_client.get(reverse("job_curves", args=[job.pk])).json()
    assert payload["finished"] is True and len(payload["curves"]) == 3 and payload["trials"] == []


def test_registry_links_versions_and_offers_training_to_admins(trained, admin_client, operator_client):
    _, version = trained
    html = admin_client.get(reverse("registry")).content.decode()
    assert reverse("model_version_detail", args=[version.pk]) in html
    assert reverse("classifier_train_start", args=[TOY_SCENARIO]) in html
    assert reverse("classifier_tune_start", args=[TOY_SCENARIO]) in html
    assert reverse("classifier_train_start", args=[TOY_SCENARIO]) not in operator_client.get(
        reverse("registry")).content.decode()


def test_admin_starts_training_and_tuning_jobs(trained, csrf_admin_client, operator_client):
    client = csrf_admin_client
    page = client.get(reverse("registry"))
    token = page.cookies["csrftoken"].value
    response = client.post(reverse("classifier_train_start", args=[TOY_SCENARIO]), {"csrfmiddlewaretoken": token})
    job = Job.objects.filter(kind="core.train_classifier", state=Job.State.QUEUED).get()
    assert response.status_code == 302 and response.url == reverse("job_detail", args=[job.pk])
    response = client.post(reverse("classifier_tune_start", args=[TOY_SCENARIO]), {"csrfmiddlewaretoken": token})
    assert Job.objects.filter(kind="core.tune_classifier", scenario=TOY_SCENARIO, params__trials=6).exists()
    # No token: refused. Operators: refused. Unknown scenario: a message, no job.
    assert client.post(reverse("classifier_train_start", args=[TOY_SCENARIO])).status_code == 403
    assert operator_client.post(reverse("classifier_train_start", args=[TOY_SCENARIO])).status_code == 403
    response = client.post(reverse("classifier_train_start", args=["nope.none"]), {"csrfmiddlewaretoken": token},
                           follow=True)
    assert "unknown scenario &#x27;nope.none&#x27;" in response.content.decode()


def test_admin_back_office_retrain_action_runs_the_classifier_job(trained, admin_client):
    response = admin_client.post(reverse("admin:core_modelversion_retrain"), {"scenario": TOY_SCENARIO})
    job = Job.objects.filter(kind="core.train_classifier", state=Job.State.QUEUED).get()
    assert response.status_code == 302 and response.url == reverse("job_detail", args=[job.pk])
    assert job.scenario == TOY_SCENARIO


def test_tuning_job_page_shows_trials(operator_client):
    job = job_create(kind="core.tune_classifier", scenario=TOY_SCENARIO)
    Job.objects.filter(pk=job.pk).update(result={"trials": [
        {"number": 0, "state": "complete", "config": {"method": "full", "learning_rate": 3e-5, "epochs": 2},
         "metrics": {"accuracy": 0.9, "macro_f1": 0.88}, "seconds": 12.5}]})
    html = operator_client.get(reverse("job_detail", args=[job.pk])).content.decode()
    assert _json_script(html, "job-trials-data")[0]["metrics"]["macro_f1"] == 0.88
    assert "3.00e-05" in html and "<th>trials</th>" not in html
