"""An operator watches the finance dashboard: documents posted through the API are scored by a
real worker, a negative surge opens an alert that appears on the dashboard by itself, and the
operator acknowledges it and opens it."""
import json
import urllib.request

import pytest
from playwright.sync_api import expect

from apps.finance_sentiment.models import AlertRule, Document
from apps.finance_sentiment.services.keys import api_key_create
from apps.finance_sentiment.services.trends import deltas_add, trends_apply
from tests.apps.finance_sentiment.conftest import (  # noqa: F401 - fixtures
    at,
    sentence,
    sentiment_model,
    tiny_backbone,
    tiny_sentiment_folder,
    topic,
)
from tests.conftest import run_worker
from tests.e2e.conftest import login

pytestmark = [pytest.mark.e2e, pytest.mark.worker, pytest.mark.slow, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def scoring_worker(transactional_db, tiny_encoder_path):
    with run_worker(queues="inference", extra_env={"ML_BACKBONE": str(tiny_encoder_path), "ML_DEVICE": "cpu"}) as process:
        yield process


def test_an_operator_sees_a_surge_alert_appear_and_acknowledges_it(page, live_server, operator_user, sentiment_model,
                                                                    topic, scoring_worker):
    AlertRule.objects.create(name="Earnings surge", topic=topic, min_volume=10, window=24)
    deltas: dict = {}
    for hour in range(48):  # two calm days: 10% negative
        for n in range(20):
            label = "negative" if n < 2 else "neutral"
            deltas_add(deltas, series=["all", f"topic:{topic.pk}"], published_at=at(0, hour, n), label=label,
                       score=-0.6 if label == "negative" else 0.0, p_negative=1.0 if label == "negative" else 0.0)
    trends_apply(deltas=deltas)

    login(page, live_server, operator_user.username, "pw-oscar-operator")
    page.goto(f"{live_server.url}/finance/")
    expect(page.locator("h1")).to_have_text("Finance sentiment")
    expect(page.locator("#fin-alert-rows")).to_contain_text("No open alert")

    _, key = api_key_create(name="e2e")
    items = [{"text": sentence("negative", n), "published_at": at(2, 0, n).isoformat()} for n in range(9)]
    items += [{"text": sentence("neutral", 100 + n), "published_at": at(2, 0, 30 + n).isoformat()} for n in range(3)]
    request = urllib.request.Request(f"{live_server.url}/api/v1/finance/documents/",
                                     data=json.dumps({"documents": items}).encode(), method="POST",
                                     headers={"Content-Type": "application/json", "Authorization": f"Bearer {key}"})
    with urllib.request.urlopen(request, timeout=30) as response:
        assert response.status == 202 and json.loads(response.read())["accepted"] == 12

    # The worker scores the batch and opens the alert; the dashboard's alert list refreshes itself.
    row = page.locator("#fin-alert-rows tr.fin-alert-open")
    expect(row).to_contain_text("vs expected 10% in the hour from 2024-03-03 00:00 UTC", timeout=90_000)
    negative = Document.objects.filter(sentiment="negative").count()
    assert negative >= 8  # the tiny model reads its own words reliably
    expect(page.locator(".fin-nav .fin-count")).to_have_count(0)  # the nav counts on the next page load
    row.get_by_role("button", name="Acknowledge").click()
    expect(page.locator("#fin-alert-rows tr").first).to_contain_text("acknowledged by oscar-operator")

    page.locator("#fin-alert-rows a", has_text="Earnings: negative share").click()
    expect(page.locator("h1")).to_have_text("Earnings: negative sentiment surge")
    expect(page.locator(".facts")).to_contain_text(f"negative ({negative} of 12 documents)")
    drivers = page.locator("section", has_text="Documents that drove it").locator("tbody tr")
    expect(drivers).to_have_count(negative)
    expect(page.locator("#fin-alert-chart")).to_be_visible()
    drivers.first.locator("a").click()
    expect(page.locator("#explanation")).to_be_visible()
    expect(page.locator("table.fin-probabilities")).to_contain_text("negative")
