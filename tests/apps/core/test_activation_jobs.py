"""The activation policy and the preconditions where people meet them: training jobs of a real
(tiny) classifier, the job and version pages, starts refused from a page, the back office and the
API, and failed jobs that show people the reason and keep the traceback for admins."""
from __future__ import annotations

import csv

import pytest
from django.urls import reverse

from apps.core.models import Job, ModelVersion
from apps.core.scenarios import unregister_scenario
from apps.core.services.classifiers import classifier_training_start, classifier_tuning_start
from apps.core.services.jobs import job_run
from apps.core.tasks import train_classifier_job
from ml_core.errors import UserError
from tests.apps.core.test_classifier_scenario import TOY_SCENARIO, register_toy_classifier, write_toy_files

pytestmark = pytest.mark.django_db
HEAD = {"config": {"method": "head"}}  # seconds on a CPU; the policy is the same for every method


@pytest.fixture
def toy(tmp_path, tiny_encoder_path):
    def register(n_test: int, **overrides):
        folder = write_toy_files(tmp_path / f"toy-{n_test}", n_test=n_test)
        register_toy_classifier(folder, tiny_encoder_path, **overrides)
        return folder

    yield register
    unregister_scenario(TOY_SCENARIO)


def _train(params=None) -> Job:
    job = classifier_training_start(scenario=TOY_SCENARIO, params={**HEAD, **(params or {})})
    job = job_run(job_id=job.pk, work=train_classifier_job.work, worker="test")
    assert job.state == Job.State.SUCCEEDED, job.error
    return job


def test_a_good_candidate_on_a_large_enough_set_is_activated(toy, admin_client, operator_client):
    toy(n_test=240)  # 80 test texts of each label
    first = _train()
    assert first.result["activated"] is True
    assert first.result["activation"].startswith("Activated: no version was active; evaluated on 240 texts")
    second = _train()
    assert second.result["activated"] is True and second.result["compared_with"] == "v1"
    assert second.result["activation"].startswith("Activated: shown no worse than the active v1 on the same 240 "
                                                  "texts: accuracy")
    v2 = ModelVersion.objects.get(scenario=TOY_SCENARIO, version=2)
    assert v2.is_active and v2.activation_decision == "activate"
    assert [c["name"] for c in v2.activation_evidence["checks"]] == [
        "evaluation_size", "paired_comparison", "prediction_collapse", "temperature", "saturated_probabilities",
        "label_shift"]

    job_page = operator_client.get(reverse("job_detail", args=[second.pk])).content.decode()
    assert "<h2>Activation</h2>" in job_page and "shown no worse than the active v1 on the same 240 texts" in job_page
    version_page = operator_client.get(reverse("model_version_detail", args=[v2.pk])).content.decode()
    assert 'id="activation-policy"' in version_page and 'data-check="paired_comparison"' in version_page
    assert "interval above -2.0 points (ACTIVATION_MARGIN)" in version_page


def test_a_first_version_judged_on_six_texts_is_left_to_a_person(toy, admin_client):
    toy(n_test=6)
    job = _train()
    assert job.result["activated"] is False and job.result["activation_decision"] == "manual"
    assert job.result["activation"].startswith("Left to a person: the evaluation set is too small to decide: 6 texts")
    assert "not activated: left to a person" in job.message
    assert not ModelVersion.objects.filter(scenario=TOY_SCENARIO, is_active=True).exists()
    page = admin_client.get(reverse("job_detail", args=[job.pk])).content.decode()
    assert "the evaluation set is too small to decide: 6 texts (neg 2, neu 2, pos 2)" in page


def test_training_a_model_that_learnt_one_label_is_refused_naming_the_check(toy, tmp_path, settings):
    """Texts that say nothing about their label, 97 % of them 'pos': the model answers 'pos'."""
    settings.ACTIVATION_MIN_EVAL_PER_CLASS = 10
    folder = toy(n_test=30)
    with open(folder / "noise.csv", "w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["text", "label"])
        for i in range(200):
            writer.writerow([f"quarterly note number {i}", "pos" if i % 33 else ("neg" if i % 66 else "neu")])
    job = _train({"train_file": "noise.csv"})
    assert job.result["activated"] is False and job.result["activation_decision"] == "refuse"
    assert "Prediction collapse check failed: it predicts 'pos' for" in job.result["activation"]
    version = ModelVersion.objects.get(pk=job.result["model_version_id"])
    collapse = next(c for c in version.activation_evidence["checks"] if c["name"] == "prediction_collapse")
    assert collapse["passed"] is False and "(ACTIVATION_MAX_TOP_LABEL_SHARE)" in collapse["threshold"]


# --- preconditions: a start that could only fail is refused --------------------------------------------
def test_the_topic_classifier_with_no_labelled_documents_is_refused_everywhere(admin_client):
    topics = "finance_sentiment.topics"
    with pytest.raises(UserError, match="Not started: 0 labelled documents; a topic classifier needs at least 20"):
        classifier_training_start(scenario=topics)
    with pytest.raises(UserError, match="Not started: 0 labelled documents"):
        classifier_tuning_start(scenario=topics)

    page = admin_client.post(reverse("classifier_train_start", args=[topics]), follow=True)  # the registry page
    assert page.status_code == 200 and "Not started: 0 labelled documents" in page.content.decode()
    back_office = admin_client.post(reverse("admin:core_modelversion_retrain"), {"scenario": topics}, follow=True)
    assert back_office.status_code == 200
    assert "Finance sentiment: topic classifier: Not started: 0 labelled documents" in back_office.content.decode()
    assert not Job.objects.exists()


def test_the_registry_greys_out_a_training_that_could_only_fail(admin_client):
    page = admin_client.get(reverse("registry")).content.decode()
    section = page[page.index("Finance sentiment: topic classifier"):]
    assert 'class="small" disabled aria-describedby="refusal-' in section.split("</section>")[0]
    assert "Not yet: 0 labelled documents; a topic classifier needs at least 20" in section


def test_the_intent_classifier_needs_two_intents_with_three_questions(admin_client):
    from apps.customer_service.services.kb import EntryFields, kb_entry_create
    from apps.customer_service.services.training import intent_retrain_start, intent_training_readiness

    response = admin_client.post("/customer-service/retrain/", follow=True)
    assert ("Not started: the knowledge base needs at least two intents with 3 example questions each to train the "
            "intent classifier; it has 0") in response.content.decode()
    assert not Job.objects.exists()
    for intent in ("track_order", "get_refund"):
        kb_entry_create(fields=EntryFields.clean(title=intent, answer="An answer.", intent=intent),
                        questions=[f"{intent} question {i}" for i in range(3)], embed=False)
    assert intent_training_readiness({}) == ""
    assert intent_retrain_start().kind == "core.train_classifier"


def test_the_sentiment_model_with_too_few_labelled_sentences_is_refused(admin_client):
    from apps.finance_sentiment.models import LabelledExample, LabelledSet

    labelled = LabelledSet.objects.create(name="tiny", file_name="tiny.csv", size=3)
    LabelledExample.objects.bulk_create([LabelledExample(labelled_set=labelled, text=f"t{i}", label=label)
                                         for i, label in enumerate(["negative", "neutral", "positive"])])
    response = admin_client.post(reverse("finance_sentiment:retrain", args=["sentiment"]),
                                 {"method": "head", "epochs": 1}, follow=True)
    assert ("Not started: the labelled sentences are 1 negative, 1 neutral, 1 positive; the model needs at least 4 "
            "of each") in response.content.decode()
    assert not Job.objects.exists()


def test_the_recommender_with_no_interactions_is_refused_by_the_api_the_page_and_the_admin(admin_client):
    response = admin_client.post("/api/v1/recommendation/retrain/")
    assert response.status_code == 400
    assert response.json() == {"detail": "Not started: there are no interactions to learn from: import some "
                                         "(import_movielens) or post events"}
    page = admin_client.post(reverse("recommendation:retrain"), follow=True)
    assert "Not started: there are no interactions to learn from" in page.content.decode()
    from apps.recommendation.models import Item

    item = Item.objects.create(external_id="film-1", title="A film")
    action = admin_client.post(reverse("admin:recommendation_item_changelist"),
                               {"action": "retrain_recommender", "_selected_action": [item.pk]}, follow=True)
    assert "Not started: there are no interactions to learn from" in action.content.decode()
    assert not Job.objects.filter(kind="recommendation.train_recommender").exists()


# --- failed jobs: the reason for people, the traceback for admins ---------------------------------------
def test_a_failed_job_keeps_its_traceback_once(toy, admin_client):
    folder = toy(n_test=6)
    (folder / "bad.csv").write_text("text,label\ngreat,pos\n,neg\n")
    job = classifier_training_start(scenario=TOY_SCENARIO, params={**HEAD, "train_file": "bad.csv"})
    job = job_run(job_id=job.pk, work=train_classifier_job.work, worker="test")
    assert job.state == Job.State.FAILED and job.error.startswith("DataError: ")
    assert job.log_tail.count("Traceback (most recent call last)") == 1 and "job_run" in job.log_tail



TRACEBACK = 'Traceback (most recent call last):\n  File "/srv/app/apps/core/services/jobs.py", line 9, in job_run\n'


@pytest.fixture
def failed_job() -> Job:
    return Job.objects.create(kind="core.train_classifier", title="Train topics", state=Job.State.FAILED,
                              error="DataError: 0 labelled documents; a topic classifier needs at least 20",
                              message="DataError: 0 labelled documents", log_tail=f"12:00:01 INFO started\n{TRACEBACK}")


def test_a_non_admin_never_sees_a_traceback(failed_job, operator_client, admin_client):
    url = reverse("job_detail", args=[failed_job.pk])
    for page in (operator_client.get(url), operator_client.get(url, HTTP_HX_REQUEST="true")):
        html = page.content.decode()
        assert "0 labelled documents; a topic classifier needs at least 20" in html and "Why it failed" in html
        assert "Traceback" not in html and "/srv/app" not in html
    back_office = operator_client.get(reverse("admin:core_job_change", args=[failed_job.pk])).content.decode()
    assert "Traceback" not in back_office and "0 labelled documents" in back_office

    html = admin_client.get(url).content.decode()
    assert '<details class="job-log"><summary>Log and traceback (admins)</summary>' in html
    assert html.count("Traceback (most recent call last)") == 1
    assert "Traceback" in admin_client.get(reverse("admin:core_job_change", args=[failed_job.pk])).content.decode()
