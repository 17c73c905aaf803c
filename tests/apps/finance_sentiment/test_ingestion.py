"""Ingestion through the REST API and uploads: each bad item rejected with its field and reason,
the good ones kept and scored by a job, duplicates (URL, text, near-identical text) dropped."""
import json

import pytest
from rest_framework.test import APIClient

from apps.core.models import Job
from apps.finance_sentiment.models import Document, DocumentTicker, IngestBatch, SentimentScore, TrendBucket
from apps.finance_sentiment.services.keys import api_key_create

from .conftest import run_job, sentence

pytestmark = pytest.mark.django_db
URL = "/api/v1/finance/documents/"


@pytest.fixture
def api(admin_user) -> APIClient:
    _, plain = api_key_create(name="newsroom", created_by=admin_user)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {plain}")
    return client


def post(client, body, **extra):
    return client.post(URL, data=json.dumps(body), content_type="application/json", **extra)


def test_a_mixed_batch_keeps_the_good_items_and_names_each_problem(api, sentiment_model, topic):
    stored = post(api, {"documents": [{"text": "Quarterly revenue rose 12 percent at the software group.",
                                       "url": "https://news.example.com/a?utm_source=x"}]})
    assert stored.status_code == 202
    items = [
        {"text": sentence("negative", 1), "title": "Lender hit", "source": "Wire", "url": "https://news.example.com/b",
         "published_at": "2024-03-01T10:15:00Z", "language": "en", "tickers": ["$abc", "XYZ"]},
        {"title": "no text here"},                                            # 1 missing text
        {"text": sentence("positive", 2), "published_at": "2024-13-45T99:00"},  # 2 bad timestamp
        {"text": "x" * (5 * 2**20)},                                           # 3 5 MB of text
        {"text": 12345},                                                       # 4 wrong type
        {"text": sentence("neutral", 3), "tickers": "ABC"},                    # 5 wrong type
        {"text": sentence("neutral", 4), "title": ["a", "list"]},              # 6 wrong type
        "just a string",                                                       # 7 not an object
        {"text": "  " + sentence("negative", 1).upper() + "!! "},              # 8 same text as item 0
        {"text": "Another story", "url": "HTTPS://NEWS.example.com/a"},       # 9 same URL as stored
        {"text": sentence("positive", 5), "published_at": "2999-01-01T00:00:00Z"},  # 10 in the future
        {"text": sentence("positive", 6), "url": "ftp://example.com/x"},      # 11 not http
        {"text": sentence("positive", 7), "published_at": "2024-03-01"},      # 12 fine: a date
    ]
    response = post(api, {"documents": items, "source": "Default wire"})
    assert response.status_code == 202, response.content
    body = response.json()
    assert body["received"] == 13 and body["accepted"] == 2 and body["rejected"] == 11 and body["duplicates"] == 2
    reasons = {r["index"]: (r["field"], r["reason"]) for r in body["rejections"]}
    assert reasons[1] == ("text", "text is missing")
    assert reasons[2][0] == "published_at" and "'2024-13-45T99:00' is not an ISO 8601 date-time" in reasons[2][1]
    assert reasons[3] == ("text", "text is 5,242,880 characters; the limit is 100,000")
    assert reasons[4] == ("text", "text must be a string, got number")
    assert reasons[5] == ("tickers", "tickers must be an array of symbols, got string")
    assert reasons[6] == ("title", "title must be a string, got array")
    assert reasons[7] == ("item", "item must be an object with a text field, got string")
    assert reasons[8] == ("text", "duplicate: same text as item 0 of this batch")
    assert reasons[9][0] == "url" and reasons[9][1] == f"duplicate: same URL as document {stored.json()['documents'][0]}"
    assert "in the future" in reasons[10][1] and "not an http(s) URL" in reasons[11][1]

    # Only the accepted items were stored, pending, with their fields; nothing of the rejected ones.
    documents = Document.objects.filter(pk__in=body["documents"]).order_by("pk")
    assert [d.status for d in documents] == ["pending", "pending"]
    first = documents[0]
    assert (first.title, first.source, first.language) == ("Lender hit", "Wire", "en")
    assert first.published_at.isoformat() == "2024-03-01T10:15:00+00:00"
    assert documents[1].source == "Default wire" and documents[1].published_at.isoformat() == "2024-03-01T00:00:00+00:00"
    assert sorted(DocumentTicker.objects.filter(document=first).values_list("ticker__symbol", flat=True)) == ["ABC", "XYZ"]
    assert Document.objects.count() == 3

    # The batch's job scores them: every score keeps its model version, trends count them.
    batch = IngestBatch.objects.get(pk=body["batch"])
    assert str(batch.job_id) == body["job"] and batch.rejections == body["rejections"]
    job = run_job(batch.job)
    assert job.state == Job.State.SUCCEEDED, job.error
    assert job.metrics["scored"] == 2 and job.progress == 100
    first.refresh_from_db()
    assert first.status == "scored" and first.sentiment == "negative"
    assert first.score == pytest.approx(first.p_positive - first.p_negative)
    assert first.p_negative + first.p_neutral + first.p_positive == pytest.approx(1.0, abs=1e-5)
    assert first.sentiment_version_id == sentiment_model.pk
    assert SentimentScore.objects.get(document=first).model_version_id == sentiment_model.pk
    assert first.topic_links.get().topic == topic
    hour = TrendBucket.objects.get(series=f"topic:{topic.pk}", granularity="hour", start="2024-03-01T10:00:00Z")
    assert (hour.volume, hour.negative) == (1, 1)


def test_a_batch_with_nothing_good_is_refused_and_stores_nothing(api):
    response = post(api, [{"text": ""}, {"text": None}, {"txt": "typo"}])
    assert response.status_code == 400
    body = response.json()
    assert body["accepted"] == 0 and body["job"] is None and body["documents"] == []
    assert [r["reason"] for r in body["rejections"]] == ["text is empty", "text is missing", "text is missing"]
    assert Document.objects.count() == 0 and Job.objects.count() == 0


@pytest.mark.parametrize("body, message", [
    ({"docs": []}, "missing"), ({"documents": "text"}, "must be an array"), ([], "the batch is empty"),
    ({"documents": [{"text": "a"}], "evaluate_alerts": "yes"}, "must be true or false"),
])
def test_a_body_that_is_not_a_batch_gets_a_clear_400(api, body, message):
    response = post(api, body)
    assert response.status_code == 400 and message in json.dumps(response.json())


def test_malformed_json_and_oversized_bodies(api, settings):
    response = api.post(URL, data=b'{"documents": [', content_type="application/json")
    assert response.status_code == 400 and "not valid JSON" in response.json()["detail"]
    settings.FINANCE_MAX_BATCH_ITEMS = 3
    response = post(api, [{"text": f"t{i}"} for i in range(4)])
    assert response.status_code == 400 and "send at most 3 per request" in response.json()["documents"][0]
    settings.FINANCE_MAX_REQUEST_BYTES = 1000
    response = post(api, [{"text": "y" * 2000}])
    assert response.status_code == 413 and "the limit is 1,000" in response.json()["detail"]
    assert Document.objects.count() == 0


def test_near_identical_text_is_a_duplicate_but_other_figures_are_news(api):
    base = "Operating profit rose to EUR 4.7 mn from EUR 3.6 mn in the third quarter of the year"
    first = post(api, [{"text": base}]).json()
    again = post(api, [
        {"text": base + " - Reuters"},                         # near-identical (same figures)
        {"text": base.replace("4.7", "5.1")},                   # different figures: different news
        {"text": base.replace("Operating", "Operational")},     # near-identical
    ]).json()
    reasons = {r["index"]: r["reason"] for r in again["rejections"]}
    assert reasons == {0: f"duplicate: same near-identical text as document {first['documents'][0]}",
                       2: "duplicate: same near-identical text as item 0 of this batch"}
    assert again["accepted"] == 1


def test_api_keys_and_roles(client, operator_user, outsider_user, admin_user):
    anonymous = post(APIClient(), [{"text": "a"}])
    assert anonymous.status_code == 401 and anonymous["WWW-Authenticate"].startswith("Bearer")
    bad = APIClient()
    bad.credentials(HTTP_AUTHORIZATION="Bearer fin_wrong")
    assert post(bad, [{"text": "a"}]).status_code == 401
    key, plain = api_key_create(name="k")
    revoked = APIClient()
    revoked.credentials(HTTP_X_API_KEY=plain)
    assert post(revoked, [{"text": "revocable"}]).status_code == 202
    from apps.finance_sentiment.services.keys import api_key_revoke

    api_key_revoke(key=key)
    assert post(revoked, [{"text": "after revocation"}]).status_code == 401
    # A key posts documents but reads nothing else.
    assert revoked.get("/api/v1/finance/alerts/").status_code in (401, 403)

    outsider = APIClient()
    outsider.force_authenticate(outsider_user)
    assert post(outsider, [{"text": "a"}]).status_code == 403
    assert outsider.get(URL).status_code == 403
    operator = APIClient(enforce_csrf_checks=True)
    operator.force_login(operator_user)
    # A session write needs the CSRF token, like a browser form.
    assert post(operator, [{"text": "from a session"}]).status_code == 403
    assert operator.get(URL).status_code == 200


def test_csv_upload_names_the_rows_it_refuses(operator_client, sentiment_model):
    from django.core.files.uploadedfile import SimpleUploadedFile

    csv_text = (
        "text,title,published_at,tickers\n"
        f"{sentence('negative', 11)},Lender,2024-03-02T08:00:00Z,\"ABC, XYZ\"\n"
        ",empty text,2024-03-02T08:00:00Z,\n"
        f"{sentence('positive', 12)},Bad time,yesterday,\n"
        f"{sentence('positive', 13)},Too,many,fields,here\n"
        "\n"
        f"{sentence('neutral', 14)},,,\n"
    )
    response = operator_client.post("/finance/upload/", {
        "file": SimpleUploadedFile("news.csv", csv_text.encode(), content_type="text/csv"), "source": "Upload test"})
    assert response.status_code == 302
    batch = IngestBatch.objects.get()
    assert response["Location"] == f"/finance/batches/{batch.pk}/"
    assert (batch.received, batch.accepted, batch.rejected) == (5, 2, 3)
    assert [(r["where"], r["field"]) for r in batch.rejections] == [("row 3", "text"), ("row 4", "published_at"),
                                                                     ("row 5", "row")]
    assert "5 fields but the header has 4" in batch.rejections[2]["reason"]
    page = operator_client.get(response["Location"])
    assert b"row 4" in page.content and b"is not an ISO 8601 date-time" in page.content
    assert Document.objects.filter(source="Upload test").count() == 2


def test_upload_refuses_a_file_it_cannot_read(operator_client):
    from django.core.files.uploadedfile import SimpleUploadedFile

    response = operator_client.post("/finance/upload/", {
        "file": SimpleUploadedFile("news.csv", b"title,body\nA,B\n", content_type="text/csv")})
    assert response.status_code == 200 and b"has no &#x27;text&#x27; column" in response.content
    response = operator_client.post("/finance/upload/", {
        "file": SimpleUploadedFile("news.jsonl", b'{"text": "caf\xe9"}\n', content_type="application/json")})
    assert b"line 1 is not valid UTF-8" in response.content
    assert IngestBatch.objects.count() == 0


def test_jsonl_upload_rejects_malformed_lines(operator_client):
    from django.core.files.uploadedfile import SimpleUploadedFile

    lines = '{"text": "One fine story about profits"}\n{"text": "broken\n{"text": "Another fine story"}\n'
    operator_client.post("/finance/upload/", {"file": SimpleUploadedFile("a.jsonl", lines.encode())})
    batch = IngestBatch.objects.get()
    assert batch.accepted == 2
    assert batch.rejections[0]["where"] == "line 2" and "not valid JSON" in batch.rejections[0]["reason"]
