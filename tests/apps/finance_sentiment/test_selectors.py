"""Finance's reads the console uses (apps/finance_sentiment/selectors.py), against the database:
topics (active only), the watchlist, rules, feeds, batches, labelled sets, and scored documents."""
from datetime import timedelta

import pytest
from django.utils import timezone

from apps.finance_sentiment import selectors
from apps.finance_sentiment.models import (
    AlertRule,
    Document,
    DocumentTicker,
    Feed,
    LabelledSet,
    Ticker,
    Topic,
)
from apps.finance_sentiment.selectors import DocumentFilters

pytestmark = pytest.mark.django_db


def _document(n: int, *, status=Document.Status.PENDING, label: str = "") -> Document:
    return Document.objects.create(text=f"document {n}", content_hash=f"hash-{n}", minhash=b"",
                                   published_at=timezone.now() - timedelta(hours=n), status=status, label=label)


def test_topic_get_and_choices_see_only_active_topics_when_asked():
    active = Topic.objects.create(name="Earnings", slug="earnings")
    paused = Topic.objects.create(name="Rates", slug="rates", is_active=False)
    assert selectors.topic_get(pk=paused.pk) == paused
    assert selectors.topic_get(pk=paused.pk, active_only=True) is None
    assert selectors.topic_get(pk=active.pk, active_only=True) == active
    assert selectors.topic_get(pk=paused.pk + 100) is None
    assert list(selectors.topic_choices()) == [active]
    assert [(t.name, t.n_documents) for t in selectors.topic_list()] == [("Earnings", 0), ("Rates", 0)]


def test_ticker_list_puts_the_watchlist_first_with_document_counts():
    acme = Ticker.objects.create(symbol="ACME")
    Ticker.objects.create(symbol="ZED")
    Ticker.objects.create(symbol="BETA", on_watchlist=False)
    DocumentTicker.objects.create(document=_document(1), ticker=acme)
    assert [(t.symbol, t.n_documents) for t in selectors.ticker_list()] == [("ACME", 1), ("ZED", 0), ("BETA", 0)]
    assert [t.symbol for t in selectors.watchlist_tickers()] == ["ACME", "ZED"]
    assert selectors.ticker_get(pk=acme.pk) == acme and selectors.ticker_get(pk=acme.pk + 100) is None


def test_document_list_scored_only_whatever_the_filters_status():
    scored = _document(1, status=Document.Status.SCORED)
    pending = _document(2)
    assert list(selectors.document_list()) == [scored, pending]  # newest first
    assert list(selectors.document_list(scored_only=True)) == [scored]
    pending_only = DocumentFilters(status=Document.Status.PENDING)
    assert list(selectors.document_list(filters=pending_only)) == [pending]
    assert list(selectors.document_list(filters=pending_only, scored_only=True)) == []


def test_labelled_documents_scores_and_alerts_of_a_document():
    document = _document(1, label="negative")
    _document(2)
    assert selectors.labelled_document_count() == 1
    assert list(selectors.document_score_list(document=document)) == []
    assert list(selectors.document_alert_list(document=document)) == []


def test_rules_feeds_batches_and_labelled_sets_are_none_when_missing():
    feed = Feed.objects.create(name="Wire", url="https://news.example.com/rss")
    Feed.objects.create(name="Agency", url="https://agency.example.com/rss")
    assert [f.name for f in selectors.feed_list()] == ["Agency", "Wire"]
    assert selectors.feed_get(pk=feed.pk) == feed and selectors.feed_get(pk=feed.pk + 100) is None
    assert selectors.rule_get(pk=1) is None and not AlertRule.objects.exists()
    assert list(selectors.rule_list()) == []
    assert selectors.batch_get(pk=1) is None
    assert selectors.labelled_set_get(pk=1) is None and not LabelledSet.objects.exists()
