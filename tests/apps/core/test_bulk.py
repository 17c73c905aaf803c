"""apps.core.bulk.bulk_update_values: one UPDATE ... FROM (VALUES ...) per batch, the same rows
as Django's bulk_update would write (floats, text, nulls, foreign keys, aware datetimes)."""
from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from apps.core.bulk import bulk_update_values
from apps.core.models import ModelVersion
from apps.finance_sentiment.models import Document
from apps.finance_sentiment.services.ingestion import documents_ingest

pytestmark = pytest.mark.django_db


def test_each_row_gets_its_own_values_in_one_statement_per_batch():
    items = [{"text": f"Document number {i} about quarterly results in region {i * 7}.",
              "published_at": datetime(2024, 1, 1, 9, i, tzinfo=UTC).isoformat()} for i in range(7)]
    documents_ingest(items=items, origin="api", score_now=False)
    untouched = Document.objects.create(text="left alone", published_at=datetime(2024, 1, 2, tzinfo=UTC))
    version = ModelVersion.objects.create(scenario="finance_sentiment.sentiment", version=1, artifact_path="x")
    documents = list(Document.objects.exclude(pk=untouched.pk).order_by("pk"))
    moment = datetime(2024, 2, 3, 4, 5, 6, 789000, tzinfo=UTC)
    for n, document in enumerate(documents):
        document.status = Document.Status.SCORED
        document.sentiment = ["negative", "neutral", "positive"][n % 3]
        document.score = n / 10 - 0.3
        document.p_negative = None if n == 0 else 1 / (n + 1)
        document.sentiment_version = version if n % 2 else None
        document.scored_at = moment + timedelta(minutes=n)
    with CaptureQueriesContext(connection) as queries:
        assert bulk_update_values(Document, documents, ["status", "sentiment", "score", "p_negative",
                                                        "sentiment_version", "scored_at"], batch_size=3) == 7
    assert len(queries) == 3  # batches of 3, 3 and 1
    for n, stored in enumerate(Document.objects.exclude(pk=untouched.pk).order_by("pk")):
        assert stored.status == Document.Status.SCORED
        assert stored.sentiment == ["negative", "neutral", "positive"][n % 3]
        assert stored.score == pytest.approx(n / 10 - 0.3)
        assert stored.p_negative == (None if n == 0 else pytest.approx(1 / (n + 1)))
        assert stored.sentiment_version_id == (version.pk if n % 2 else None)
        assert stored.scored_at == moment + timedelta(minutes=n)
    untouched.refresh_from_db()
    assert untouched.status == Document.Status.PENDING and untouched.scored_at is None
    assert bulk_update_values(Document, [], ["status"]) == 0
