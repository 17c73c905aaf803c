"""The demo content: topics, watchlist, a rule, a labelled set, a queued first training and a week
of news; seeding twice changes nothing."""
from io import StringIO

import pytest

from apps.core.models import Job
from apps.finance_sentiment.demo import LABELLED, TOPICS, seed_demo_content
from apps.finance_sentiment.models import AlertRule, Document, LabelledSet, Ticker, Topic

pytestmark = pytest.mark.django_db


def test_the_demo_seeds_once():
    out = StringIO()
    seed_demo_content(stdout=out)
    assert Topic.objects.count() == len(TOPICS) and Ticker.objects.count() == 5 and AlertRule.objects.count() == 1
    assert LabelledSet.objects.get().size == sum(map(len, LABELLED.values()))
    job = Job.objects.get(kind="core.train_classifier")
    assert job.scenario == "finance_sentiment.sentiment" and job.params == {"config": {"method": "head"}}
    documents = Document.objects.count()
    assert documents >= 900  # templated news: a few repeat a date and are dropped as duplicates
    assert Document.objects.filter(text__contains="redundancies").count() > 0
    seed_demo_content(stdout=StringIO())
    assert Document.objects.count() == documents and Job.objects.filter(kind="core.train_classifier").count() == 1
    # No model is active yet: no scoring job that could only fail; the documents wait for beat's sweep.
    assert "demo documents wait for the first model" in out.getvalue()
    assert not Job.objects.filter(kind="finance_sentiment.score_batch").exists()
    assert Document.objects.filter(status=Document.Status.PENDING).count() == documents
