"""Every page of every console, in a real browser, on the seeded demo plus the figures a trained
suite stores (job parameters and results, model metrics, scored documents, an alert): axe-core
finds no serious or critical accessibility violation, and the visible text shows no raw machine
value ({' , [' , None, True/False, 5+ decimals, snake_case labels). Then what issue 18 named in
particular: visible "Why?" buttons, one colour per topic and per model across charts, axes with
headroom, a week drawn per day, a jobs table that fits its card, no favicon 404.

The customer service console and the finance feeds page are held to the same standard. A
classifier's evaluation report shows its confusion matrix with labels in words and axis captions,
its counts also as a table with row and column headers.
"""
from __future__ import annotations

import io
import json
from datetime import timedelta

import numpy as np
import pytest
from django.urls import reverse
from django.utils import timezone
from playwright.sync_api import expect

from apps.core.models import Job, ModelVersion
from apps.core.services.demo import demo_content_seed
from apps.customer_service.models import Conversation, Message, Site
from apps.customer_service.serving import vector_to_bytes
from apps.finance_sentiment.models import Alert, AlertRule, Document, Topic, TrendBucket
from ml_core.timeseries import bucket_start
from tests.e2e.conftest import login
from tests.e2e.page_quality import axe_violations, console_pages, raw_values

pytestmark = [pytest.mark.e2e, pytest.mark.slow, pytest.mark.django_db(transaction=True)]

# What a trained suite stores, as the demo's workers wrote it (figures from a `make run`).
RECOMMENDER_METRICS = {
    "map": 0.2619047619047619, "ndcg@10": 0.3963644828228256, "precision@10": 0.13333333333333336,
    "recall@10": 0.6666666666666666, "coverage": 1.0, "train_s": 0.78,
    "models": {name: {"model": name, "map": 0.1 + n / 10, "ndcg@10": 0.18 + n / 10, "precision@10": 0.0666666666666667,
                      "recall@10": 0.3333333333333333, "users": 12, "coverage": 0.5625, "diversity": 1.0166120092910536,
                      "novelty": 1.9131864379039276, "train_s": 0.0}
               for n, name in enumerate(["popularity", "item_knn", "als", "content", "hybrid"])},
    "weights": {"als": 0.2562, "content": 0.6519, "item_knn": 0.014, "popularity": 0.078},
}
CLASSIFIER_METRICS = {"accuracy": 0.8333333333333334, "macro_f1": 0.7777777777777777, "ece": 0.14331413557132083,
                      "n_train": 49, "n_valid": 12, "world_size": 1, "faithfulness_p": 1.8527561707060158e-09}


@pytest.fixture
def demo_world(admin_user, operator_user):
    """The demo as seeded, with the jobs, versions, scores and alert its workers would add."""
    demo_content_seed(stdout=io.StringIO())
    now = timezone.now()
    Job.objects.all().update(state=Job.State.SUCCEEDED, progress=100, finished_at=now, message="Done",
                             metrics={"load_s": 1.234567, "texts_per_s": 8.512345},
                             result={"model_version_id": None, "version": 1, "activated": True})
    Job.objects.create(kind="core.encoder_check", title="Encoder check", state=Job.State.FAILED, finished_at=now,
                       params={"rounds": 8}, error="The encoder could not be loaded: no such folder.")
    for scenario, metrics in [("recommendation.hybrid", RECOMMENDER_METRICS),
                              ("finance_sentiment.sentiment", CLASSIFIER_METRICS),
                              ("customer_service.intent", CLASSIFIER_METRICS)]:
        ModelVersion.objects.create(scenario=scenario, version=1, artifact_path=f"{scenario}/v1", sha256="a" * 64,
                                    metrics=metrics, activation_decision="manual",
                                    activation_reason="Left to a person: the evaluation set is too small to decide.")
    # Scored documents, one of them neutral with a score that rounds to zero from below.
    topics = list(Topic.objects.filter(is_active=True))
    buckets: dict = {}
    for n, document in enumerate(Document.objects.order_by("-published_at")[:60]):
        label = ("negative", "neutral", "positive")[n % 3]
        score = {"negative": -0.8, "neutral": -0.001, "positive": 0.9}[label]
        Document.objects.filter(pk=document.pk).update(
            status=Document.Status.SCORED, sentiment=label, score=score, p_negative=0.1, p_neutral=0.8, p_positive=0.1,
            scored_at=now)
        for series in ("all", topics[n % len(topics)].series):  # the trend rows scoring would add
            for granularity in ("hour", "day"):
                key = (series, granularity, bucket_start(document.published_at, granularity))
                bucket = buckets.setdefault(key, TrendBucket(series=series, granularity=granularity, start=key[2]))
                bucket.volume += 1
                setattr(bucket, label, getattr(bucket, label) + 1)
                bucket.score_sum += score
    TrendBucket.objects.bulk_create(buckets.values())
    # A conversation the assistant answered, one question waiting for review, an operator's reply.
    conversation = Conversation.objects.create(site=Site.objects.first(), status=Conversation.Status.BOT)
    question = Message.objects.create(conversation=conversation, role=Message.Role.CUSTOMER,
                                      text="where is my parcel", intent="track_order", needs_review=True,
                                      review_reason=Message.ReviewReason.LOW_CONFIDENCE,
                                      embedding=vector_to_bytes(np.ones(8, dtype=np.float32) / np.sqrt(8)))
    Message.objects.create(conversation=conversation, role=Message.Role.ASSISTANT, reply_to=question,
                           text="You can follow your order under Order History.", intent="track_order",
                           confidence=0.4321987, source=Message.Source.TEMPLATE, entries=[],
                           alternatives=[["track_order", 0.4321987], ["get_refund", 0.31]])
    Message.objects.create(conversation=conversation, role=Message.Role.CUSTOMER, text="thanks",
                           labelled_intent="contact_human_agent")
    Alert.objects.create(rule=AlertRule.objects.first() or AlertRule.objects.create(name="Surge"),
                         topic=topics[0], series=topics[0].series, metric="negative_share", granularity="hour",
                         window_start=now - timedelta(hours=1), window_end=now, observed=0.8333333333333334,
                         expected=0.123456789, sigma=0.0456789, z=15.5, volume=12, negative=10,
                         peak_observed=0.8333333333333334, message="Negative share 83% in Earnings", last_seen_at=now)


def signed_in(page, live_server, admin_user):
    page.set_default_timeout(15_000)
    login(page, live_server, admin_user.username, "pw-alice-admin")
    expect(page.locator("h1")).to_have_text("Dashboard")
    return page


def page_problems(page, live_server, path: str, *, skip: str = "") -> list[str]:
    response = page.goto(live_server.url + path)
    assert response.status in (200, 404), (path, response.status)
    page.wait_for_load_state("networkidle")
    return [f"{path}: {p}" for p in axe_violations(page) + raw_values(page, skip=skip)]


# Every console, with what its pages may leave out of the raw-value check (nothing): every page must pass.
OWN_CONSOLES = {"dashboard": "", "jobs": "", "finance": "", "finance_feeds": "", "recommendation": "", "registry": "",
                "customer_service": "", "errors": ""}


@pytest.mark.parametrize("console", list(OWN_CONSOLES))
def test_every_page_of_the_console_is_accessible_and_shows_no_raw_value(page, live_server, admin_user, demo_world,
                                                                        console):
    signed_in(page, live_server, admin_user)
    paths = console_pages()[console]
    assert paths
    problems = []
    for path in paths:
        problems += page_problems(page, live_server, path, skip=OWN_CONSOLES[console])
    assert problems == []


def test_every_console_is_checked():
    """A console added to console_pages() is checked here too, not skipped."""
    assert set(console_pages()) == set(OWN_CONSOLES)


def test_the_confusion_matrix_names_labels_in_words_with_axis_captions(page, live_server, admin_user, demo_world,
                                                                       settings, tmp_path):
    """A classifier version's evaluation report (templates/core/_classifier_report.html): the heat
    map's labels in words, its axes captioned, its counts as a table with row and column headers."""
    from ml_core.evaluation import report_from_logits

    settings.ARTIFACTS_ROOT = str(tmp_path)
    version = ModelVersion.objects.get(scenario="customer_service.intent")
    labels = ["track_order", "cancel_order", "get_refund"]
    rng = np.random.default_rng(0)
    y_true = np.array([0, 0, 0, 1, 1, 1, 2, 2, 2, 2])
    logits = np.eye(3)[[0, 0, 1, 1, 1, 2, 2, 2, 0, 2]] * 3 + rng.normal(0, 0.1, (10, 3))
    folder = tmp_path / version.artifact_path
    folder.mkdir(parents=True)
    (folder / "classifier.json").write_text(json.dumps({"method": "head", "labels": labels, "max_length": 64}))
    (folder / "evaluation_test.json").write_text(json.dumps(report_from_logits(logits, y_true, labels)))

    signed_in(page, live_server, admin_user)
    page.goto(live_server.url + reverse("model_version_detail", args=[version.pk]))
    report = page.locator("#report-test")
    expect(report.locator(".ml-heatmap[data-ml-ready]")).to_have_count(1)
    assert page.evaluate("() => JSON.parse(document.getElementById('test-confusion').textContent).labels") == [
        "Track order", "Cancel order", "Get refund"]
    expect(report.locator(".ml-axis-x")).to_have_text("Predicted label")
    expect(report.locator(".ml-axis-y")).to_have_text("Actual label")
    report.locator(".ml-confusion-counts summary").click()
    table = report.locator("table.ml-confusion-table")
    expect(table.locator("thead th[scope=col]")).to_have_text(["Actual label", "Track order", "Cancel order",
                                                                "Get refund"])
    expect(table.locator("tbody th[scope=row]")).to_have_text(["Track order", "Cancel order", "Get refund"])
    expect(table.locator("tbody tr").nth(0).locator("td")).to_have_text(["2", "1", "0"])  # one track order confused
    assert axe_violations(page) == [] and raw_values(page) == []


def test_job_status_and_activation_verdict_show_figures_in_words(page, live_server, admin_user, demo_world):
    """The job status block (templates/core/_job_status.html) and the activation verdict
    (_activation_verdict.html): figures with labels and units, the version as a link, the stored
    values only in the admins' folded area."""
    signed_in(page, live_server, admin_user)
    job = Job.objects.filter(kind="core.train_classifier").first() or Job.objects.first()
    Job.objects.filter(pk=job.pk).update(
        metrics={"accuracy": 0.9230769230769231, "macro_f1": 0.8974358974358974, "train_seconds": 3.62,
                 "seconds_per_epoch": None, "texts_per_s": 8.512345},
        result={"model_version_id": ModelVersion.objects.get(scenario="customer_service.intent").pk, "version": 1,
                "activated": True, "activation_decision": "manual", "compared_with": None, "curves": [{"epoch": 0}],
                "activation": "Activated because the job asked for it. The policy said: 13 texts (cancel_order 1, "
                              "track_order 1)."})
    page.goto(f"{live_server.url}/jobs/{job.pk}/")
    status = page.locator("#job-status")
    expect(status.locator(".job-figures")).to_contain_text("Accuracy92.3%")
    expect(status.locator(".job-figures")).to_contain_text("Training time3.62 s")
    expect(status.locator(".job-figures")).to_contain_text("Texts per second8.51")
    expect(status.locator(".job-result a")).to_have_text("v1")
    expect(status.locator(".activation-reason")).to_contain_text("cancel order 1, track order 1")
    assert raw_values(page, within="#job-status") == []
    machine = status.locator("details.machine-values")
    machine.locator("summary").click()
    expect(machine).to_contain_text('"macro_f1": 0.8974358974358974')  # as stored, for admins
    expect(page.locator("#job-status .state")).to_have_count(1)  # the verdict's badge is not a job state


def test_why_buttons_are_visible_and_charts_keep_one_colour_per_thing(page, live_server, admin_user, demo_world):
    signed_in(page, live_server, admin_user)
    not_found = []
    page.on("response", lambda r: not_found.append(r.url) if r.status == 404 else None)

    # "Why?" on a user's recommendations reads as a link on the white card, not white on white.
    page.goto(f"{live_server.url}/recommendation/users/demo-ana/")
    why = page.get_by_role("button", name="Why?").first
    expect(why).to_be_visible()
    color = why.evaluate("(el) => getComputedStyle(el).color")
    assert color not in ("rgb(255, 255, 255)", "rgba(0, 0, 0, 0)"), color

    # Finance: a week per day, a topic keeps its colour in all three charts, room above ±1.
    page.goto(f"{live_server.url}/finance/")
    expect(page.locator("#fin-charts")).to_have_attribute("data-loaded", "true")
    charts = page.evaluate("""() => Object.fromEntries(["fin-score-chart", "fin-share-chart", "fin-volume-chart"]
        .map((id) => { const chart = Chart.getChart(id);
                       return [id, { labels: chart.data.labels.length, yMax: chart.scales.y.max, yMin: chart.scales.y.min,
                                     colors: Object.fromEntries(chart.data.datasets.map((d) => [d.key, d.backgroundColor])) }]; }))""")
    assert charts["fin-score-chart"]["labels"] == 8  # seven days and today, not 168 hours
    assert charts["fin-score-chart"]["yMax"] > 1 and charts["fin-score-chart"]["yMin"] < -1
    assert charts["fin-share-chart"]["yMax"] > 1 and charts["fin-share-chart"]["yMin"] < 0
    volume = charts["fin-volume-chart"]["colors"]
    assert len(volume) >= 2 and "all" not in volume
    for key, colour in volume.items():
        assert charts["fin-score-chart"]["colors"][key] == charts["fin-share-chart"]["colors"][key] == colour, key
    assert len(set(volume.values())) == len(volume)  # topics differ from one another

    # Recommendation: a model has the same colour in the models chart and the blend weights.
    version = ModelVersion.objects.get(scenario="recommendation.hybrid")
    page.goto(f"{live_server.url}/recommendation/versions/{version.pk}/")
    colours = page.evaluate("""() => {
      const bars = Chart.getChart("rec-models-chart"), doughnut = Chart.getChart("rec-weights-chart");
      return { bars: Object.fromEntries(bars.data.datasets.map((d) => [d.label, d.backgroundColor])),
               doughnut: Object.fromEntries(doughnut.data.labels.map((l, i) => [l, doughnut.data.datasets[0].backgroundColor[i]])) };
    }""")
    shared = set(colours["bars"]) & set(colours["doughnut"])
    assert len(shared) == 4
    assert {name: colours["bars"][name] for name in shared} == {name: colours["doughnut"][name] for name in shared}

    # The dashboard's recent jobs stay inside their card.
    page.goto(f"{live_server.url}/")
    card = page.locator(".dash-jobs")
    overflow = card.evaluate("(el) => el.querySelector('table').getBoundingClientRect().right"
                             " - el.getBoundingClientRect().right")
    assert overflow <= 0
    expect(page.locator("[data-attention=failed_jobs] .attention-count")).to_have_text("1")
    assert not_found == []  # the favicon included
