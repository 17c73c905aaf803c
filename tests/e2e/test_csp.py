"""Under the Content-Security-Policy the pages still work: a real browser visits the main pages
(the console, each app, the back office, the API docs, the chat widget's frame) and fails on any
violation it reports; the behaviour moved out of inline handlers (confirm before delete, submit on
change) still runs."""
from __future__ import annotations

import pytest
from django.urls import reverse
from playwright.sync_api import expect

from apps.customer_service.models import KBEntry, Site
from apps.customer_service.services.kb import EntryFields, kb_entry_create
from apps.customer_service.serving import assistant_reset
from tests.e2e.conftest import login

pytestmark = [pytest.mark.e2e, pytest.mark.slow, pytest.mark.django_db(transaction=True)]

# Runs in every frame before the page's own scripts; the browser fires the event for each refusal.
RECORD_VIOLATIONS = """
window.__cspViolations = [];
document.addEventListener("securitypolicyviolation", (event) => {
  window.__cspViolations.push(`${event.violatedDirective} refused ${event.blockedURI || "inline code"}`
                              + ` (${event.sourceFile}:${event.lineNumber})`);
});
"""

PAGES = [
    "home", "job_list", "registry", "control",
    "customer_service:index", "customer_service:kb_list", "customer_service:analytics",
    "customer_service:settings", "customer_service:site_list", "customer_service:conversation_list",
    "finance_sentiment:index", "finance_sentiment:document_list", "finance_sentiment:alert_list",
    "finance_sentiment:feed_list", "finance_sentiment:models", "finance_sentiment:upload",
    "recommendation:index", "recommendation:item_list", "recommendation:user_list",
    "admin:index", "admin:core_auditevent_changelist", "admin:core_job_changelist",
    "admin:axes_accessattempt_changelist", "admin:auth_user_changelist", "admin:auth_user_add",
    "api-docs",
]


@pytest.fixture
def watched_page(page):
    """The page, with every CSP violation (event or console message) of any of its frames recorded."""
    page.context.add_init_script(RECORD_VIOLATIONS)
    console = []
    page.on("console", lambda message: console.append(message.text)
            if "Content Security Policy" in message.text else None)

    def violations() -> list[str]:
        found = list(console)
        for frame in page.frames:
            found += frame.evaluate("window.__cspViolations || []")
        console.clear()
        return found

    page.csp_violations = violations
    return page


def test_main_pages_load_without_a_csp_violation(watched_page, live_server, django_user_model):
    page = watched_page
    django_user_model.objects.create_superuser("root", "root@example.com", "pw-root")
    page.goto(f"{live_server.url}/login/")
    assert page.csp_violations() == []
    login(page, live_server, "root", "pw-root")
    expect(page.locator("h1")).to_have_text("Dashboard")
    problems = {}
    for name in PAGES:
        response = page.goto(live_server.url + reverse(name))
        assert response.status == 200, (name, response.status)
        assert "content-security-policy" in response.headers, name
        page.wait_for_load_state("load")
        page.wait_for_timeout(200)  # deferred scripts, charts, htmx's first swap
        if found := page.csp_violations():
            problems[name] = found
    assert problems == {}
    # The API docs page really rendered (its script came from a URL, its style had the nonce).
    expect(page.locator(".swagger-ui .info .title")).to_contain_text("AI application suite API")


def test_confirm_and_auto_submit_work_without_inline_handlers(watched_page, live_server, admin_user):
    page = watched_page
    entry = kb_entry_create(fields=EntryFields.clean(title="Refunds", intent="get_refund", answer="Five days."),
                            questions=["refund please"], embed=False)
    login(page, live_server, admin_user.username, "pw-alice-admin")

    page.goto(f"{live_server.url}/customer-service/kb/")
    delete = page.locator(f"form[action='{reverse('customer_service:kb_entry_delete', args=[entry.pk])}'] button")
    page.once("dialog", lambda dialog: dialog.dismiss())
    delete.click()
    page.wait_for_timeout(300)
    assert KBEntry.objects.filter(pk=entry.pk).exists()  # said no: nothing sent
    messages = []
    page.once("dialog", lambda dialog: (messages.append(dialog.message), dialog.accept()))
    delete.click()
    page.wait_for_load_state("load")
    expect(page.locator("body")).not_to_contain_text("Five days.")
    assert messages == ["Delete this entry and its questions?"]
    assert not KBEntry.objects.filter(pk=entry.pk).exists()

    page.goto(f"{live_server.url}/finance/")
    page.select_option("select[name=bucket]", "hour")  # a week is drawn per day by default
    page.wait_for_url("**bucket=hour**")
    assert page.csp_violations() == []


def test_the_widget_frame_runs_under_the_policy_on_an_allowed_page(watched_page, live_server, admin_user,
                                                                  settings, tiny_encoder_path):
    settings.ML_BACKBONE = str(tiny_encoder_path)
    assistant_reset()
    page = watched_page
    site = Site.objects.create(name="Here", allowed_origins=live_server.url, greeting="Hi from the frame.")
    login(page, live_server, admin_user.username, "pw-alice-admin")
    page.goto(live_server.url + reverse("customer_service:site_try", args=[site.pk]))
    page.click("#ai-suite-chat-bubble")
    chat = page.frame_locator("#ai-suite-chat-frame")
    expect(chat.locator(".msg-assistant").first).to_contain_text("Hi from the frame.")
    assert page.csp_violations() == []
