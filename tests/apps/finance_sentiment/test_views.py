"""The console: who may see and do what (operator, admin, a user with no role; CSRF on forms),
and what the pages show."""
import hashlib
import re

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from apps.core.models import ApiKey, AuditEvent, Job
from apps.core.services.api_keys import api_key_create
from apps.finance_sentiment.models import AlertRule, Document, LabelledSet, Topic
from apps.finance_sentiment.services.ingestion import documents_ingest
from apps.finance_sentiment.services.training import sentiment_training_data

from .conftest import at, run_job, sentence

pytestmark = pytest.mark.django_db

OPERATOR_PAGES = ["/finance/", "/finance/documents/", "/finance/alerts/", "/finance/topics/", "/finance/rules/",
                  "/finance/watchlist/", "/finance/feeds/", "/finance/upload/", "/finance/charts.json"]


def test_who_sees_what(client, operator_client, admin_client, outsider_client):
    for url in OPERATOR_PAGES:
        assert client.get(url).status_code == 302, url  # to the login page
        assert outsider_client.get(url).status_code == 403, url
        assert operator_client.get(url).status_code == 200, url
    assert operator_client.get("/finance/models/").status_code == 403
    assert admin_client.get("/finance/models/").status_code == 200
    for url in ["/finance/models/rescore/", "/finance/models/retrain/sentiment/", "/finance/models/keys/"]:
        assert operator_client.post(url).status_code == 403, url
    assert outsider_client.post("/finance/topics/", {"name": "x"}).status_code == 403


def test_forms_need_the_csrf_token(csrf_admin_client):
    data = {"name": "Layoffs", "keywords_text": "layoffs, job cuts", "examples_text": "The group will cut 300 jobs.",
            "threshold": "0.45", "is_active": "on"}
    assert csrf_admin_client.post("/finance/topics/", data).status_code == 403
    page = csrf_admin_client.get("/finance/topics/")
    token = page.context["csrf_token"]
    response = csrf_admin_client.post("/finance/topics/", {**data, "csrfmiddlewaretoken": str(token)})
    assert response.status_code == 302
    topic = Topic.objects.get()
    assert (topic.slug, topic.keywords, topic.examples) == ("layoffs", ["layoffs", "job cuts"],
                                                            ["The group will cut 300 jobs."])
    assert AuditEvent.objects.filter(action="rule.change", target="topic Layoffs").exists()


def test_topic_and_rule_forms_say_what_is_wrong(operator_client, topic):
    response = operator_client.post("/finance/topics/", {"name": "Empty", "threshold": "0.4"})
    assert b"Give at least one keyword or example sentence" in response.content
    response = operator_client.post("/finance/topics/", {"name": "earnings!", "keywords_text": "x", "threshold": "0.4"})
    assert b"Too close to the existing topic" in response.content
    response = operator_client.post(f"/finance/topics/{topic.pk}/", {
        "name": "Earnings", "keywords_text": "profit", "examples_text": "", "threshold": "0.55", "is_active": "on"})
    assert response.status_code == 302
    assert AuditEvent.objects.get(action="threshold.change").details == {"threshold": [0.0, 0.55]}

    rule = {"name": "Surge", "topic": topic.pk, "metric": "negative_share", "granularity": "hour", "baseline": "ewma",
            "window": "48", "z_threshold": "3", "min_volume": "10", "min_increase": "15", "min_history": "6",
            "email_recipients": "desk@example.com; not-an-address", "is_active": "on"}
    response = operator_client.post("/finance/rules/", rule)
    assert b"&#x27;not-an-address&#x27; is not an e-mail address" in response.content
    assert b"0.15 means 15 points" in response.content
    response = operator_client.post("/finance/rules/", {**rule, "email_recipients": "desk@example.com",
                                                        "min_increase": "0.15"})
    assert response.status_code == 302
    saved = AlertRule.objects.get()
    assert saved.recipients == ["desk@example.com"] and saved.created_by.username == "oscar-operator"
    assert operator_client.get("/finance/rules/").content.count(b"Surge") >= 1
    assert operator_client.post(f"/finance/rules/{saved.pk}/delete/").status_code == 302
    assert not AlertRule.objects.exists()


def test_dashboard_feed_and_document_page(operator_client, sentiment_model, topic):
    result = documents_ingest(items=[
        {"text": sentence("negative", 1), "title": "Lender slumps", "published_at": at(0, 9).isoformat(),
         "source": "Wire", "tickers": ["ABC"]},
        {"text": sentence("positive", 2), "published_at": at(0, 10).isoformat(), "source": "Blog"},
    ], origin="api")
    run_job(result.batch.job)
    page = operator_client.get("/finance/").content.decode()
    assert "Lender slumps" in page and "fin-score-chart" in page and "No sentiment model is serving" not in page
    rows = operator_client.get("/finance/documents/?sentiment=negative", HTTP_HX_REQUEST="true").content.decode()
    assert "Lender slumps" in rows and "<html" not in rows and "number 2" not in rows
    assert "Lender slumps" not in operator_client.get("/finance/documents/?source=Blog").content.decode()
    assert "is not one of" in operator_client.get("/finance/documents/?sentiment=angry").content.decode()

    document = Document.objects.get(title="Lender slumps")
    detail = operator_client.get(f"/finance/documents/{document.pk}/").content.decode()
    assert "the sentiment model v1" in detail and 'id="explanation"' in detail and "ABC" in detail
    assert re.search(r"negative\s+-[01]\.\d\d", detail)
    response = operator_client.post(f"/finance/documents/{document.pk}/label/", {"label": "neutral", "topic": "none"})
    assert response.status_code == 302
    document.refresh_from_db()
    assert (document.label, document.topic_labelled_none, document.labelled_by.username) == \
        ("neutral", True, "oscar-operator")

    charts = operator_client.get("/finance/charts.json?bucket=day&range=90d").json()
    assert charts["bucket"] == "day" and [s["label"] for s in charts["series"]] == ["All documents", "Earnings"]


def test_the_dashboard_says_when_no_model_serves(operator_client, tiny_backbone):
    assert b"No model yet</strong> (Finance sentiment" in operator_client.get("/finance/").content


def test_admins_upload_labelled_sets_train_and_manage_keys(admin_client, tiny_backbone):
    phrasebank = "\r\n".join([f"{sentence(label, n)}@{label}" for n in range(6)
                              for label in ("negative", "neutral", "positive")]).encode("latin-1")
    response = admin_client.post("/finance/models/sets/", {
        "file": SimpleUploadedFile("Sentences_Test.txt", phrasebank), "role": "train", "name": "toy"})
    assert response.status_code == 302
    labelled = LabelledSet.objects.get()
    assert labelled.size == 18 and labelled.label_counts == {"negative": 6, "neutral": 6, "positive": 6}

    tweets = "text,label\n" + "\n".join(f"{sentence('neutral', 50 + n)},{n % 3}" for n in range(6))
    response = admin_client.post("/finance/models/sets/", {
        "file": SimpleUploadedFile("tweets.csv", tweets.encode()), "role": "test",
        "label_map": "0=negative,1=positive,2=neutral"})
    assert LabelledSet.objects.get(role="test").size == 6
    bad = admin_client.post("/finance/models/sets/", {"file": SimpleUploadedFile("bad.csv", b"text,label\na,bullish\n")},
                            follow=True)
    assert "unknown label &#x27;bullish&#x27;" in bad.content.decode()

    data = sentiment_training_data({})
    assert len(data.train) == 18 and len(data.test) == 6

    response = admin_client.post("/finance/models/retrain/sentiment/", {"method": "head", "epochs": "1"})
    job = Job.objects.get(kind="core.train_classifier")
    assert response["Location"] == f"/jobs/{job.pk}/" and job.scenario == "finance_sentiment.sentiment"
    assert job.params["config"] == {"method": "head", "epochs": 1}
    response = admin_client.post("/finance/models/retrain/topics/", follow=True)
    assert b"Not yet:" in response.content and b"a topic classifier needs at least 20" in response.content

    created = admin_client.post("/finance/models/keys/", {"name": "importer"})
    assert created.status_code == 200 and "no-store" in created["Cache-Control"]
    key = re.search(r'<code class="fin-key">([A-Za-z0-9_\-]{40,})</code>', created.content.decode()).group(1)
    stored = ApiKey.objects.get()
    assert stored.prefix == key[:10] and stored.scopes == ["finance"]
    assert stored.key_hash == hashlib.sha256(key.encode()).hexdigest()  # the hash, never the key
    page = admin_client.get("/finance/models/").content.decode()
    assert key not in page and f"{stored.prefix}…" in page  # shown once
    # Keys without the finance scope are managed in the back office, not here.
    other, _ = api_key_create(name="shop", scopes=[ApiKey.Scope.RECOMMENDATION])
    assert other.prefix not in admin_client.get("/finance/models/").content.decode()
    assert admin_client.post(f"/finance/models/keys/{other.pk}/revoke/").status_code == 404
    admin_client.post(f"/finance/models/keys/{stored.pk}/revoke/")
    assert ApiKey.objects.get(pk=stored.pk).revoked_at is not None
    assert ApiKey.objects.get(pk=other.pk).revoked_at is None
    assert list(AuditEvent.objects.filter(action__startswith="apikey.").values_list("action", flat=True)
                .order_by("created_at", "pk")) == ["apikey.create", "apikey.create", "apikey.revoke"]


def test_a_batch_page_lists_rejections_and_the_job(operator_client, sentiment_model):
    result = documents_ingest(items=[{"text": sentence("neutral", 1)}, {"text": 3}], origin="api")
    run_job(result.batch.job)
    page = operator_client.get(f"/finance/batches/{result.batch.pk}/").content.decode()
    assert "text must be a string, got number" in page and "Succeeded" in page and "1 scored" in page
