"""Alert rules on real trend buckets: firing with the documents that drove it, deduplication while
the condition lasts, resolution, a new alert later, acknowledgement; e-mail and webhook delivery
with retries against a real HTTP server."""
import hashlib
import hmac
import json

import pytest
from django.core import mail
from django.core.exceptions import ImproperlyConfigured
from django.test import Client
from django.utils import timezone
from rest_framework.test import APIClient

from apps.finance_sentiment.models import Alert, AlertDelivery, AlertRule
from apps.finance_sentiment.services.alerts import alert_evaluate_bucket
from apps.finance_sentiment.services.delivery import deliveries_due, delivery_attempt
from apps.finance_sentiment.services.ingestion import documents_ingest
from apps.finance_sentiment.services.trends import deltas_add, trends_apply
from apps.finance_sentiment.tasks import deliver_alert

from .conftest import at, run_job, sentence
from .http_server import Answer, ScriptedServer

pytestmark = pytest.mark.django_db


def calm_history(topic, *, hours=48, per_hour=20, negative=2):
    """Two calm days: 10% negative every hour, straight into the trend buckets."""
    deltas: dict = {}
    for hour in range(hours):
        for n in range(per_hour):
            label = "negative" if n < negative else "neutral"
            deltas_add(deltas, series=["all", f"topic:{topic.pk}"], published_at=at(0, hour, n),
                       label=label, score=-0.7 if label == "negative" else 0.0,
                       p_negative=0.95 if label == "negative" else 0.005)
    trends_apply(deltas=deltas)


def ingest_hour(day, hour, *, negative, neutral, offset=0, minutes=50):
    """Real documents for one hour (ingested and scored by the tiny model); returns the scoring job."""
    items = [{"text": sentence("negative", offset + i), "published_at": at(day, hour, i % minutes).isoformat()}
             for i in range(negative)]
    items += [{"text": sentence("neutral", offset + 1000 + i), "published_at": at(day, hour, i % minutes).isoformat()}
              for i in range(neutral)]
    result = documents_ingest(items=items, origin="api", label="test")
    assert result.batch.accepted == negative + neutral, result.rejections
    job = run_job(result.batch.job)
    assert job.state == "succeeded", job.error
    return job


@pytest.fixture
def rule(topic):
    return AlertRule.objects.create(name="Earnings surge", topic=topic, window=24, z_threshold=3.0, min_volume=10,
                                    min_increase=0.15, min_history=6, email_recipients="desk@example.com")


def test_a_surge_opens_one_alert_that_names_what_drove_it(sentiment_model, topic, rule):
    calm_history(topic)
    job = ingest_hour(2, 0, negative=8, neutral=4)  # 67% negative in the first hour of day 2
    assert job.metrics["n_negative"] == 8 and job.metrics["alerts_opened"] == 1
    alert = Alert.objects.get()
    assert (alert.topic, alert.series, alert.granularity, alert.state) == (topic, f"topic:{topic.pk}", "hour", "open")
    assert (alert.window_start, alert.window_end) == (at(2, 0), at(2, 1))
    assert alert.volume == 12 and alert.negative == 8 and alert.observed == pytest.approx(8 / 12)
    assert alert.expected == pytest.approx(0.1, abs=0.01) and alert.z > 3
    assert alert.message.startswith("Earnings: negative share 67% vs expected 10% in the hour from 2024-03-03 00:00 UTC")
    drivers = list(alert.documents.all())
    assert len(drivers) == 8 and {d.sentiment for d in drivers} == {"negative"}
    assert list(job.result["alerts"]) == [alert.pk]
    # Delivered in the console at once; e-mail queued as a delivery (sent below).
    delivery = AlertDelivery.objects.get(alert=alert)
    assert (delivery.channel, delivery.target, delivery.state) == ("email", "desk@example.com", "pending")
    assert deliver_alert(delivery.pk) == "sent"
    message = mail.outbox[0]
    assert message.to == ["desk@example.com"] and "[Finance alert] Earnings: negative share 67%" in message.subject
    assert f"/finance/alerts/{alert.pk}/" in message.body and "negative] The company" in message.body


def test_borderline_calm_documents_open_no_alert_on_expected_counts(topic, rule, settings):
    """Another model puts 8 of an hour's 20 calm documents just over its boundary (p(negative) 0.52):
    counted as labels that is 40% negative against 10% and an alert; counted as the sum of their
    probabilities (the default) it is 21%, within the rule's +15 points. Confident negatives fire both."""
    calm_history(topic)
    deltas: dict = {}
    for n in range(20):
        borderline = n < 8
        deltas_add(deltas, series=["all", f"topic:{topic.pk}"], published_at=at(2, 0, n),
                   label="negative" if borderline else "neutral", score=-0.1 if borderline else 0.0,
                   p_negative=0.52 if borderline else 0.01)
    trends_apply(deltas=deltas)
    series = f"topic:{topic.pk}"
    assert alert_evaluate_bucket(rule=rule, series=series, start=at(2, 0)) is None and not Alert.objects.exists()
    settings.FINANCE_ALERT_NEGATIVES = "labels"
    alert = alert_evaluate_bucket(rule=rule, series=series, start=at(2, 0))
    assert alert is not None and alert.negative == 8 and alert.observed == pytest.approx(0.4)
    Alert.objects.all().delete()

    settings.FINANCE_ALERT_NEGATIVES = "expected"
    deltas = {}
    for n in range(12):
        deltas_add(deltas, series=["all", series], published_at=at(2, 1, n), label="negative", score=-0.9,
                   p_negative=0.93)
    trends_apply(deltas=deltas)
    alert = alert_evaluate_bucket(rule=rule, series=series, start=at(2, 1))
    assert alert is not None and alert.negative == 11 and alert.observed == pytest.approx(0.93)  # 11.16 expected
    assert "negatives counted as the sum of p(negative)" in alert.message

    settings.FINANCE_ALERT_NEGATIVES = "both"
    with pytest.raises(ImproperlyConfigured, match="FINANCE_ALERT_NEGATIVES must be expected or labels"):
        alert_evaluate_bucket(rule=rule, series=series, start=at(2, 1))


def test_the_alert_lasts_while_the_condition_does_then_resolves(sentiment_model, topic, rule):
    calm_history(topic)
    ingest_hour(2, 0, negative=8, neutral=4)
    ingest_hour(2, 0, negative=6, neutral=0, offset=100)   # same hour, more of it: same alert
    ingest_hour(2, 1, negative=9, neutral=3, offset=200)   # the next hour still surging: same alert
    alert = Alert.objects.get()
    assert alert.state == "open" and alert.window_end == at(2, 2) and alert.volume == 12
    assert alert.peak_observed == pytest.approx(14 / 18) and alert.documents.count() == 23
    assert AlertDelivery.objects.count() == 1  # notified once

    ingest_hour(2, 2, negative=1, neutral=5, offset=300)   # too few documents to judge: still open
    assert Alert.objects.get().state == "open"
    ingest_hour(2, 2, negative=0, neutral=8, offset=400)   # a judged calm hour: resolved
    alert.refresh_from_db()
    assert alert.state == "resolved" and alert.resolved_at is not None

    ingest_hour(2, 5, negative=10, neutral=2, offset=500)  # a new surge later: a new alert
    assert Alert.objects.count() == 2 and Alert.objects.filter(state="open").count() == 1
    assert AlertDelivery.objects.count() == 2


def test_rules_for_every_topic_volume_rules_and_backfills(sentiment_model, topic):
    from apps.finance_sentiment.models import Topic

    other = Topic.objects.create(name="Rates", slug="rates", keywords=["rate"], threshold=0.0)
    AlertRule.objects.create(name="Any topic", topic=None, min_volume=10, window=24)
    AlertRule.objects.create(name="Off", topic=topic, is_active=False)
    calm_history(topic)
    calm_history(other)
    ingest_hour(2, 0, negative=9, neutral=3)
    # Both topics got the surge (threshold 0: every document is in both); the rule judges each on its own.
    assert sorted(Alert.objects.values_list("topic__name", "rule__name")) == [("Earnings", "Any topic"),
                                                                              ("Rates", "Any topic")]
    result = documents_ingest(items=[{"text": sentence("negative", 900 + i), "published_at": at(2, 3, i).isoformat()}
                                     for i in range(12)], origin="upload", evaluate_alerts=False)
    run_job(result.batch.job)
    assert Alert.objects.count() == 2  # a back-fill raises nothing

    volume_rule = AlertRule.objects.create(name="Volume", topic=topic, metric="volume", min_increase=10,
                                           min_volume=10, window=24)
    # 12 documents in the hour against about 20 expected: no volume surge; 45 (quiet hours count as 0) is one.
    assert alert_evaluate_bucket(rule=volume_rule, series=f"topic:{topic.pk}", start=at(2, 3)) is None
    assert volume_rule.alerts.count() == 0
    ingest_hour(2, 4, negative=0, neutral=45, offset=600)
    assert volume_rule.alerts.get().message.startswith("Earnings: volume 45 documents vs expected 16.0")


def test_operators_acknowledge_alerts_and_others_cannot(sentiment_model, topic, rule, operator_user, outsider_user,
                                                        csrf_admin_client):
    calm_history(topic)
    ingest_hour(2, 0, negative=8, neutral=4)
    alert = Alert.objects.get()
    outsider = APIClient()
    outsider.force_authenticate(outsider_user)
    assert outsider.post(f"/api/v1/finance/alerts/{alert.pk}/acknowledge/").status_code == 403
    assert outsider.get("/api/v1/finance/alerts/").status_code == 403

    api = APIClient()
    api.force_authenticate(operator_user)
    listed = api.get("/api/v1/finance/alerts/", {"state": "open", "acknowledged": "false"}).json()
    assert [a["id"] for a in listed["results"]] == [alert.pk] and len(listed["results"][0]["documents"]) == 8
    body = api.post(f"/api/v1/finance/alerts/{alert.pk}/acknowledge/").json()
    assert body["acknowledged_by"] == operator_user.username and body["acknowledged_at"]
    again = api.post(f"/api/v1/finance/alerts/{alert.pk}/acknowledge/").json()
    assert again["acknowledged_at"] == body["acknowledged_at"]  # the first acknowledgement stays
    assert api.get("/api/v1/finance/alerts/", {"acknowledged": "false"}).json()["results"] == []
    assert api.get("/api/v1/finance/alerts/", {"state": "closed"}).status_code == 400

    # The console form needs the CSRF token.
    Alert.objects.filter(pk=alert.pk).update(acknowledged_at=None, acknowledged_by=None)
    url = f"/finance/alerts/{alert.pk}/acknowledge/"
    assert csrf_admin_client.post(url).status_code == 403
    page = csrf_admin_client.get(f"/finance/alerts/{alert.pk}/")
    assert page.status_code == 200 and b"67% vs expected 10%" in page.content
    token = page.context["csrf_token"]
    assert csrf_admin_client.post(url, {"csrfmiddlewaretoken": str(token)}).status_code == 302
    alert.refresh_from_db()
    assert alert.acknowledged_by.username == "alice-admin"
    plain = Client()
    plain.force_login(outsider_user)
    assert plain.post(url).status_code == 403 and plain.get(f"/finance/alerts/{alert.pk}/").status_code == 403


def seconds_until_due(delivery) -> float:
    return (delivery.next_attempt_at - timezone.now()).total_seconds()


def time_passes(delivery) -> None:
    """The retry comes due (instead of sleeping through the back-off, which a busy machine makes flaky)."""
    AlertDelivery.objects.filter(pk=delivery.pk).update(next_attempt_at=timezone.now())


def test_a_webhook_is_retried_until_it_succeeds(sentiment_model, topic, settings):
    settings.FINANCE_ALERT_RETRY_BASE_S = 60
    settings.OUTBOUND_HTTP_ALLOWED_NETWORKS = ["127.0.0.1/32"]  # the test server is on loopback
    with ScriptedServer() as server:
        server.answers["/hook"] = [Answer(500, b"oops"), Answer(503, b"busy"), Answer(200, b"ok")]
        AlertRule.objects.create(name="Hook", topic=topic, min_volume=10, webhook_url=server.base_url + "/hook",
                                 webhook_secret="s3cret")
        calm_history(topic)
        ingest_hour(2, 0, negative=8, neutral=4)
        delivery = AlertDelivery.objects.get()
        first = delivery_attempt(delivery_id=delivery.pk)
        assert (first.state, first.attempts, first.last_status) == ("pending", 1, 500)
        assert first.last_error == f"could not send to {server.base_url}/hook: HTTP 500 Internal Server Error"
        assert 55 < seconds_until_due(first) <= 60  # 60 s, then 120 s
        assert delivery_attempt(delivery_id=delivery.pk) is None  # not due yet: no second send
        assert deliveries_due() == []
        time_passes(delivery)
        assert deliveries_due() == [delivery.pk]
        second = delivery_attempt(delivery_id=delivery.pk)
        assert (second.state, second.attempts, second.last_status) == ("pending", 2, 503)
        assert 115 < seconds_until_due(second) <= 120
        time_passes(delivery)
        third = delivery_attempt(delivery_id=delivery.pk)
        assert (third.state, third.attempts, third.last_status, third.last_error) == ("sent", 3, 200, "")
        assert len(server.requests) == 3
    request = server.requests[-1]
    payload = json.loads(request.body)
    alert = Alert.objects.get()
    assert payload["alert"]["id"] == alert.pk and payload["alert"]["topic"] == "Earnings"
    assert payload["alert"]["window_start"] == "2024-03-03T00:00:00+00:00" and len(payload["documents"]) == 8
    expected = hmac.new(b"s3cret", request.body, hashlib.sha256).hexdigest()
    assert request.headers["x-signature-sha256"] == expected and request.headers["x-delivery-attempt"] == "3"


def test_a_webhook_that_refuses_or_never_answers_gives_up(sentiment_model, topic, settings):
    settings.FINANCE_ALERT_RETRY_BASE_S = 0.0
    settings.FINANCE_ALERT_MAX_ATTEMPTS = 2
    settings.FINANCE_WEBHOOK_TIMEOUT_S = 0.3
    settings.OUTBOUND_HTTP_ALLOWED_NETWORKS = ["127.0.0.1/32"]
    with ScriptedServer() as server:
        server.answers["/refuse"] = [Answer(410, b"gone")]
        server.answers["/slow"] = [Answer(200, b"late", delay_s=1.0)]
        AlertRule.objects.create(name="Refused", topic=topic, min_volume=10, webhook_url=server.base_url + "/refuse")
        AlertRule.objects.create(name="Slow", topic=topic, min_volume=10, webhook_url=server.base_url + "/slow")
        calm_history(topic)
        ingest_hour(2, 0, negative=8, neutral=4)
        refused = AlertDelivery.objects.get(target__endswith="/refuse")
        assert delivery_attempt(delivery_id=refused.pk).state == "failed"  # a 4xx will not change on retry
        slow = AlertDelivery.objects.get(target__endswith="/slow")
        assert delivery_attempt(delivery_id=slow.pk).state == "pending"
        last = delivery_attempt(delivery_id=slow.pk)
        assert last.state == "failed" and last.attempts == 2 and "timed out" in last.last_error


# --- webhooks inside the network, and the write-only secret (issue 15) --------------------------------

RULE_FORM = {"name": "Hooked", "metric": "negative_share", "granularity": "hour", "baseline": "ewma", "window": "48",
             "z_threshold": "3", "min_volume": "10", "min_increase": "0.15", "min_history": "6", "is_active": "on"}


def test_a_webhook_inside_the_network_is_refused_when_saved_and_not_retried(sentiment_model, topic, settings,
                                                                            operator_client):
    for url in ("http://169.254.169.254/latest/", "http://localhost:6379/", "http://[::1]:8020/", "http://0x7f.1/",
                "ftp://127.0.0.1/x"):
        response = operator_client.post("/finance/rules/", {**RULE_FORM, "topic": topic.pk, "webhook_url": url})
        assert response.status_code == 200 and response.context["form"].errors["webhook_url"], url
    assert not AlertRule.objects.exists()

    settings.FINANCE_ALERT_RETRY_BASE_S = 0.0
    with ScriptedServer() as server:  # on loopback and not allow-listed
        AlertRule.objects.create(name="Inside", topic=topic, min_volume=10, webhook_url=server.base_url + "/hook")
        calm_history(topic)
        ingest_hour(2, 0, negative=8, neutral=4)
        delivery = delivery_attempt(delivery_id=AlertDelivery.objects.get().pk)
        assert (delivery.state, delivery.attempts, delivery.last_status) == ("failed", 1, None)  # permanent
        assert delivery.last_error == (f"could not send to {server.base_url}/hook: the address is not allowed "
                                       "(private, loopback, link-local or reserved)")
        assert deliveries_due() == [] and server.requests == []


def test_the_webhook_secret_is_never_shown_and_blank_keeps_it(operator_client, admin_client, topic):
    data = {**RULE_FORM, "topic": topic.pk, "webhook_url": "https://93.184.216.34/hook"}
    assert operator_client.post("/finance/rules/", {**data, "webhook_secret": "s3cret-value"}).status_code == 302
    rule = AlertRule.objects.get()
    assert rule.webhook_secret == "s3cret-value"
    page = operator_client.get(f"/finance/rules/{rule.pk}/")
    assert b"s3cret-value" not in page.content and b"A secret is set" in page.content
    assert b"s3cret-value" not in admin_client.get(f"/admin/finance_sentiment/alertrule/{rule.pk}/change/").content

    assert operator_client.post(f"/finance/rules/{rule.pk}/", {**data, "webhook_secret": ""}).status_code == 302
    rule.refresh_from_db()
    assert rule.webhook_secret == "s3cret-value"  # blank keeps it
    operator_client.post(f"/finance/rules/{rule.pk}/", {**data, "webhook_secret": "rotated"})
    rule.refresh_from_db()
    assert rule.webhook_secret == "rotated"
    operator_client.post(f"/finance/rules/{rule.pk}/", {**data, "webhook_secret_clear": "on"})
    rule.refresh_from_db()
    assert rule.webhook_secret == ""
