"""The demo content: topics, watchlist, a rule, two labelled sets, a queued first training and a week
of news; seeding twice changes nothing. The slow test runs the demo's first model and its scoring
as the workers would: the activation policy activates the model on the evaluation set (not on a
request to activate) and the seeded surge opens an alert."""
from datetime import UTC, datetime
from io import StringIO

import pytest
from celery import current_app

from apps.core.models import Job, ModelVersion
from apps.core.services.jobs import job_run
from apps.finance_sentiment.demo import TOPICS, demo_stream, seed_demo_content
from apps.finance_sentiment.demo_sentences import (
    EVALUATION_SENTENCES,
    TRAINING_TEMPLATES,
    demo_training_sentences,
)
from apps.finance_sentiment.models import (
    Alert,
    AlertRule,
    Document,
    LabelledExample,
    LabelledSet,
    Ticker,
    Topic,
)

pytestmark = pytest.mark.django_db


def test_the_demo_seeds_once():
    out = StringIO()
    seed_demo_content(stdout=out)
    assert Topic.objects.count() == len(TOPICS) and Ticker.objects.count() == 5 and AlertRule.objects.count() == 1
    training = LabelledSet.objects.get(role=LabelledSet.Role.TRAIN)
    evaluation = LabelledSet.objects.get(role=LabelledSet.Role.TEST)
    assert training.size >= 300 and evaluation.size == sum(map(len, EVALUATION_SENTENCES.values()))
    job = Job.objects.get(kind="core.train_classifier")
    # No `activate` request: the activation policy decides, as for any version.
    assert job.scenario == "finance_sentiment.sentiment" and job.params == {"config": {"method": "head", "calibrate": False}}
    documents = Document.objects.count()
    assert documents >= 900  # templated news: a few repeat a date and are dropped as duplicates
    assert Document.objects.filter(text__contains="redundancies").count() > 0
    seed_demo_content(stdout=StringIO())
    assert Document.objects.count() == documents and Job.objects.filter(kind="core.train_classifier").count() == 1
    assert LabelledSet.objects.count() == 2
    # No model is active yet: no scoring job that could only fail; the documents wait for beat's sweep.
    assert "demo documents wait for the first model" in out.getvalue()
    assert not Job.objects.filter(kind="finance_sentiment.score_batch").exists()
    assert Document.objects.filter(status=Document.Status.PENDING).count() == documents


def test_the_demo_sentences_are_balanced_separate_and_enough_for_the_policy(settings):
    training = demo_training_sentences()
    assert set(training) == set(EVALUATION_SENTENCES) == set(TRAINING_TEMPLATES) == {"negative", "neutral", "positive"}
    assert {len(texts) for texts in training.values()} == {150}
    assert all(len(set(texts)) == len(texts) for texts in training.values())
    assert min(len(texts) for texts in EVALUATION_SENTENCES.values()) >= settings.ACTIVATION_MIN_EVAL_PER_CLASS
    written = {text for texts in EVALUATION_SENTENCES.values() for text in texts}
    assert not written & {text for texts in training.values() for text in texts}
    assert demo_training_sentences() == training  # deterministic


def test_the_surge_is_where_the_rule_looks():
    """The last hours bring mostly negative earnings news: the earnings topic's mix changes."""
    items = demo_stream(now=datetime(2025, 3, 3, 12, tzinfo=UTC))
    earnings = ("profit", "earnings", "revenue", "net sales", "guidance")
    last, before = items[-40:], items[:-40]

    def negative_share(rows):
        about = [r["text"] for r in rows if any(word in r["text"] for word in earnings)]
        bad = [t for t in about if any(w in t for w in ("fell", "cut", "slumped", "dropped", "warning", "loss"))]
        return len(bad) / len(about), len(about)

    share_before, _ = negative_share(before)
    share_last, volume_last = negative_share(last)
    assert share_before < 0.35 and share_last > 0.7 and volume_last >= 20


def _run_queued(**filters) -> list[Job]:
    """Run the queued jobs in this process, as a worker would (it registers every app's tasks at start)."""
    current_app.loader.import_default_modules()  # autodiscover_tasks(); alone, this file had no task registered
    ran = []
    for job in Job.objects.filter(state=Job.State.QUEUED, **filters).order_by("created_at"):
        job_run(job_id=job.pk, work=current_app.tasks[job.kind].work, worker="test")
        job.refresh_from_db()
        ran.append(job)
    return ran


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)  # the job's heartbeat thread writes too
def test_the_demo_model_goes_live_by_the_policy_and_the_surge_opens_an_alert(settings):
    settings.ML_FAITHFULNESS_EXAMPLES = 6
    seed_demo_content(stdout=StringIO())
    (training,) = _run_queued(kind="core.train_classifier")
    assert training.state == Job.State.SUCCEEDED, training.error
    version = ModelVersion.objects.get(scenario="finance_sentiment.sentiment")
    assert version.is_active and version.activation_decision == "activate", version.activation_reason
    assert "Demo evaluation sentences" not in version.activation_reason  # said as "the test set"
    assert "the test set" in version.activation_reason or "test set" in str(version.activation_evidence)
    evidence = version.activation_evidence
    assert all(check["passed"] is not False for check in evidence["checks"])
    assert version.metrics["test_accuracy"] >= 0.8, version.metrics

    from apps.finance_sentiment.serving import reset_caches
    from apps.finance_sentiment.tasks import score_pending

    reset_caches()
    # The activation queued the scoring of what waited for the model; beat's sweep finds it running.
    assert Job.objects.filter(kind="finance_sentiment.score_batch", params__pending=True).count() == 1
    assert score_pending() is None
    (scoring,) = _run_queued(kind="finance_sentiment.score_batch")
    assert scoring.state == Job.State.SUCCEEDED, scoring.error
    assert not Document.objects.filter(status=Document.Status.PENDING).exists()
    earnings = Topic.objects.get(slug="earnings-and-results")
    alert = Alert.objects.get(state=Alert.State.OPEN, topic=earnings)
    assert alert.observed > alert.expected + 0.3 and alert.z >= 3, alert.message
    assert LabelledExample.objects.filter(labelled_set__role=LabelledSet.Role.TEST).count() == 90
