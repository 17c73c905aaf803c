"""The banner of pages whose data waits for a first model (issue 17): what it says in each state,
its htmx polling endpoint, and the pages that show it."""
import pytest
from django.urls import reverse

from apps.core.models import Job, ModelVersion
from apps.core.selectors import model_wait
from apps.core.services.jobs import JobOutcome, job_claim, job_create, job_fail, job_succeed

pytestmark = pytest.mark.django_db

SENTIMENT = "finance_sentiment.sentiment"
WAITING = f"/models/{SENTIMENT}/waiting/"


def _training(scenario: str = SENTIMENT, *, state: str = "queued", title: str = "Train the sentiment model") -> Job:
    job = job_create(kind="core.train_classifier", title=title, scenario=scenario)
    if state != "queued":
        job_claim(job_id=job.pk, worker="test")
        Job.objects.filter(pk=job.pk).update(progress=40, message="fitting the logistic-regression head")
    if state == "failed":
        job_fail(job_id=job.pk, error="the training data has no neutral examples")
    if state == "succeeded":
        job_succeed(job_id=job.pk, outcome=JobOutcome(message="done"))
    job.refresh_from_db()
    return job


def _version(scenario: str = SENTIMENT, *, active: bool, reason: str = "") -> ModelVersion:
    number = ModelVersion.objects.filter(scenario=scenario).count() + 1
    return ModelVersion.objects.create(scenario=scenario, version=number, artifact_path="x", sha256="0" * 64,
                                       is_active=active, activation_decision="manual" if reason else "",
                                       activation_reason=reason)


def test_nothing_waits_once_a_version_is_active():
    _version(active=True)
    _training()  # a retraining: the page has its data meanwhile
    assert model_wait(scenario=SENTIMENT) is None


def test_a_queued_or_running_first_training_is_what_the_page_waits_for():
    job = _training(state="running")
    wait = model_wait(scenario=SENTIMENT)
    assert (wait.state, wait.job, wait.polls) == ("training", job, True)
    assert model_wait(scenario="customer_service.intent").state == "no_model"


def test_a_queued_training_says_what_the_training_worker_is_busy_with():
    busy = _training("customer_service.intent", state="running", title="Train the intent model")
    queued = _training()
    wait = model_wait(scenario=SENTIMENT)
    assert (wait.state, wait.job, wait.ahead) == ("training", queued, busy)


def test_a_failed_first_training_and_a_version_left_inactive_say_why():
    job = _training(state="failed")
    wait = model_wait(scenario=SENTIMENT)
    assert (wait.state, wait.job, wait.polls) == ("failed", job, False)
    _training(state="succeeded")
    version = _version(active=False, reason="Left to a person: the evaluation set is too small to decide")
    wait = model_wait(scenario=SENTIMENT)
    assert (wait.state, wait.version) == ("not_activated", version)


def test_with_a_model_the_page_waits_only_for_the_work_it_names():
    _version(active=True)
    scoring = job_create(kind="finance_sentiment.score_batch", title="Score documents left pending", scenario=SENTIMENT)
    assert model_wait(scenario=SENTIMENT) is None
    wait = model_wait(scenario=SENTIMENT, kinds=("finance_sentiment.score_batch",))
    assert (wait.state, wait.job) == ("work", scoring)


def test_the_endpoint_polls_while_the_training_runs(operator_client):
    job = _training(state="running")
    response = operator_client.get(WAITING, HTTP_HX_REQUEST="true")
    page = response.content.decode()
    assert response.status_code == 200 and "HX-Refresh" not in response
    assert f'hx-get="{WAITING}"' in page and 'hx-trigger="every 2s"' in page
    assert "Waiting for a first model" in page and job.title in page and "fitting the logistic-regression head" in page
    assert 'aria-valuenow="40"' in page


def test_the_endpoint_reloads_the_page_when_the_wait_is_over(operator_client):
    _version(active=True)
    response = operator_client.get(WAITING + "?kinds=finance_sentiment.score_batch", HTTP_HX_REQUEST="true")
    assert response.status_code == 200 and response["HX-Refresh"] == "true"
    assert "hx-get" not in response.content.decode()  # in case the reload does not happen: no more polling


def test_the_endpoint_refuses_bad_input_and_strangers(operator_client, outsider_client, client):
    assert operator_client.get("/models/no.such/waiting/").status_code == 404
    response = operator_client.get(WAITING + "?kinds=finance_sentiment.score_batch,<script>")
    assert response.status_code == 400 and b"is not a job kind" in response.content
    assert operator_client.get(WAITING + "?kinds=" + ",".join(f"a.b{n}" for n in range(6))).status_code == 400
    assert outsider_client.get(WAITING).status_code == 403
    assert client.get(WAITING).status_code == 302


@pytest.mark.parametrize("url, scenario", [
    ("/finance/", SENTIMENT), ("/finance/documents/", SENTIMENT),
    ("/recommendation/", "recommendation.hybrid"),
])
def test_the_pages_show_the_banner_while_they_wait_and_not_after(operator_client, url, scenario):
    _training(scenario, state="running")
    page = operator_client.get(url).content.decode()
    assert f'data-model-wait="{scenario}"' in page and "Waiting for a first model" in page
    Job.objects.all().delete()
    _version(scenario, active=True)
    assert "data-model-wait" not in operator_client.get(url).content.decode()


def test_the_chat_page_shows_the_banner_until_the_intent_model_is_active(operator_client):
    from apps.customer_service.models import Site

    site = Site.objects.create(name="Shop", allowed_origins="http://testserver")
    url = reverse("customer_service:site_try", args=[site.pk])
    page = operator_client.get(url).content.decode()
    assert 'data-model-wait="customer_service.intent"' in page and "knowledge-base search" in page
    _version("customer_service.intent", active=True)
    assert "data-model-wait" not in operator_client.get(url).content.decode()
