"""Trend aggregates on a fixed stream: incremental, exact, and the same through the API."""
import pytest
from rest_framework.test import APIClient

from apps.finance_sentiment.models import TrendBucket
from apps.finance_sentiment.services.trends import Delta, deltas_add, series_keys, trend_points, trends_apply

from .conftest import at

pytestmark = pytest.mark.django_db

# (published at, label, score, topic ids) — worked out by hand below.
STREAM = [
    (at(0, 9, 5), "negative", -0.8, [1]),
    (at(0, 9, 40), "positive", 0.6, [1, 2]),
    (at(0, 9, 59), "neutral", 0.0, []),
    (at(0, 10, 0), "negative", -0.5, [2]),
    (at(0, 23, 30), "negative", -0.9, [1]),
    (at(1, 0, 10), "positive", 0.9, [1]),
]


def apply(stream, sign=1):
    deltas: dict = {}
    for moment, label, score, topics in stream:
        # p(negative) as the score's negative part (score = p(positive) - p(negative)).
        deltas_add(deltas, series=series_keys(topic_ids=topics), published_at=moment, label=label, score=score,
                   p_negative=max(-score, 0.0), sign=sign)
    return trends_apply(deltas=deltas)


def bucket(series, granularity, start):
    row = TrendBucket.objects.get(series=series, granularity=granularity, start=start)
    return row.volume, row.negative, row.neutral, row.positive, round(row.score_sum, 6)


def expected_negatives(series, granularity, start):
    return round(TrendBucket.objects.get(series=series, granularity=granularity, start=start).negative_expected, 6)


def test_a_fixed_stream_adds_up_per_series_and_bucket():
    touched = apply(STREAM)
    assert ("topic:1", "hour", at(0, 9)) in touched and ("all", "day", at(1, 0)) in touched
    assert bucket("all", "hour", at(0, 9)) == (3, 1, 1, 1, -0.2)
    assert bucket("topic:1", "hour", at(0, 9)) == (2, 1, 0, 1, -0.2)
    assert bucket("topic:2", "hour", at(0, 9)) == (1, 0, 0, 1, 0.6)
    assert bucket("topic:2", "hour", at(0, 10)) == (1, 1, 0, 0, -0.5)
    assert bucket("all", "day", at(0, 0)) == (5, 3, 1, 1, -1.6)
    assert bucket("topic:1", "day", at(0, 0)) == (3, 2, 0, 1, -1.1)
    assert bucket("topic:1", "day", at(1, 0)) == (1, 0, 0, 1, 0.9)
    assert TrendBucket.objects.filter(series="all", granularity="hour").count() == 4
    # The expected negatives (sum of p(negative)) beside the labels: 0.8 at 9:05, 0.5 at 10:00, 0.9 at 23:30.
    assert expected_negatives("all", "hour", at(0, 9)) == 0.8 and expected_negatives("all", "day", at(0, 0)) == 2.2
    assert expected_negatives("topic:1", "day", at(0, 0)) == 1.7 and expected_negatives("topic:2", "hour", at(0, 9)) == 0

    # Incremental: the same stream again doubles every figure (no recomputation from documents).
    apply(STREAM)
    assert bucket("all", "day", at(0, 0)) == (10, 6, 2, 2, -3.2)
    # Rescoring one document: remove its old contribution, add the new one.
    apply([STREAM[0]], sign=-1)
    apply([(at(0, 9, 5), "neutral", 0.1, [1])])
    assert bucket("topic:1", "hour", at(0, 9)) == (4, 1, 1, 2, 0.5)
    assert expected_negatives("topic:1", "hour", at(0, 9)) == 0.8  # 2 x 0.8 - 0.8 + 0.0


def test_points_fill_empty_buckets_and_derive_means():
    apply(STREAM)
    points = trend_points(series="topic:1", granularity="hour", start=at(0, 8), end=at(0, 11))
    assert [(p["start"].hour, p["volume"]) for p in points] == [(8, 0), (9, 2), (10, 0)]
    assert points[1]["mean_score"] == pytest.approx(-0.1) and points[1]["negative_share"] == 0.5
    assert points[0]["mean_score"] is None and points[0]["negative_share"] is None
    assert points[1]["expected_negative_share"] == 0.4  # (0.8 + 0) / 2 documents


def test_the_trends_api(operator_user, outsider_user, topic):
    deltas: dict = {}
    deltas_add(deltas, series=[f"topic:{topic.pk}"], published_at=at(0, 9), label="negative", score=-1.0,
               p_negative=1.0)
    deltas_add(deltas, series=[f"topic:{topic.pk}"], published_at=at(0, 9, 30), label="positive", score=0.5,
               p_negative=0.1)
    trends_apply(deltas=deltas)
    api = APIClient()
    api.force_authenticate(operator_user)
    response = api.get("/api/v1/finance/trends/", {"topic": "earnings", "bucket": "hour", "from": "2024-03-01T08:00:00Z",
                                                   "to": "2024-03-01T11:00:00Z"})
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["series"] == f"topic:{topic.pk}" and body["label"] == "Earnings" and body["bucket"] == "hour"
    assert [(p["start"], p["volume"], p["negative_share"], p["mean_score"]) for p in body["points"]] == [
        ("2024-03-01T08:00:00Z", 0, None, None), ("2024-03-01T09:00:00Z", 2, 0.5, -0.25),
        ("2024-03-01T10:00:00Z", 0, None, None)]
    day = api.get("/api/v1/finance/trends/", {"bucket": "day", "from": "2024-03-01", "to": "2024-03-01"}).json()
    assert [p["start"] for p in day["points"]] == ["2024-03-01T00:00:00Z"] and day["label"] == "All documents"
    for params, field in [({"bucket": "week"}, "bucket"), ({"topic": "nope"}, "topic"), ({"from": "yesterday"}, "from"),
                          ({"from": "2024-03-02", "to": "2024-03-01"}, "from"),
                          ({"bucket": "hour", "from": "2020-01-01", "to": "2024-01-01"}, "from")]:
        bad = api.get("/api/v1/finance/trends/", params)
        assert bad.status_code == 400 and field in bad.json(), (params, bad.content)
    outsider = APIClient()
    outsider.force_authenticate(outsider_user)
    assert outsider.get("/api/v1/finance/trends/").status_code == 403


def test_zero_deltas_write_nothing():
    delta = Delta()
    delta.add("negative", -0.5, 0.7)
    delta.add("negative", -0.5, 0.7, sign=-1)
    assert delta.is_zero and trends_apply(deltas={("all", "hour", at(0, 0)): delta}) == set()
    assert not TrendBucket.objects.exists()


def test_the_migration_fills_expected_negatives_from_the_scored_documents(sentiment_model, topic):
    """Buckets written before negative_expected existed get the sum of their documents' p(negative)."""
    import importlib

    from django.apps import apps

    from apps.finance_sentiment.models import Document
    from apps.finance_sentiment.services.ingestion import documents_ingest

    from .conftest import run_job, sentence

    result = documents_ingest(items=[{"text": sentence("negative" if i % 3 else "neutral", i),
                                      "published_at": at(0, 9, i).isoformat()} for i in range(9)],
                              origin="api", label="test")
    assert run_job(result.batch.job).state == "succeeded"
    wanted = {(row.series, row.granularity): round(row.negative_expected, 6) for row in TrendBucket.objects.all()}
    assert wanted[("all", "hour")] == round(sum(Document.objects.values_list("p_negative", flat=True)), 6) > 0
    TrendBucket.objects.update(negative_expected=0.0)
    migration = importlib.import_module("apps.finance_sentiment.migrations.0006_trendbucket_negative_expected")
    migration.fill_expected_negatives(apps, None)
    assert {(row.series, row.granularity): round(row.negative_expected, 6) for row in TrendBucket.objects.all()} == wanted
