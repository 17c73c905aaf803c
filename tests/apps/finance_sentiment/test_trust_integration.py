"""Trust features in the finance monitor: "why this score" on a document (integrated gradients,
loaded after the page, cached), the unsure-label notice from the control page's threshold,
scoring jobs feeding a running shadow deployment, and document retention."""
import datetime as dt

import pytest
from django.core.cache import cache
from django.utils import timezone

from apps.core.models import AuditEvent, ShadowDeployment, ShadowPrediction
from apps.core.services import control, retention, shadow
from apps.core.services.registry import BuiltArtifact, model_version_create
from apps.finance_sentiment.models import Document
from apps.finance_sentiment.services.ingestion import documents_ingest

from .conftest import at, run_job, sentence

pytestmark = pytest.mark.django_db


def _ingest(n: int = 3) -> list[Document]:
    labels = ["negative", "positive", "neutral"]
    result = documents_ingest(items=[{"text": sentence(labels[i % 3], i), "title": f"Item {i}",
                                      "published_at": at(0, 9 + i).isoformat(), "source": "Wire"} for i in range(n)],
                              origin="api")
    run_job(result.batch.job)
    return list(Document.objects.order_by("pk"))


def test_why_this_score_is_loaded_after_the_page(operator_client, outsider_client, sentiment_model):
    cache.clear()
    document = _ingest(1)[0]
    page = operator_client.get(f"/finance/documents/{document.pk}/").content.decode()
    url = f"/finance/documents/{document.pk}/explanation/"
    assert f'hx-get="{url}"' in page and 'hx-trigger="load"' in page
    response = operator_client.get(url)
    body = response.content.decode()
    assert response.status_code == 200 and f"Why <strong>{document.sentiment}</strong>" in body
    assert body.count('<mark class="xai-') == len(["Item", "0"]) + len(document.text.split())
    assert "(cached)" in operator_client.get(url).content.decode()
    assert outsider_client.get(url).status_code == 403


def test_unsure_labels_follow_the_control_page_threshold(operator_client, admin_user, sentiment_model):
    document = _ingest(1)[0]
    # The tiny model is sure of everything: give the document a hesitant score.
    Document.objects.filter(pk=document.pk).update(p_negative=0.55, p_neutral=0.3, p_positive=0.15)
    assert "check the label" not in operator_client.get(f"/finance/documents/{document.pk}/").content.decode()
    control.scenario_policy_update(scenario="finance_sentiment.sentiment", actor=admin_user, values={
        "confidence_threshold": 0.6, "low_confidence_action": "review", "handoff_labels": []})
    page = operator_client.get(f"/finance/documents/{document.pk}/").content.decode()
    assert "Below the confidence threshold (0.60" in page and "check the label" in page


def test_scoring_jobs_feed_a_running_shadow_and_labels_are_its_truth(sentiment_model, tiny_sentiment_folder):
    import shutil

    candidate = model_version_create(scenario="finance_sentiment.sentiment", build=lambda folder: (
        shutil.copytree(tiny_sentiment_folder, folder, dirs_exist_ok=True), BuiltArtifact())[1])
    deployment = shadow.shadow_start(candidate=candidate)
    documents = _ingest(4)
    assert ShadowPrediction.objects.filter(deployment=deployment).count() == 4
    Document.objects.filter(pk=documents[0].pk).update(label=documents[0].sentiment)
    assert shadow.shadow_score_pending(deployment_id=deployment.pk) == 4
    report = shadow.shadow_comparison(deployment=deployment)
    # The same model in shadow: it agrees with itself everywhere.
    assert report["n"] == 4 and report["agreement"] == 1.0
    assert report["labelled"]["n"] == 1 and report["labelled"]["candidate_accuracy"] == 1.0
    shadow.shadow_stop(deployment=ShadowDeployment.objects.get(pk=deployment.pk))


def test_documents_past_their_age_are_deleted_and_audited(admin_user, sentiment_model):
    old, new = _ingest(2)
    Document.objects.filter(pk=old.pk).update(ingested_at=timezone.now() - dt.timedelta(days=400))
    assert retention.retention_apply().get("finance_sentiment.documents") is None  # kept forever by default
    retention.retention_rule_update(kind="finance_sentiment.documents", max_age_days=365, actor=admin_user)
    deleted = retention.retention_apply(actor=admin_user)["finance_sentiment.documents"]
    assert deleted >= 2  # the document and its score row (and links)
    assert list(Document.objects.values_list("pk", flat=True)) == [new.pk]
    event = AuditEvent.objects.get(action="data.delete", details__kind="finance_sentiment.documents")
    assert event.actor == admin_user and event.details["max_age_days"] == 365
