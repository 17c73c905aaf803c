"""An admin retrains the recommender from its dashboard, watches the job in a real worker, then
explores: the models side by side in charts, a user's history beside their recommendations and
reasons, an item's similar items. The worker and the live server use the tiny random encoder."""
import re

import pytest
from playwright.sync_api import expect

from apps.recommendation import services, serving
from tests.apps.recommendation.conftest import shop_events, shop_items
from tests.conftest import run_worker
from tests.e2e.conftest import login

pytestmark = [pytest.mark.e2e, pytest.mark.slow, pytest.mark.worker, pytest.mark.django_db(transaction=True)]


def test_admin_retrains_and_explores_the_recommendations(page, live_server, admin_user, settings, tiny_encoder_path):
    settings.ML_BACKBONE = str(tiny_encoder_path)
    serving.clear_caches()
    services.items_upsert(items=shop_items(), start_embedding=False)
    services.interactions_record(events=shop_events())

    # The shop has 24 customers: enough for the activation policy once it asks for 10 test users.
    with run_worker(extra_env={"ML_BACKBONE": str(tiny_encoder_path), "ACTIVATION_MIN_EVAL_USERS": "10"}):
        login(page, live_server, admin_user.username, "pw-alice-admin")
        page.click("nav >> text=Recommendation")
        expect(page.locator("h1")).to_have_text("Recommendation")
        expect(page.locator("main")).to_contain_text("No recommender has been trained yet")
        page.click("text=Retrain now")
        expect(page).to_have_url(re.compile(r"/jobs/[0-9a-f-]{36}/$"))
        bar = page.locator("#job-status [role=progressbar]")
        expect(bar).to_have_attribute("aria-valuenow", "100", timeout=180_000)
        expect(page.locator("#job-status .state")).to_have_text("Succeeded")
        expect(page.locator("#job-status")).to_contain_text("trained and activated")

    page.click("nav >> text=Recommendation")
    expect(page.locator("#rec-models-chart")).to_be_visible()
    expect(page.locator("#rec-versions-chart")).to_be_visible()
    # Chart.js drew both charts (the page's scripts may still be running when the canvases show).
    page.wait_for_function("window.recommendationCharts && window.recommendationCharts.length === 2")
    expect(page.locator("#rec-model-table tbody tr")).to_have_count(5)
    expect(page.locator("#rec-model-table")).to_contain_text("Hybrid")

    page.click("#rec-users a >> nth=0")
    expect(page.locator("#rec-history tbody tr")).to_have_count(6)
    recommendations = page.locator("#rec-recommendations .rec-list li")
    expect(recommendations).to_have_count(10)
    expect(recommendations.first.locator(".reason")).to_contain_text("Because you")
    expect(page.locator("#rec-recommendations .state").first).to_have_text("Hybrid")  # the strategy in words

    page.fill("#rec-recommendations input[name=k]", "3")
    page.click("#rec-recommendations button[type=submit]")
    expect(recommendations).to_have_count(3)

    recommendations.first.locator("a").click()
    expect(page.locator("#rec-similar .rec-list li")).to_have_count(10)
    expect(page.locator("#rec-similar .reason").first).not_to_be_empty()
