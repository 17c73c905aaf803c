"""The finance dashboard reads well and agrees with itself: figures and charts count documents by
publication time, a week is drawn per day (7 points, not 168), a topic can be picked, the first
load does not load a model, forms look like the other consoles' and back-office "Add" links lead
somewhere."""
from datetime import timedelta

import pytest
from django.template.loader import render_to_string
from django.utils import timezone

from apps.finance_sentiment import selectors
from apps.finance_sentiment.models import AlertRule, Document, Topic
from apps.finance_sentiment.services.ingestion import documents_ingest
from apps.finance_sentiment.serving import sentiment_cache

from .conftest import sentence

pytestmark = pytest.mark.django_db


def ingest(*published_hours_ago: float) -> None:
    now = timezone.now()
    documents_ingest(items=[{"text": sentence("negative", 500 + n), "published_at": (now - timedelta(hours=h)).isoformat()}
                            for n, h in enumerate(published_hours_ago)], origin="api", score_now=False)


def test_the_day_figures_count_by_publication_time_as_the_charts_do():
    ingest(2, 5, 30, 24 * 40)  # all arrive now; two were published in the last 24 hours
    Document.objects.update(status=Document.Status.SCORED, sentiment="neutral")
    Document.objects.filter(published_at__gte=timezone.now() - timedelta(hours=3)).update(sentiment="negative")
    figures = selectors.overview()
    assert (figures["total"], figures["last_day"], figures["negative_last_day"]) == (4, 2, 1)
    assert figures["negative_share_last_day"] == 0.5


def test_the_dashboard_says_what_it_counts(operator_client):
    ingest(1, 50)
    html = operator_client.get("/finance/").content.decode()
    assert "documents published in the last 24 h, 0 of them scored (2 stored, 2 waiting for a score)" in html
    assert "The charts count scored documents in the UTC day they were published in" in html


def test_a_week_is_drawn_per_day_unless_hours_are_asked_for(operator_client):
    Topic.objects.create(name="Earnings", slug="earnings", keywords=["profit"])
    Topic.objects.create(name="Layoffs", slug="layoffs", keywords=["layoffs"])
    week = operator_client.get("/finance/charts.json").json()
    assert (week["bucket"], week["range"]) == ("day", "7d")
    assert next(s["key"] for s in week["series"]) == "all" and len(week["series"]) == 3
    assert len(week["series"][0]["points"]) == 8  # seven days and today's bucket
    assert operator_client.get("/finance/charts.json?range=24h").json()["bucket"] == "hour"
    assert operator_client.get("/finance/charts.json?range=7d&bucket=hour").json()["bucket"] == "hour"
    html = operator_client.get("/finance/").content.decode()
    assert '<option value="day" selected>day</option>' in html and '<option value="7d" selected>7 days</option>' in html


def test_a_topic_can_be_picked_and_keeps_its_series_key(operator_client):
    earnings = Topic.objects.create(name="Earnings", slug="earnings", keywords=["profit"])
    Topic.objects.create(name="Layoffs", slug="layoffs", keywords=["layoffs"])
    picked = operator_client.get(f"/finance/charts.json?topic={earnings.pk}").json()
    assert [(s["key"], s["label"]) for s in picked["series"]] == [("all", "All documents"),
                                                                  (f"topic:{earnings.pk}", "Earnings")]
    for junk in ("nope", "99999", "１"):  # ignored: every topic, never an error
        assert len(operator_client.get("/finance/charts.json", {"topic": junk}).json()["series"]) == 3
    html = operator_client.get(f"/finance/?topic={earnings.pk}").content.decode()
    assert f'data-topic="{earnings.pk}"' in html and f'<option value="{earnings.pk}" selected>Earnings</option>' in html


def test_the_first_dashboard_load_names_the_model_without_loading_it(operator_client, sentiment_model):
    html = operator_client.get("/finance/").content.decode()
    assert ">v1<" in html and "No sentiment model is serving" not in html
    assert sentiment_cache._loaded is None  # the workers score; the web page only reads the registry


def test_a_neutral_score_that_rounds_to_zero_reads_0_00():
    document = Document(sentiment="neutral", score=-0.001, p_negative=0.3, p_neutral=0.4, p_positive=0.3)
    html = render_to_string("finance_sentiment/_sentiment.html", {"document": document})
    assert "neutral 0.00" in html and "-0.00" not in html


def test_console_forms_look_like_the_other_consoles(operator_client):
    rule = AlertRule.objects.create(name="Surge")
    html = operator_client.get(f"/finance/rules/{rule.pk}/").content.decode()
    assert '<label class="checkbox"><input type="checkbox" name="is_active"' in html
    assert "Is active:" not in html and "Name:</label>" not in html


def test_the_back_office_offers_no_add_that_cannot_work(admin_client):
    index = admin_client.get("/admin/").content.decode()
    for model in ("customer_service/assistantsettings", "finance_sentiment/ingestbatch", "finance_sentiment/alert"):
        assert f"/admin/{model}/add/" not in index, model
        assert admin_client.get(f"/admin/{model}/add/").status_code == 403, model
    # The settings' one row still opens from the list.
    assert admin_client.get("/admin/customer_service/assistantsettings/").status_code == 200
