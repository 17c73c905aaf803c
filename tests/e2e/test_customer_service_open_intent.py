"""Issue 16 through the widget, on the demo setup (its knowledge base, its site, its first intent
model trained by the suite's job with the bundled encoder): the five messages a customer tried.

 - "do you sell bicycles?": not answered from a template; says what it can help with, offers a person;
 - "what is your phone number?": a sensible answer (the contact entry), not the track-order one;
 - "hello": a greeting back, not handed over;
 - an in-scope question: answered from its entry;
 - "my package arrived damaged, I need a person please": handed over;
and the admin's analytics count them, and the settings page draws the open-intent threshold on
its calibration curve.
"""
from __future__ import annotations

from io import StringIO

import pytest
from playwright.sync_api import expect

from apps.core.models import ModelVersion
from apps.customer_service.models import Conversation, Message, Site
from apps.customer_service.serving import SCENARIO, assistant_reset
from tests.e2e.conftest import login
from tests.e2e.test_customer_service_widget import other_origin_page  # noqa: F401 - a fixture

pytestmark = [pytest.mark.e2e, pytest.mark.slow, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def demo_site(settings):
    """The demo content, and its first intent model trained in this process as a worker would."""
    from apps.core.services.jobs import job_create, job_run
    from apps.core.tasks import train_classifier_job
    from apps.customer_service.demo import seed_demo_content

    assistant_reset()
    seed_demo_content(stdout=StringIO())
    job = job_create(kind=train_classifier_job.name, title="Train the demo's intent model", scenario=SCENARIO,
                     params={"activate": "always"})
    job_run(job_id=job.pk, work=train_classifier_job.work, worker="e2e")
    job.refresh_from_db()
    assert job.state == "succeeded", job.error
    assert ModelVersion.objects.get(scenario=SCENARIO, is_active=True).metrics["open_intent_calibration_n"] > 0
    yield Site.objects.get(name="Demo shop")
    assistant_reset()


def test_the_demo_answers_the_five_messages_sensibly(browser, page, live_server, demo_site, other_origin_page,
                                                     admin_user):
    shop_origin = f"http://127.0.0.1:{other_origin_page.server_address[1]}"
    demo_site.allowed_origins += f"\n{shop_origin}"
    demo_site.save()
    other_origin_page.RequestHandlerClass.html = (
        "<!doctype html><html><head><title>Northwind Outdoor</title></head><body><h1>Northwind Outdoor</h1>"
        f'<script src="{live_server.url}/static/widget/loader.js" data-site-key="{demo_site.public_key}" async>'
        "</script></body></html>").encode()
    page.goto(shop_origin + "/")
    page.click("#ai-suite-chat-bubble")
    chat = page.frame_locator("#ai-suite-chat-frame")
    replies = chat.locator(".msg-assistant")
    expect(replies.first).to_contain_text("Hello! How can I help you today?")  # the site's greeting

    def ask(text: str, n: int):
        chat.locator("#chat-input").fill(text)
        chat.locator("#chat-input").press("Enter")
        reply = replies.nth(n)
        expect(reply).to_be_visible()
        return reply

    # "hello" was handed to a person (contact_human_agent at 0.91): now a greeting back.
    hello = ask("hello", 1)
    expect(hello).to_contain_text("Hello! How can I help you today?")
    expect(hello).to_have_attribute("data-source", "smalltalk")
    expect(chat.locator("#chat-status")).not_to_contain_text("A colleague will join")

    # "do you sell bicycles?" got the delivery answer at 0.85: now what the shop can help with, and a person offered.
    bicycles = ask("do you sell bicycles?", 2)
    expect(bicycles).to_have_attribute("data-source", "open")
    expect(bicycles).to_contain_text("not something I can help with here. I can help with “")
    expect(bicycles).to_contain_text("Would you like me to connect you with a person?")
    expect(bicycles.locator("button.msg-person")).to_have_text("Talk to a person")
    expect(bicycles).not_to_contain_text("Standard delivery takes")
    expect(bicycles.locator(".msg-sources")).to_have_count(0)  # no knowledge-base entry cited

    # "what is your phone number?" got the track-order answer at 0.61: now the contact entry.
    phone = ask("what is your phone number?", 3)
    expect(phone).to_contain_text("+44 20 7946 0000")
    expect(phone).not_to_contain_text("Order History")

    # A question the knowledge base covers, in words it does not hold.
    returns = ask("can I send back a jacket that doesn't fit?", 4)
    expect(returns).to_contain_text("You have 30 days to return unused items.")
    expect(returns.locator(".msg-sources")).to_have_text("From: Return an item")

    # "my package arrived damaged, I need a person please" got track-order at 0.98: now a person.
    damaged = ask("my package arrived damaged, I need a person please", 5)
    expect(damaged).to_contain_text("I have asked a colleague to join this conversation.")
    expect(chat.locator("#chat-status")).to_contain_text("A colleague will join shortly")

    conversation = Conversation.objects.get(site=demo_site)
    assert conversation.status == "waiting" and "asked for a person" in conversation.handoff_reason
    sources = list(conversation.messages.filter(role="assistant").order_by("id").values_list("source", flat=True))
    assert sources[:2] == ["smalltalk", "open"] and sources[4] == "handoff"
    assert sources[2] in ("template", "retrieval") and sources[3] in ("template", "retrieval")
    # The bicycle question waits in the review queue for an operator to add an entry.
    bicycle_question = Message.objects.get(conversation=conversation, text="do you sell bicycles?")
    assert (bicycle_question.needs_review, bicycle_question.review_reason) == (True, "open")
    assert not Message.objects.get(conversation=conversation, text="hello").needs_review

    # The admin sees them counted, and the open-intent threshold drawn on its calibration curve.
    console = browser.new_context(viewport={"width": 1280, "height": 900})
    admin = console.new_page()
    admin.set_default_timeout(30_000)
    login(admin, live_server, admin_user.username, "pw-alice-admin")
    admin.goto(f"{live_server.url}/customer-service/analytics/")
    expect(admin.locator("#cs-kpi-open .figure")).to_have_text("1")
    expect(admin.locator("#cs-kpi-smalltalk .figure")).to_have_text("1")
    admin.goto(f"{live_server.url}/customer-service/settings/")
    expect(admin.locator("#cs-open-threshold")).to_be_visible()
    drawn = admin.wait_for_function(
        "() => { const c = document.querySelector('[data-cs-chart=open-calibration]');"
        " const chart = c && Chart.getChart(c); return chart && chart.data.datasets.map(d => d.data.length); }")
    curve, threshold_line, target_line = drawn.json_value()
    assert curve > 100 and threshold_line == 2 and target_line == 2
    console.close()
