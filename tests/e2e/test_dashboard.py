"""A person signs in, sees the dashboard, starts a job and watches its bar reach 100%."""
import re

import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import login

pytestmark = [pytest.mark.e2e, pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def test_admin_logs_in_and_watches_a_job_finish(page, live_server, admin_user, worker):
    login(page, live_server, admin_user.username, "pw-alice-admin")
    expect(page.locator("h1")).to_have_text("Dashboard")
    for app in ("Customer service", "Finance sentiment", "Recommendation"):
        expect(page.locator(".app-card h2", has_text=app)).to_be_visible()

    page.click("nav >> text=Jobs")
    page.click("text=Run encoder check")
    expect(page).to_have_url(re.compile(r"/jobs/[0-9a-f-]{36}/$"))
    bar = page.locator("#job-status [role=progressbar]")
    expect(bar).to_have_attribute("aria-valuenow", "100", timeout=90_000)
    expect(page.locator("#job-status .state")).to_have_text("Succeeded")
    expect(page.locator("#job-status")).to_contain_text("Texts per second")  # figures in words (issue 18)

    # The jobs list shows the same job, finished, with a full bar.
    page.click("nav >> text=Jobs")
    expect(page.locator("#job-rows tr").first.locator("[role=progressbar]")).to_have_attribute("aria-valuenow", "100")


def test_user_without_a_role_sees_nothing(page, live_server, outsider_user):
    login(page, live_server, outsider_user.username, "pw-nina-nobody")
    expect(page.locator("h1")).to_have_text("Not allowed")
    expect(page.locator("nav")).to_have_count(0)
